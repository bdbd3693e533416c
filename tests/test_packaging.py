"""The client stands alone: it never imports the service, and works without the server's dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "arraylake"
SERVER_ONLY = [
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "pydantic_settings",
    "cryptography",
]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_client_modules_never_import_the_server() -> None:
    # The data plane (extra `compute`) serves HTTP itself, with FastAPI under xpublish: it is checked below.
    client_files = [
        p
        for p in PACKAGE.rglob("*.py")
        if not {"server", "dataplane"} & set(p.relative_to(PACKAGE).parts) and p.name != "server.py"
    ]
    assert len(client_files) > 5
    for path in client_files:
        offending = {
            m
            for m in imported_modules(path)
            if m.startswith("arraylake.server") or m.split(".")[0] in SERVER_ONLY
        }
        assert not offending, f"{path.relative_to(PACKAGE)} imports {offending}"


def test_data_plane_never_imports_the_service() -> None:
    """The data plane is stateless: it reaches the catalog only through the service's HTTP API, so that any
    number of its processes can run on other machines."""
    files = list((PACKAGE / "dataplane").rglob("*.py"))
    assert len(files) > 5
    for path in files:
        offending = {m for m in imported_modules(path) if m.startswith("arraylake.server")}
        assert not offending, f"{path.relative_to(PACKAGE)} imports {offending}"


def test_import_arraylake_without_server_dependencies() -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in SERVER_ONLY)
    code = f"import sys; {blocked}; import arraylake; from arraylake import Client, AsyncClient"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    cli = subprocess.run(
        [sys.executable, "-c", f"import sys; {blocked}; import arraylake.cli.main"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr


def test_compute_clients_need_no_server_dependencies() -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in SERVER_ONLY)
    code = (
        f"import sys; {blocked}; from arraylake import Client; from arraylake.compute import ComputeClient; "
        "assert isinstance(Client('http://127.0.0.1:9', token='ema_x').get_services('org'), ComputeClient)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_service_runs_without_the_compute_extra() -> None:
    """The protocol libraries (~1 GB) are the data plane's: the service only starts its processes."""
    blocked = "; ".join(
        f"sys.modules[{name!r}] = None"
        for name in (
            "xpublish",
            "xpublish_wms",
            "xpublish_tiles",
            "xpublish_zarr",
            "cf_xarray",
            "shapely",
            "numba",
        )
    )
    code = f"import sys; {blocked}; from arraylake.server.app import create_app; create_app()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
