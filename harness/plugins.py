"""The three registries users name things from: algorithms, tasks, engines."""

from __future__ import annotations

import dataclasses

import algorithms
import tasks
from harness import engines
from harness.errors import UserError
from harness.registry import Registry

ALGORITHMS = Registry("algorithm", algorithms.ALGORITHMS, algorithms.BUILTIN_MODULES, "grainbench.algorithms")
TASKS = Registry("task", tasks.TASKS, tasks.BUILTIN_MODULES, "grainbench.tasks")
ENGINES = Registry("engine", engines.ENGINES, engines.BUILTIN_MODULES, "grainbench.engines")


def _construct(registry: Registry, name: str, params: dict):
    """Instantiate a registered dataclass with suite parameters; bad keys/values → UserError."""
    cls = registry.get(name)
    valid = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else None
    unknown = sorted(set(params) - set(valid)) if valid is not None else []
    if unknown:
        raise UserError(f"{registry.kind} {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                        f"valid: {', '.join(valid)}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise UserError(f"{registry.kind} {name!r}: {e}") from None


def make_algorithm(name: str, params: dict):
    return _construct(ALGORITHMS, name, params)


def make_task(name: str, params: dict):
    return _construct(TASKS, name, params)
