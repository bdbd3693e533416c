"""Drawing a look at an array: numpy values in, PNG bytes out (an image with a colour map, its colour bar,
a line plot). CPU work: callers run these in a thread. matplotlib and pillow are imported when first
drawn, so that starting the service does not pay for them."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from arraylake.server.errors import InvalidInput

COLORMAPS = ("viridis", "magma", "cividis", "coolwarm", "gray")
"""The colour maps a viewer may choose."""
DEFAULT_COLORMAP = "viridis"
COLORBAR_SIZE = (256, 14)


def check_colormap(name: str | None) -> str:
    """One of :data:`COLORMAPS` (the default when not given); 422 otherwise."""
    name = name or DEFAULT_COLORMAP
    if name not in COLORMAPS:
        raise InvalidInput(f"cmap: choose one of {', '.join(COLORMAPS)}")
    return name


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[check_colormap(name)]


def _png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def image_png(
    values: np.ndarray,
    cmap: str,
    vmin: float | None,
    vmax: float | None,
    *,
    scale: tuple[int, int] = (1, 1),
    origin_lower: bool = False,
) -> bytes:
    """A 2-D array of floats as a PNG: each value a rectangle of ``scale`` (vertical, horizontal) pixels,
    coloured by ``cmap`` between ``vmin`` and ``vmax``; NaN transparent; the first row at the bottom when
    ``origin_lower``."""
    if values.ndim != 2:
        raise ValueError("an image needs 2-D values")
    colors = _colormap(cmap)
    valid = np.isfinite(values)
    low = vmin if vmin is not None else 0.0
    span = (vmax - low) if vmax is not None and vmax > low else 0.0
    with np.errstate(invalid="ignore"):
        norm = (values - low) / span if span else np.full(values.shape, 0.5)
    norm = np.clip(np.where(valid, norm, 0.0), 0.0, 1.0)
    rgba = colors(norm, bytes=True)
    rgba[~valid] = (0, 0, 0, 0)
    if origin_lower:
        rgba = rgba[::-1]
    if scale[0] > 1:
        rgba = np.repeat(rgba, scale[0], axis=0)
    if scale[1] > 1:
        rgba = np.repeat(rgba, scale[1], axis=1)
    return _png(np.ascontiguousarray(rgba))


def colorbar_png(cmap: str, width: int = COLORBAR_SIZE[0], height: int = COLORBAR_SIZE[1]) -> bytes:
    """A horizontal gradient of ``cmap``, lowest values on the left."""
    colors = _colormap(cmap)
    row = colors(np.linspace(0.0, 1.0, width), bytes=True)
    return _png(np.ascontiguousarray(np.repeat(row[np.newaxis, :, :], height, axis=0)))


def line_png(
    x: np.ndarray | None,
    y: np.ndarray,
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    size: tuple[float, float] = (7.2, 3.2),
    dpi: int = 100,
) -> bytes:
    """A line plot of ``y`` over ``x`` (the indices when ``None``) as a PNG; gaps where ``y`` is NaN."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = np.arange(len(y)) if x is None else x
    if xs.dtype.kind in "biufM" and len(y):
        axes.plot(xs, y, color="#2f5bd3", linewidth=1.4, marker="." if len(y) <= 60 else None)
    elif len(y):
        axes.plot(np.arange(len(y)), y, color="#2f5bd3", linewidth=1.4)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title, fontsize=10)
    axes.grid(True, color="#dde2ec", linewidth=0.6)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
