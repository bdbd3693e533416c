"""The data of a ``.dods`` response in XDR, computed and sent in bounded blocks.

Each projected array is its element count twice (big-endian int32; once for String arrays), then its
values big-endian; Byte arrays and strings are padded to four bytes; a scalar is its value alone. The size
of the whole response is known before anything is read (string variables excepted, which are read first
and are bounded by ``max_response_bytes``), so the response carries a Content-Length and a client can tell
a transfer cut short by a failure from a complete one."""

from __future__ import annotations

import itertools
import logging
import math
import struct
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from fastapi import HTTPException

from arraylake.dataplane.dap2.constraint import Projection
from arraylake.dataplane.limits import check_size

logger = logging.getLogger(__name__)

MAX_DAP2_COUNT = 2**31 - 1
PIECE_BYTES = 1024 * 1024
"""How much of a computed block is converted to big-endian and handed to the server at a time."""
PREFETCH_BYTES = 32 * 1024 * 1024
"""The largest block computed ahead, while the previous one is sent."""


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


@dataclass(frozen=True, slots=True)
class Block:
    """A part of one projected array, in C order: ``key`` indexes the CF-encoded source variable."""

    projection: Projection
    key: tuple[int | slice, ...]


@dataclass(slots=True)
class Plan:
    """What a ``.dods`` body will send, in order: bytes already known, and blocks to compute."""

    parts: list[bytes | Block]
    nbytes: int


def plan(projections: list[Projection], *, block_bytes: int, max_response_bytes: int) -> Plan:
    """The parts of the data section and its exact size. String variables are read here (they are
    small in gridded data; a 413 refuses more than ``max_response_bytes`` of them); numeric blocks hold
    about ``block_bytes`` each, up to ``max_response_bytes`` when one source chunk is larger."""
    parts: list[bytes | Block] = []
    nbytes = 0

    def add(part: bytes | Block, size: int) -> None:
        nonlocal nbytes
        parts.append(part)
        nbytes += size

    for projection in projections:
        var, shape = projection.variable, projection.shape
        count = math.prod(shape)
        if count > MAX_DAP2_COUNT:
            raise HTTPException(
                status_code=413,
                detail=f"{var.name} would have {count} elements, more than a DAP2 array can carry "
                f"({MAX_DAP2_COUNT}); ask for a hyperslab of it",
            )
        if var.type.is_string:
            data = _strings(projection, max_response_bytes)
            add(data, len(data))
            continue
        assert var.type.wire is not None
        itemsize = var.type.wire.itemsize
        size = count * itemsize
        if not shape:  # a scalar: the value alone (Byte scalars are served as Int16)
            add(Block(projection, ()), size)
            continue
        add(struct.pack(">ii", count, count), 8)
        blocks = _blocks(projection, itemsize, block_bytes, max_response_bytes) if count else ()
        for block in blocks:
            add(block, math.prod(_block_shape(block)) * itemsize)
        if itemsize == 1:
            add(_pad(size), len(_pad(size)))
    return Plan(parts, nbytes)


def _strings(projection: Projection, max_response_bytes: int) -> bytes:
    var, shape = projection.variable, projection.shape
    count = math.prod(shape)
    dtype = var.variable.dtype
    check_size(
        count * (4 + (dtype.itemsize if dtype.kind in "SU" else 4)),
        max_response_bytes,
        what=f"The strings of {var.name}",
        narrow=f"a hyperslab of {var.name}",
    )
    values = np.asarray(var.variable[projection.slices].values).ravel()
    out = bytearray(struct.pack(">i", count) if shape else b"")
    for value in values:
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        out += struct.pack(">i", len(raw)) + raw + _pad(len(raw))
    check_size(len(out), max_response_bytes, what=f"The strings of {var.name}", narrow="a hyperslab")
    return bytes(out)


def _block_shape(block: Block) -> tuple[int, ...]:
    return tuple(len(range(s.start, s.stop, s.step)) for s in block.key if isinstance(s, slice))


def _blocks(projection: Projection, itemsize: int, block_bytes: int, max_block_bytes: int) -> Iterator[Block]:
    """Blocks along the first dimension whose rows fit in ``block_bytes`` (along the next one when a row
    does not), cut at the source's chunk boundaries so that a chunk is read once: the rows of one chunk
    stay in one block up to ``max_block_bytes``."""
    shape, slices = projection.shape, projection.slices
    axis = 0
    while axis < len(shape) - 1 and math.prod(shape[axis + 1 :]) * itemsize > block_bytes:
        axis += 1
    row_bytes = math.prod(shape[axis + 1 :]) * itemsize
    rows_per_block = max(1, block_bytes // row_bytes)
    max_rows = max(rows_per_block, max_block_bytes // row_bytes)
    sl = slices[axis]
    chunks = projection.variable.source_chunks
    runs = _chunk_runs(sl, chunks[axis] if chunks else None)
    for lead in np.ndindex(*shape[:axis]):
        lead_key = tuple(int(s.start + s.step * i) for s, i in zip(slices[:axis], lead, strict=True))
        for first, last in _merge(runs, rows_per_block, max_rows):
            start = sl.start + sl.step * first
            stop = sl.start + sl.step * (last - 1) + 1
            yield Block(projection, (*lead_key, slice(start, stop, sl.step), *slices[axis + 1 :]))


def _chunk_runs(sl: slice, chunks: tuple[int, ...] | None) -> list[tuple[int, int]]:
    """The output rows of ``sl`` grouped by the source chunk they fall in: [(first, end), ...]."""
    n = len(range(sl.start, sl.stop, sl.step))
    if not chunks:
        return [(0, n)]
    # From the chunk boundaries, not from every row: a long 1-D array has billions of rows.
    chunk_starts = np.cumsum(chunks)[:-1]
    inside = chunk_starts[(chunk_starts > sl.start) & (chunk_starts < sl.stop)]
    first_rows = np.unique(-((sl.start - inside) // sl.step))  # the first row at or after each boundary
    edges = first_rows[(first_rows > 0) & (first_rows < n)]
    return list(itertools.pairwise([0, *edges.tolist(), n]))


def _merge(runs: list[tuple[int, int]], rows: int, max_rows: int) -> Iterator[tuple[int, int]]:
    """Consecutive runs joined while they fit in ``rows``; a longer run stays whole (reading a chunk in
    parts would read it once per part) unless it exceeds ``max_rows``."""
    first = last = runs[0][0]
    for run_first, run_end in runs:
        if run_end - first > rows and last > first:
            yield first, last
            first = run_first
        while run_end - first > max_rows:
            yield first, first + max_rows
            first += max_rows
        last = run_end
    if last > first:
        yield first, last


def _compute(block: Block) -> np.ndarray:
    var = block.projection.variable
    try:
        return np.ascontiguousarray(var.variable[block.key].values).reshape(-1)
    except Exception:
        # The status line has gone: the client sees the body cut short of its Content-Length.
        logger.exception("DAP2 stopped streaming %s: reading %s failed", var.name, block.key)
        raise


def _pieces(block: Block, values: np.ndarray) -> Iterator[memoryview]:
    """The values big-endian, converted a piece at a time rather than as a second copy of the block."""
    wire = block.projection.variable.type.wire
    assert wire is not None
    step = max(1, PIECE_BYTES // wire.itemsize)
    for start in range(0, values.size, step):
        yield memoryview(values[start : start + step].astype(wire).view(np.uint8))


def _nbytes(block: Block) -> int:
    wire = block.projection.variable.type.wire
    assert wire is not None
    return math.prod(_block_shape(block)) * wire.itemsize


def stream(head: bytes, data: Plan, *, prefetch_bytes: int = PREFETCH_BYTES) -> Iterator[bytes | memoryview]:
    """``head``, then the parts of ``data``. A block of at most ``prefetch_bytes`` is computed while the
    previous one is sent; a larger one (a big source chunk) only once it is sent, so that two are never
    held at once."""
    yield head
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dap2-block") as pool:
        pending: tuple[Block, Future[np.ndarray]] | None = None
        for part in data.parts:
            early = isinstance(part, Block) and _nbytes(part) <= prefetch_bytes
            upcoming = (part, pool.submit(_compute, part)) if isinstance(part, Block) and early else None
            if pending is not None:
                yield from _pieces(pending[0], pending[1].result())
            pending = upcoming
            if isinstance(part, Block) and not early:
                pending = (part, pool.submit(_compute, part))
            elif isinstance(part, bytes) and part:
                yield part
        if pending is not None:
            yield from _pieces(pending[0], pending[1].result())
