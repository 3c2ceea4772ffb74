"""One registry mechanism for every pluggable kind: datasets, face detectors, models, losses, metrics, profiles,
named recipes.

A :class:`Registry` maps a name to either an object or a lazy ``"package.module:attr"`` target that is
imported the first time the name is looked up. That keeps listings (``rppgbench ls models``) free of
heavy imports such as torch. Duplicate names raise; unknown names raise with close matches suggested.

Plugins: an installed distribution may declare entry points in the group ``rppgbench.plugins`` (see
CONTRIBUTING.md). They are loaded once, the first time any registry is listed or looked up
(:func:`load_plugins`); a plugin registers its datasets, models, ... into the registries at import (value
``"pkg.module"``) or when its function is called (value ``"pkg.module:function"``, called without arguments).
A plugin that fails to load is logged as a warning and named in every later "unknown name" error.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from rppgbench._logging import logger
from rppgbench._util import did_you_mean

T = TypeVar("T")

__all__ = ["Registry", "RegistryError", "PLUGIN_GROUP", "load_plugins", "plugin_errors"]

#: the entry-point group read by :func:`load_plugins`
PLUGIN_GROUP = "rppgbench.plugins"
_plugins_state = "unloaded"  # -> "loading" -> "loaded"
_plugin_errors: dict[str, str] = {}


def load_plugins() -> list[str]:
    """Load every ``rppgbench.plugins`` entry point once (later calls return at once); returns the names loaded.

    Called by the registries on their first lookup, so a plugin's names are there wherever names are read.
    """
    global _plugins_state
    if _plugins_state != "unloaded":
        return []
    _plugins_state = "loading"  # a plugin that looks names up while loading does not recurse
    loaded = []
    try:
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
            try:
                obj = ep.load()
                if ep.attr and callable(obj):
                    obj()
            except Exception as exc:  # a broken plugin must not break every command; it is reported
                _plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                logger.warning("plugin %r (%s) failed to load: %s: %s", ep.name, ep.value, type(exc).__name__, exc)
            else:
                loaded.append(ep.name)
                logger.debug("plugin %r (%s) loaded", ep.name, ep.value)
    finally:
        _plugins_state = "loaded"
    return loaded


def plugin_errors() -> dict[str, str]:
    """Plugins that failed to load: entry-point name -> error."""
    return dict(_plugin_errors)


class RegistryError(KeyError):
    """Unknown or duplicate registry name. ``str()`` gives a readable sentence."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A named collection of pluggable objects.

    Parameters
    ----------
    kind : str
        What the registry holds, used in messages ("dataset", "model", ...).
    base : type | None
        When given, every registered class must be a subclass of it (instances and functions are
        accepted as they are); checked at registration, or when a lazy target is first resolved.
    fold : callable | None
        When given, :meth:`canonical` also finds a name by its folded spelling (``fold(a) == fold(b)``), e.g. the
        model ``physfsunet.tiny`` as ``physfsunet_tiny``; messages and listings show the registered spelling.
    """

    def __init__(self, kind: str, base: type | None = None, fold: Callable[[str], str] | None = None) -> None:
        self.kind = kind
        self.base = base
        self.fold = fold
        self._objects: dict[str, Any] = {}
        self._lazy: dict[str, str] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []  # registration order

    # -- registration -------------------------------------------------------------------------
    def _check_new(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._objects or name in self._lazy:
            origin = self._lazy.get(name) or getattr(self._objects[name], "__module__", "?")
            raise RegistryError(f"{self.kind} {name!r} is already registered (by {origin})")

    def register(self, name: str, obj: Any = None, **meta: Any) -> Any:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def _do(o: Any) -> Any:
            self._check_new(name)
            self._check_base(name, o)
            self._objects[name] = o
            self._meta[name] = dict(meta)
            self._order.append(name)
            return o

        return _do if obj is None else _do(obj)

    def register_lazy(self, name: str, target: str, **meta: Any) -> None:
        """Register ``"package.module:attr"`` to be imported on first lookup of ``name``."""
        self._check_new(name)
        if ":" not in target:
            raise RegistryError(f"lazy target for {self.kind} {name!r} must be 'module:attr', got {target!r}")
        self._lazy[name] = target
        self._meta[name] = dict(meta)
        self._order.append(name)

    def fill(self, name: str, obj: Any) -> None:
        """Give a lazily registered ``name`` its object now (its module was imported by other means)."""
        if name not in self._lazy:
            raise RegistryError(f"{self.kind} {name!r} is not a lazily registered name")
        self._check_base(name, obj)
        self._objects[name] = obj

    # -- lookup -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name, sorted (plugins are loaded first)."""
        load_plugins()
        return sorted(set(self._objects) | set(self._lazy))

    def registered(self) -> list[str]:
        """Every registered name in registration order (plugins are loaded first)."""
        load_plugins()
        return list(self._order)

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``: ``name`` itself when registered, else the one registered name with
        the same folded spelling (see ``fold``); ``name`` unchanged when there is none (lookups then fail)."""
        if name in self or self.fold is None or not isinstance(name, str):
            return name
        hits = [n for n in self.names() if self.fold(n) == self.fold(name)]
        return hits[0] if len(hits) == 1 else name

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._objects or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def meta(self, name: str) -> dict[str, Any]:
        """Metadata given at registration (never imports the target)."""
        self._unknown(name)
        return dict(self._meta.get(name, {}))

    def _unknown(self, name: str) -> None:
        if name in self:
            return
        hint = did_you_mean(name, self.names())
        known = ", ".join(self.names()) or "(none)"
        broken = "".join(f"; plugin {p!r} failed to load ({e})" for p, e in sorted(_plugin_errors.items()))
        raise RegistryError(f"unknown {self.kind} {name!r}{hint} Known: {known}{broken}")

    def get(self, name: str) -> T:
        """Resolve ``name`` (importing a lazy target if needed)."""
        self._unknown(name)
        if name not in self._objects:
            target = self._lazy[name]
            mod_name, _, attr = target.partition(":")
            module = importlib.import_module(mod_name)
            try:
                obj = getattr(module, attr)
            except AttributeError as exc:
                raise RegistryError(f"{self.kind} {name!r}: {mod_name} has no attribute {attr!r}") from exc
            self._check_base(name, obj)
            self._objects[name] = obj
        return self._objects[name]

    def _check_base(self, name: str, obj: Any) -> None:
        if self.base is None:
            return
        if isinstance(obj, type) and not issubclass(obj, self.base):
            raise RegistryError(f"{self.kind} {name!r} must subclass {self.base.__name__}, got {obj.__name__}")

    def origin(self, name: str) -> str:
        """Where ``name`` is defined: the lazy target or the object's module."""
        self._unknown(name)
        if name in self._lazy:
            return self._lazy[name]
        return getattr(self._objects[name], "__module__", "?")

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"

