"""CoCalc's API generations, one module each (``v1``, ``v2``, ``conat``) behind the small
interface of :mod:`.base`. Every module of this package other than ``base`` is a generation and
registers itself on import: adding or retiring a generation is adding or deleting its file.
They are imported when the first client is made, not at ``import cocalc_widgets``."""

from __future__ import annotations

import importlib
import pkgutil

from .base import COPY_EXTRAS, OPERATIONS, ClientSettings, Generation

__all__ = ["COPY_EXTRAS", "OPERATIONS", "ClientSettings", "Generation", "generations"]

_loaded = False


def generations() -> dict[str, type[Generation]]:
    """Every generation, by name (importing this package's generation modules once)."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            if module.name != "base" and not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return dict(sorted(Generation.registry.items()))
