"""``arraylake repo tree|history|branches|tags``: what is inside a repo (Icechunk or V1), read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypedDict

import typer
from rich.markup import escape
from rich.tree import Tree

from arraylake._lazy import lazy_module
from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.fill_value import readable_attributes
from arraylake.cli.params import Json, RepoName, want_json

if TYPE_CHECKING:
    import icechunk
    import zarr
    from zarr.abc.store import Store

    from arraylake.repos.v1 import Repo as V1Repo
else:
    icechunk = lazy_module("icechunk")
    zarr = lazy_module("zarr")

app = ArraylakeTyper()


def open_repo(name: str) -> icechunk.Repository | V1Repo:
    """The repo, for reading: an Icechunk repository, or a V1 repo checked out at ``main``."""
    repo = state.client().get_repo(name, read_only=True)
    if isinstance(repo, icechunk.Repository):
        return repo
    from arraylake.repos.v1 import Repo as V1Repo

    assert isinstance(repo, V1Repo)
    return repo


def _v1_checkout(repo: V1Repo, ref: str) -> str | None:
    """Check out ``ref`` (branch, tag or commit id) for reading; its commit (``None``: nothing yet)."""
    return repo.checkout(ref, for_writing=False)


class RefArgs(TypedDict, total=False):
    """One of the keyword arguments of ``Repository.readonly_session``/``ancestry`` that name a ref."""

    branch: str
    tag: str
    snapshot_id: str


def ref_of(repo: icechunk.Repository, name: str, ref: str) -> RefArgs:
    """Keyword arguments that name ``ref``: a branch, else a tag, else a snapshot id."""
    if ref in repo.list_branches():
        return {"branch": ref}
    if ref in repo.list_tags():
        return {"tag": ref}
    try:
        next(iter(repo.ancestry(snapshot_id=ref)))
    except (icechunk.IcechunkError, ValueError, StopIteration):
        raise ValueError(f"{name} has no branch, tag or snapshot {ref!r}") from None
    return {"snapshot_id": ref}


def describe(node: zarr.Group | zarr.Array, path: str, depth: int | None) -> dict[str, Any]:
    """A group or array as plain data; groups list their members down to ``depth`` more levels."""
    described: dict[str, Any] = {"path": path, "attributes": dict(node.attrs)}
    if isinstance(node, zarr.Array):
        described.update(
            kind="array",
            shape=list(node.shape),
            chunks=list(node.chunks),
            dtype=str(node.dtype),
            attributes=readable_attributes(node.attrs, node.dtype.kind),
        )
        shards = getattr(node, "shards", None)
        if shards:
            described["shards"] = list(shards)
        return described
    described["kind"] = "group"
    if depth is None or depth > 0:
        children = sorted(node.members(), key=lambda item: item[0])
        described["members"] = [
            describe(child, f"{path.rstrip('/')}/{key}", None if depth is None else depth - 1)
            for key, child in children
        ]
    return described


def _label(node: dict[str, Any]) -> str:
    name = escape(node["path"].rsplit("/", 1)[-1] or "/")
    attrs = f"  [dim]{escape(output.cell(node['attributes']))}[/dim]" if node["attributes"] else ""
    if node["kind"] == "group":
        return f"[bold blue]{name}/[/bold blue]{attrs}"
    shape = " x ".join(str(n) for n in node["shape"]) or "scalar"
    chunks = " x ".join(str(n) for n in node["chunks"])
    return f"[bold]{name}[/bold]  {escape(node['dtype'])}  ({shape})  chunks ({chunks}){attrs}"


def _grow(tree: Tree, node: dict[str, Any]) -> None:
    for child in node.get("members", []):
        _grow(tree.add(_label(child)), child)


@app.command()
def tree(
    name: RepoName,
    ref: Annotated[str, typer.Option("--ref", "-r", help="Branch, tag or snapshot id.")] = "main",
    depth: Annotated[
        int | None, typer.Option("--depth", help="How many levels to show; default: all.", min=0)
    ] = None,
    json_output: Json = False,
) -> None:
    """Groups and arrays (shape, chunks, dtype, attributes) at a branch, tag or snapshot.

    In a V1 repo, `--ref` takes a commit id where an Icechunk repo takes a snapshot id. A repo that
    nothing has been written to yet says so (`"root": null` in the JSON).
    """
    repo = open_repo(name)
    store: Store
    at: str | None
    if isinstance(repo, icechunk.Repository):
        session = repo.readonly_session(**ref_of(repo, name, ref))
        store, at = session.store, session.snapshot_id
    else:
        at = _v1_checkout(repo, ref)
        store = repo.store
    try:
        root: dict[str, Any] | None = describe(zarr.open_group(store, mode="r"), "/", depth)
    except zarr.errors.GroupNotFoundError:
        root = None
    if root is not None and at is None:
        root = None  # a V1 repo without commits: its root group is implied, not written
    if want_json(json_output):
        output.print_json({"repo": name, "ref": ref, "snapshot_id": at, "root": root})
        return
    if root is None:
        output.say(f"{escape(name)} @ {escape(ref)} has no groups or arrays yet.")
        return
    attrs = f"  [dim]{escape(output.cell(root['attributes']))}[/dim]" if root["attributes"] else ""
    top = Tree(f"[bold]{escape(name)}[/bold] @ {escape(ref)}{attrs}")
    _grow(top, root)
    output.show(top)


@app.command()
def history(
    name: RepoName,
    branch: Annotated[
        str, typer.Option("--branch", "-b", help="Branch (or tag) whose history to show.")
    ] = "main",
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most this many commits; 0 for all.", min=0)
    ] = 50,
    json_output: Json = False,
) -> None:
    """Commits, newest first: snapshot id (commit id of a V1 repo), time, author, message."""
    repo = open_repo(name)
    if isinstance(repo, icechunk.Repository):
        commits = _icechunk_history(repo, name, branch, limit)
    else:
        commits = _v1_history(repo, branch, limit)
    if want_json(json_output):
        output.print_json(commits)
        return
    output.table(
        ["Snapshot", "Time (UTC)", "Author", "Message"],
        [(c["id"], c["written_at"], _author(c), c["message"]) for c in commits],
        title=f"History of {name} @ {branch}",
    )


def _icechunk_history(repo: icechunk.Repository, name: str, branch: str, limit: int) -> list[dict[str, Any]]:
    ref = ref_of(repo, name, branch)
    commits: list[dict[str, Any]] = []
    for snapshot in repo.ancestry(**ref):
        if limit and len(commits) == limit:
            break
        meta = snapshot.metadata or {}
        commits.append(
            {
                "id": snapshot.id,
                "written_at": snapshot.written_at,
                "author_name": meta.get("author_name"),
                "author_email": meta.get("author_email"),
                "message": snapshot.message,
                "parent_id": snapshot.parent_id,
                "metadata": meta,
            }
        )
    return commits


def _v1_history(repo: V1Repo, branch: str, limit: int) -> list[dict[str, Any]]:
    _v1_checkout(repo, branch)
    commits: list[dict[str, Any]] = []
    for commit in repo.commit_log:
        if limit and len(commits) == limit:
            break
        commits.append(
            {
                "id": commit.id,
                "written_at": commit.commit_time,
                "author_name": commit.author_name,
                "author_email": commit.author_email,
                "message": commit.message,
                "parent_id": commit.parent_commit,
                "metadata": {},
            }
        )
    return commits


def _author(commit: dict[str, Any]) -> str:
    name, email = commit["author_name"], commit["author_email"]
    if name and email:
        return f"{name} <{email}>"
    return name or email or ""


@app.command()
def branches(name: RepoName, json_output: Json = False) -> None:
    """Branches and the snapshot (commit, in a V1 repo) each points at."""
    repo = open_repo(name)
    if isinstance(repo, icechunk.Repository):
        found = {b: repo.lookup_branch(b) for b in sorted(repo.list_branches())}
    else:
        found = {b.id: b.commit_id for b in sorted(repo.branches, key=lambda b: b.id)}
    if want_json(json_output):
        output.print_json([{"name": b, "snapshot_id": s} for b, s in found.items()])
        return
    output.table(["Branch", "Snapshot"], found.items(), title=f"Branches of {name}")


@app.command()
def tags(name: RepoName, json_output: Json = False) -> None:
    """Tags and the snapshot (commit, in a V1 repo) each points at."""
    repo = open_repo(name)
    if isinstance(repo, icechunk.Repository):
        found = {t: repo.lookup_tag(t) for t in sorted(repo.list_tags())}
    else:
        found = {t.label: t.commit.id for t in sorted(repo.tags, key=lambda t: t.label)}
    if want_json(json_output):
        output.print_json([{"name": t, "snapshot_id": s} for t, s in found.items()])
        return
    output.table(["Tag", "Snapshot"], found.items(), title=f"Tags of {name}")
