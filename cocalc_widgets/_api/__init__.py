"""CoCalc's API generations, one module each (``v1``, ``v2``, ``conat``) behind the small
interface of :mod:`.base`. Every module of this package other than ``base`` is a generation and
registers itself on import: adding or retiring a generation is adding or deleting its file."""

from __future__ import annotations

import importlib
import pkgutil

from .base import COPY_EXTRAS, OPERATIONS, ClientSettings, Generation

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

#: Every generation, by name.
GENERATIONS: dict[str, type[Generation]] = dict(sorted(Generation.registry.items()))

__all__ = ["COPY_EXTRAS", "GENERATIONS", "OPERATIONS", "ClientSettings", "Generation"]
