"""``arraylake bucket ...``: bucket configs, the places where an org's repos keep their data."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, Org, Yes, want_json
from arraylake.types import BucketResponse, Platform

app = ArraylakeTyper(
    name="bucket",
    help="Bucket configs: where an org's repos keep their data (the buckets themselves are not touched).\n\n"
    "Locations: `file://NAME[/prefix]` (a directory of the service), `s3://bucket[/prefix]` "
    "(with `--extra region_name=...`, or `--extra endpoint_url=...` for S3-compatible stores), "
    "`gs://bucket[/prefix]`, `az://container[/prefix]`.",
)

Nickname = Annotated[str, typer.Argument(metavar="NICKNAME", help="The bucket config's nickname.")]
_SCHEMES = {Platform.LOCAL: "file", Platform.GS: "gs", Platform.AZURE: "az"}


def location(bucket: BucketResponse) -> str:
    """The bucket config as a URI, e.g. ``s3://bucket/prefix``."""
    uri = f"{_SCHEMES.get(bucket.platform, 's3')}://{bucket.name}"
    return f"{uri}/{bucket.prefix}" if bucket.prefix else uri


def _endpoint(bucket: BucketResponse) -> str:
    return str(bucket.extra_config.get("endpoint_url", ""))


@app.command("list")
def list_buckets(org: Org, json_output: Json = False) -> None:
    """The org's bucket configs; `*` marks the default for new repos."""
    found = state.client().list_bucket_configs(org)
    if want_json(json_output):
        output.print_json(found)
        return
    output.table(
        ["Nickname", "Platform", "Location", "Endpoint", "Auth", "Default"],
        [
            (b.nickname, b.platform, location(b), _endpoint(b), b.auth_method, "*" if b.is_default else "")
            for b in found
        ],
        title=f"Bucket configs of {org}",
    )


def _auth_config(items: list[str] | None) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs; a KEY alone is asked for without echo (for secrets)."""
    if not items:
        return None
    auth: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            auth[key.strip()] = value  # as typed: the service reads numbers from strings
        else:
            auth[item.strip()] = typer.prompt(item.strip(), hide_input=True, err=True)
    auth.setdefault("method", "anonymous")
    return auth


@app.command()
def create(
    org: Org,
    nickname: Nickname,
    uri: Annotated[
        str, typer.Argument(metavar="URI", help="Where: s3://bucket/prefix, gs://..., az://..., file://...")
    ],
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--extra",
            "-e",
            metavar="KEY=VALUE",
            help="Platform settings (repeatable): region_name, endpoint_url, use_ssl, force_path_style.",
        ),
    ] = None,
    auth: Annotated[
        list[str] | None,
        typer.Option(
            "--auth",
            "-a",
            metavar="KEY[=VALUE]",
            help="Credentials (repeatable), e.g. `method=hmac access_key_id=... secret_access_key`; "
            "a KEY without a value is asked for without echo. Default: anonymous.",
        ),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Make it the org's default for new repos.")
    ] = False,
    json_output: Json = False,
) -> None:
    """Create a bucket config (this does not create the bucket itself)."""
    client = state.client()
    extra_config = dict(state.parse_pair(item, "--extra") for item in extra) if extra else None
    created = client.create_bucket_config(
        org=org, nickname=nickname, uri=uri, extra_config=extra_config, auth_config=_auth_config(auth)
    )
    if default:
        client.set_default_bucket_config(org=org, nickname=created.nickname)
        created = client.get_bucket_config(org=org, nickname=created.nickname)
    if want_json(json_output):
        output.print_json(created)
        return
    suffix = " (the org's default)" if created.is_default else ""
    output.say(f"Created bucket config [bold]{created.nickname}[/bold]: {location(created)}{suffix}.")


@app.command()
def info(org: Org, nickname: Nickname, json_output: Json = False) -> None:
    """A bucket config and the repos that keep their data in it."""
    client = state.client()
    bucket = client.get_bucket_config(org=org, nickname=nickname)
    repos = client.list_repos_for_bucket_config(org=org, nickname=nickname)
    if want_json(json_output):
        output.print_json({**output.jsonable(bucket), "repos": [r.full_name for r in repos]})
        return
    auth = output.jsonable(bucket.auth_config) if bucket.auth_config else {"method": "anonymous"}
    output.details(
        {
            "Nickname": bucket.nickname,
            "Id": bucket.id,
            "Platform": bucket.platform,
            "Location": location(bucket),
            "Extra config": bucket.extra_config,
            "Auth": auth,
            "Default": "yes" if bucket.is_default else "no",
            "Created": f"{output.when(bucket.created)} UTC",
            "Repos": ", ".join(r.name for r in repos) or "none",
        }
    )


@app.command()
def delete(org: Org, nickname: Nickname, yes: Yes = False) -> None:
    """Delete a bucket config (refused while repos use it; the bucket's data is not touched)."""
    if not yes:
        typer.confirm(f"Delete bucket config {nickname} of {org}?", abort=True, err=True)
    state.client().delete_bucket_config(org=org, nickname=nickname, imsure=True, imreallysure=True)
    output.say(f"Deleted bucket config [bold]{nickname}[/bold].")


@app.command("set-default")
def set_default(org: Org, nickname: Nickname) -> None:
    """Make a bucket config the org's default for new repos."""
    state.client().set_default_bucket_config(org=org, nickname=nickname)
    output.say(f"[bold]{nickname}[/bold] is now the default bucket config of {org}.")
