"""One small plug-in registry per kind (codecs, metrics, executors; channel models live in ``channels``).

Adding a plug-in is one decorator, ``@CODECS.register("jpeg")``, in a module the registry finds. Look-ups of
unknown names fail with the list of known ones, so a typo in a config is obvious.

A registry built with ``package=`` and/or ``entry_points=`` finds its plug-in modules itself, on the first
look-up (``get``, ``names``, ``in``; never at import time, so ``import mtgc_link`` stays fast):

- ``package="mtgc_link.codecs"``: every module and sub-package directly inside that package whose name does
  not start with ``_`` is imported (``pkgutil.iter_modules``); importing a module runs its decorators. A
  sub-package registers from its ``__init__``. Modules that register nothing (helpers) cost one import.
- ``entry_points="mtgc_link.codecs"``: every entry point of that group (``importlib.metadata``) is loaded,
  so an installed third-party package adds plug-ins without touching this repository. In its
  ``pyproject.toml``: ``[project.entry-points."mtgc_link.codecs"]`` ``mycodec = "my_package.mycodec"``
  (a module whose import registers, or ``"my_package.mycodec:MyCodec"``). A third-party plug-in that fails
  to load is skipped with a warning naming it; a built-in one that fails raises (that is a bug here).

The registry is the one list of its kind: CLI help, configs and docs read ``names()``.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import warnings
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_DISCOVERY_LOCK = threading.RLock()  # re-entrant: discovery imports modules that may look the registry up


class Registry(Generic[T]):
    def __init__(self, kind: str, *, package: str | None = None, entry_points: str | None = None) -> None:
        self.kind = kind
        self.package, self.entry_point_group = package, entry_points
        self._items: dict[str, T] = {}
        self._discovered = package is None and entry_points is None
        self._discovering = False

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return deco

    def discover(self) -> None:
        """Import the plug-in modules, once per process (see the module docstring); every look-up calls it.

        Other threads wait until discovery is complete; a look-up from a plug-in module while it is being
        imported sees the plug-ins registered so far. A built-in module that fails to import raises, here
        and again on the next look-up."""
        if self._discovered:
            return
        with _DISCOVERY_LOCK:
            if self._discovered or self._discovering:
                return
            self._discovering = True
            try:
                for module in plugin_modules(self.package):
                    importlib.import_module(module)
                if self.entry_point_group:
                    _load_entry_points(self.kind, self.entry_point_group)
                self._discovered = True
            finally:
                self._discovering = False

    def get(self, name: str) -> T:
        self.discover()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._items


def plugin_modules(package: str | None) -> list[str]:
    """The modules a registry built with ``package=`` imports: the package's direct children (modules and
    sub-packages) whose names do not start with ``_``, sorted by name. [] for None."""
    if package is None:
        return []
    pkg = importlib.import_module(package)
    found = pkgutil.iter_modules(pkg.__path__, prefix=f"{package}.")
    return sorted(info.name for info in found if not info.name.rpartition(".")[2].startswith("_"))


def _load_entry_points(kind: str, group: str) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            ep.load()
        except Exception as exc:  # a broken third-party package must not take the built-ins down
            warnings.warn(
                f"{kind} plug-in {ep.name!r} ({ep.value}, entry point group {group!r}) failed to load and "
                f"is skipped: {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )
