"""A deployment's log: a bounded ring of two files on disk, in the kubelet line format.

``{data_dir}/compute/logs/{service_id}/current.log`` grows to :data:`FILE_BYTES`, then becomes
``previous.log`` (replacing the older one): at most twice that is kept, and every service process can read
it. A line is ``"<RFC3339Nano time> <stdout|stderr> <F|P> <message>"``; ``P`` marks a piece of a line
longer than :data:`LINE_BYTES` whose rest follows. The supervisor appends the deployment's own output and
its own events about it (starting, ready, crashed, restarting, stopped).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

FILE_BYTES = 1024 * 1024
"""Size at which the current file rotates."""
LINE_BYTES = 16 * 1024
"""Longest piece of a line written as one log line (as the kubelet does)."""
POLL_SECONDS = 0.25
CURRENT, PREVIOUS = "current.log", "previous.log"
Stream = Literal["stdout", "stderr"]


def log_dir(data_dir: Path, service_id: str) -> Path:
    return data_dir / "compute" / "logs" / service_id


def rfc3339_nano(ns: int) -> str:
    """``2026-12-02T05:20:10.123456789Z`` for a time in nanoseconds since the epoch."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def line_time(line: str) -> datetime | None:
    """The time a log line was written (to the microsecond), or ``None`` if it is not a log line."""
    stamp = line.split(" ", 1)[0]
    if not stamp.endswith("Z") or "." not in stamp:
        return None
    whole, fraction = stamp[:-1].split(".", 1)
    try:
        return datetime.strptime(f"{whole}.{fraction[:6]:0<6}", "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return None


class Logbook:
    """The writing end of one deployment's log (one writer: the supervising process)."""

    def __init__(self, data_dir: Path, service_id: str, file_bytes: int = FILE_BYTES):
        self.dir = log_dir(data_dir, service_id)
        self.file_bytes = file_bytes

    def write(self, stream: Stream, message: str) -> None:
        """Append one line of output (split into ``P`` pieces when longer than :data:`LINE_BYTES`)."""
        message = message.rstrip("\r\n").replace("\n", " ")
        data = message.encode("utf-8", errors="replace")
        pieces = [data[i : i + LINE_BYTES] for i in range(0, len(data), LINE_BYTES)] or [b""]
        stamp = rfc3339_nano(time.time_ns()).encode()
        lines = b"".join(
            b"%s %s %s %s\n" % (stamp, stream.encode(), b"P" if i < len(pieces) - 1 else b"F", piece)
            for i, piece in enumerate(pieces)
        )
        self._append(lines)

    def event(self, message: str) -> None:
        """The supervisor's own word about the deployment, told apart from its output by a prefix."""
        self.write("stderr", f"[supervisor] {message}")

    def _append(self, data: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        current = self.dir / CURRENT
        try:
            size = current.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > self.file_bytes:
            os.replace(current, self.dir / PREVIOUS)
        # One write of whole lines in append mode: a reader never sees half a line of another write.
        fd = os.open(current, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _stored_lines(directory: Path) -> Iterator[str]:
    for name in (PREVIOUS, CURRENT):
        try:
            text = (directory / name).read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            continue
        yield from text.splitlines()


def _selected(line: str, since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    at = line_time(line)
    if at is None:
        return False
    return (since is None or at >= since) and (until is None or at <= until)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def read_lines(
    data_dir: Path, service_id: str, *, tail: int | None, since: datetime | None, until: datetime | None
) -> list[str]:
    """The deployment's log lines (without newlines), oldest first: those written between ``since`` and
    ``until`` (naive times are UTC), the last ``tail`` of them if given; ``[]`` for a deployment without
    any."""
    since, until = _aware(since), _aware(until)
    keep: deque[str] = deque(maxlen=tail) if tail is not None else deque()
    if tail == 0:
        return []
    for line in _stored_lines(log_dir(data_dir, service_id)):
        if _selected(line, since, until):
            keep.append(line)
    return list(keep)


class _Follower:
    """Reads what is appended to ``current.log`` after a point, across rotations."""

    def __init__(self, directory: Path):
        self.path = directory / CURRENT
        self.file: BinaryIO | None = None
        self.inode: int | None = None
        self.pending = b""

    def start_at_end(self) -> None:
        try:
            self.file = self.path.open("rb")
        except FileNotFoundError:
            return
        self.file.seek(0, os.SEEK_END)
        self.inode = os.fstat(self.file.fileno()).st_ino

    def new_lines(self) -> list[str]:
        data = b""
        if self.file is not None:
            data += self.file.read()
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        if inode is not None and inode != self.inode:
            # Rotated (or created): the rest of the old file was read above; the new one from its start.
            if self.file is not None:
                data += self.file.read()
                self.file.close()
            try:
                self.file = self.path.open("rb")
            except FileNotFoundError:
                self.file = None
            else:
                self.inode = os.fstat(self.file.fileno()).st_ino
                data += self.file.read()
        data = self.pending + data
        *complete, self.pending = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in complete]

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def follow_lines(
    data_dir: Path,
    service_id: str,
    *,
    tail: int | None,
    since: datetime | None,
    until: datetime | None,
    timeout: float,  # noqa: ASYNC109 (the API's follow_timeout: a bound on following, not on a call)
) -> AsyncIterator[str]:
    """The lines :func:`read_lines` selects, then new ones as they are written, for at most ``timeout``
    seconds (or until ``until`` has passed)."""
    since, until = _aware(since), _aware(until)
    follower = _Follower(log_dir(data_dir, service_id))
    # Where following starts is taken before reading what is there: a line written in between is read
    # twice at worst, never lost.
    follower.start_at_end()
    seen = read_lines(data_dir, service_id, tail=tail, since=since, until=until)
    last_seen = set(seen[-50:])
    deadline = time.monotonic() + timeout
    try:
        for line in seen:
            yield line
        while time.monotonic() < deadline:
            if until is not None and datetime.now(UTC) > until:
                return
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            for line in follower.new_lines():
                if line in last_seen:
                    last_seen.discard(line)
                    continue
                if _selected(line, since, until):
                    yield line
    finally:
        follower.close()
