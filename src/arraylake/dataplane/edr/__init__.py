"""Our OGC API EDR plugin for xpublish: collection metadata, position and area queries answered as
CoverageJSON, CSV or NetCDF, with a size limit checked before any data is read."""

from .plugin import EdrPlugin

__all__ = ["EdrPlugin"]
