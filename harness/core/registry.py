"""One generic registry for algorithms, tasks and engines (after lm-eval's).

Each leaf package keeps its built-ins in a plain dict filled by a `register` decorator; this class
wraps such a dict and adds what users need: built-in modules imported only on first use, third-party
plugins found through entry points, duplicate names refused, and unknown names answered with the
valid ones and a "did you mean".
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any, Generic, Iterable, TypeVar

from harness.core.errors import UserError

T = TypeVar("T")


def add_unique(table: dict[str, Any], name: str, obj: Any, kind: str) -> None:
    """Insert `obj` under `name`, refusing a second, different object of the same name."""
    if name in table and table[name] is not obj:
        raise ValueError(f"duplicate {kind} name {name!r}: already registered as {table[name]!r}")
    table[name] = obj


def registrar(table: dict[str, Any], kind: str):
    """A `register(name)` class decorator over `table` for registries that live inside the harness.

    (`algorithms/` and `tasks/` keep their own three-line copy: they may not import the harness.)
    """

    def register(name: str):
        def decorate(obj):
            add_unique(table, name, obj, kind)
            obj.name = name
            return obj

        return decorate

    return register


class Registry(Generic[T]):
    def __init__(self, kind: str, table: dict[str, T], builtin_modules: Iterable[str], group: str):
        self.kind = kind
        self.group = group
        self._table = table
        self._builtin_modules = tuple(builtin_modules)
        self._builtins_loaded = False

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            for module in self._builtin_modules:
                importlib.import_module(module)
            self._builtins_loaded = True

    def _entry_points(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for ep in entry_points(group=self.group):
            if ep.name in found and found[ep.name].value != ep.value:
                raise UserError(f"two plugins register the {self.kind} {ep.name!r}: {_origin(found[ep.name])} and "
                                f"{_origin(ep)}; uninstall or rename one")
            found[ep.name] = ep
        return found

    def _load(self, ep) -> Any:
        """A plugin's object; a plugin that cannot be imported is one clear error, not a traceback."""
        try:
            return ep.load()
        except Exception as e:
            raise UserError(f"plugin {self.kind} {_origin(ep)} cannot be loaded ({type(e).__name__}: {e}); "
                            "fix or uninstall that distribution") from None

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(set(self._table) | set(self._entry_points()))

    def get(self, name: str) -> T:
        self._load_builtins()
        if name in self._table:
            eps = self._entry_points()
            if name in eps and eps[name].value != _path_of(self._table[name]):
                raise UserError(f"plugin {self.kind} {_origin(eps[name])} has the name of a built-in {self.kind}; "
                                "rename it in the distribution's entry points")
            return self._table[name]
        eps = self._entry_points()
        if name in eps:
            obj = self._load(eps[name])
            add_unique(self._table, name, obj, self.kind)
            return obj
        valid = self.names()
        hint = difflib.get_close_matches(name, valid, n=1)
        did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
        raise UserError(f"unknown {self.kind} {name!r}.{did_you_mean} Valid: {', '.join(valid)}")


def _origin(ep) -> str:
    dist = getattr(ep, "dist", None)
    return f"{ep.name} = {ep.value} (distribution {dist.name if dist is not None else 'unknown'})"


def _path_of(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"
