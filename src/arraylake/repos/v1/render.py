"""What V1 repos show people: commit logs, session status and trees, in a terminal (rich) or notebook."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arraylake.types.v1 import Commit
from arraylake.types.v1 import Tree as TreeModel

if TYPE_CHECKING:
    from rich.console import RenderableType

    from arraylake.repos.v1.sessions import LocalSession


@dataclass
class CommitData:
    """The repo's commits by id, and the commit each tag and branch points at."""

    commits: dict[str, Commit] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def refs_of(self, commit_id: str) -> list[str]:
        """Branch and tag names at a commit (branches first)."""
        names = [f"branch: {b}" for b, c in sorted(self.branches.items()) if c == commit_id]
        return names + [f"tag: {t}" for t, c in sorted(self.tags.items()) if c == commit_id]


def _author(commit: Commit) -> str:
    return f"{commit.author_name} <{commit.author_email}>" if commit.author_name else commit.author_email


@dataclass
class CommitLog:
    """The commits from ``commit_id`` back to the first, newest first; iterate, or show it."""

    repo_name: str
    commit_id: str | None
    commit_data: CommitData

    def __iter__(self) -> Iterator[Commit]:
        current = self.commit_id
        while current is not None:
            commit = self.commit_data.commits.get(current)
            if commit is None:
                return
            yield commit
            current = commit.parent_commit

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        parts: list[Any] = []
        for commit in self:
            head = Text(f"commit {commit.id}", style="bold yellow")
            refs = self.commit_data.refs_of(commit.id)
            if refs:
                head.append(f" ({', '.join(refs)})", style="bold cyan")
            parts += [
                head,
                Text(f"Author: {_author(commit)}"),
                Text(f"Date:   {commit.commit_time.isoformat()}"),
                Text(""),
                Text(f"    {commit.message}"),
                Text(""),
            ]
        if not parts:
            parts.append(Text(f"{self.repo_name} has no commits yet", style="italic"))
        return Group(*parts)

    def rich_output(self) -> None:
        """Print the log to the terminal."""
        from rich.console import Console

        Console().print(self)

    def _repr_html_(self) -> str:
        rows = []
        for commit in self:
            refs = "".join(
                f'<span style="border:1px solid;border-radius:3px;padding:0 3px;margin-left:4px">'
                f"{html.escape(ref)}</span>"
                for ref in self.commit_data.refs_of(commit.id)
            )
            rows.append(
                f"<tr><td><code>{commit.id}</code>{refs}</td><td>{html.escape(_author(commit))}</td>"
                f"<td>{commit.commit_time.isoformat()}</td><td>{html.escape(commit.message)}</td></tr>"
            )
        if not rows:
            return f"<p><i>{html.escape(self.repo_name)} has no commits yet</i></p>"
        head = "<tr><th>Commit</th><th>Author</th><th>Date</th><th>Message</th></tr>"
        return f"<table>{head}{''.join(rows)}</table>"


@dataclass
class SessionStatus:
    """The paths a session changed, as ``(path, deleted)`` pairs."""

    repo_name: str
    session: LocalSession
    modified_paths: list[tuple[str, bool]]

    def _title(self) -> str:
        s = self.session
        return f"{self.repo_name}, session {s.id} on branch {s.branch} at {s.base_commit}"

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        lines: list[Any] = [Text(self._title(), style="bold")]
        if not self.modified_paths:
            lines.append(Text("no changes in this session", style="italic"))
        for path, deleted in self.modified_paths:
            lines.append(
                Text(f"  {'deleted' if deleted else 'modified'}: {path}", style="red" if deleted else "green")
            )
        return Group(*lines)

    def rich_output(self) -> None:
        """Print the status to the terminal."""
        from rich.console import Console

        Console().print(self)

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li>{'deleted' if deleted else 'modified'}: <code>{html.escape(path)}</code></li>"
            for path, deleted in self.modified_paths
        )
        body = f"<ul>{items}</ul>" if items else "<p><i>no changes in this session</i></p>"
        return f"<p><b>{html.escape(self._title())}</b></p>{body}"


def _array_label(name: str, meta: dict[str, Any]) -> str:
    shape = tuple(meta.get("shape") or ())
    dtype = meta.get("data_type")
    if isinstance(dtype, dict):
        dtype = dtype.get("type", "object")
    return f"🇦 {name} {shape} {dtype}"


class Tree:
    """A group's hierarchy: sub-groups (📁), arrays with shape and dtype, and attributes."""

    def __init__(self, model: TreeModel):
        self.model = model

    @property
    def trees(self) -> dict[str, Tree]:
        return {name: Tree(sub) for name, sub in self.model.trees.items()}

    @property
    def arrays(self) -> dict[str, dict[str, Any]]:
        return self.model.arrays

    @property
    def attributes(self) -> dict[str, Any]:
        return self.model.attributes

    def _fill(self, node: Any) -> None:
        for name, sub in sorted(self.model.trees.items()):
            Tree(sub)._fill(node.add(f"📁 {name}"))
        for name, meta in sorted(self.model.arrays.items()):
            node.add(_array_label(name, meta))

    def __rich__(self) -> RenderableType:
        from rich.tree import Tree as RichTree

        root = RichTree("📁 /")
        self._fill(root)
        return root

    def _lines(self, indent: str = "") -> list[str]:
        lines = []
        for name, sub in sorted(self.model.trees.items()):
            lines.append(f"{indent}📁 {name}")
            lines += Tree(sub)._lines(indent + "  ")
        lines += [f"{indent}{_array_label(name, meta)}" for name, meta in sorted(self.model.arrays.items())]
        return lines

    def __repr__(self) -> str:
        return "\n".join(["📁 /", *self._lines("  ")])

    def _repr_html_(self) -> str:
        def items(tree: Tree) -> str:
            parts = [
                f"<li>📁 {html.escape(name)}<ul>{items(Tree(sub))}</ul></li>"
                for name, sub in sorted(tree.model.trees.items())
            ]
            parts += [
                f"<li>{html.escape(_array_label(n, m))}</li>" for n, m in sorted(tree.model.arrays.items())
            ]
            return "".join(parts)

        return f"<ul><li>📁 /<ul>{items(self)}</ul></li></ul>"
