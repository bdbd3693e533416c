"""Import a heavy module on first use, so that ``import arraylake`` and the command line start quickly.

Icechunk (and zarr and numpy behind it) take most of a second to import; the catalog calls, the login and
most commands never need them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module and imports it when one of its attributes is first read.

    ``importlib.import_module`` holds the import lock, so threads that race for the first use all get the
    one fully initialised module (unlike ``importlib.util.LazyLoader`` before Python 3.12.3).
    """

    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.module, attribute)


def lazy_module(name: str) -> Any:
    """The module ``name``, imported on first attribute access (typed ``Any``: import it for type checks)."""
    return LazyModule(name)
