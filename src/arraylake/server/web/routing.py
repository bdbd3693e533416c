"""The web app's routes: errors become pages (or htmx fragments), a missing sign-in a trip to sign in."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from arraylake.server.context import AppContext
from arraylake.server.errors import ServiceError
from arraylake.server.web.rendering import is_htmx, render
from arraylake.server.web.viewer import SignInNeeded, current_viewer

TITLES = {
    400: "Bad request",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Check your input",
    424: "Storage refused",
    502: "Storage unavailable",
    503: "Service unavailable",
}


def _validation_text(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "input"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is not valid."


async def error_page(request: Request, status: int, text: str) -> Response:
    """The page that says what went wrong, in the policy's or the domain's own words."""
    ctx: AppContext = request.app.state.ctx
    viewer = await current_viewer(request, ctx)
    title = TITLES.get(status, "Something went wrong")
    template = "app/_error_fragment.html" if is_htmx(request) else "app/error.html"
    headers = {"hx-reswap": "innerHTML", "hx-retarget": "#flash"} if is_htmx(request) else None
    return render(
        request, viewer, template, status=status, headers=headers, title=title, text=text, code=status
    )


class PageRoute(APIRoute):
    """A route of the web app: a service error renders the error page with its status and message; a
    browser that is not signed in goes to sign in (htmx asks the browser to go there)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except SignInNeeded as needed:
                target = f"/login?next={quote(needed.back_to)}"
                if is_htmx(request):
                    return Response(status_code=200, headers={"hx-redirect": target})
                return RedirectResponse(target, status_code=303)
            except ServiceError as exc:
                return await error_page(request, exc.status_code, str(exc.detail))
            except RequestValidationError as exc:
                return await error_page(request, 422, _validation_text(exc))

        return page_handler


def pages_router(**kwargs: Any) -> APIRouter:
    """A router for pages of the web app (not in the API's schema)."""
    return APIRouter(route_class=PageRoute, include_in_schema=False, **kwargs)
