"""The three registries users name things from: algorithms, tasks, engines."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import TYPE_CHECKING

import pydantic

import algorithms
import tasks
from harness import engines
from harness.core.errors import UserError
from harness.core.registry import Registry
from tasks.reward import RewardFunctionTask

if TYPE_CHECKING:  # annotations only: the schema imports this module to resolve names
    from harness.spec.config import EngineSpec, TaskSpec

ALGORITHMS = Registry("algorithm", algorithms.ALGORITHMS, algorithms.BUILTIN_MODULES, "grainbench.algorithms")
TASKS = Registry("task", tasks.TASKS, tasks.BUILTIN_MODULES, "grainbench.tasks")
ENGINES = Registry("engine", engines.ENGINES, engines.BUILTIN_MODULES, "grainbench.engines")


def _construct(registry: Registry, name: str, params: dict):
    """Instantiate a registered dataclass with suite parameters, type-checked against its fields;
    bad keys/values → UserError naming the parameter."""
    cls = registry.get(name)
    valid = [f.name for f in dataclasses.fields(cls) if f.init] if dataclasses.is_dataclass(cls) else None
    unknown = sorted(set(params) - set(valid)) if valid is not None else []
    if unknown:
        raise UserError(f"{registry.kind} {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                        f"valid: {', '.join(valid)}")
    try:
        if valid is not None:
            return pydantic.TypeAdapter(cls).validate_python(params)
        return cls(**params)
    except pydantic.ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'value'}: {err['msg'].removeprefix('Value error, ')}"
                             for err in e.errors())
        raise UserError(f"{registry.kind} {name!r}: {problems}") from None
    except (TypeError, ValueError) as e:
        raise UserError(f"{registry.kind} {name!r}: {e}") from None


def make_algorithm(name: str, params: dict, shared: dict | None = None):
    """The algorithm `name` with `params`; `shared` (the suite's settings for every algorithm: trust
    region, ε₁, KL) fills the fields the algorithm has and `params` does not set."""
    cls = ALGORITHMS.get(name)
    fields = {f.name for f in dataclasses.fields(cls) if f.init} if dataclasses.is_dataclass(cls) else set()
    return _construct(ALGORITHMS, name, {**{k: v for k, v in (shared or {}).items() if k in fields}, **params})


def algorithm_of(run):
    """The algorithm a run trains with: its setting's parameters over the suite's shared settings."""
    return make_algorithm(run.algorithm, run.params, run.train.algorithm_settings())


def make_task(name: str, params: dict):
    return _construct(TASKS, name, params)


def task_of(name: str, spec: TaskSpec):
    """The task a suite names: one of its reward-function tasks, else a registered task with its options."""
    if name not in spec.custom:
        return make_task(name, spec.options.get(name, {}))
    if name in TASKS.names():
        raise UserError(f"custom task {name!r} has the name of a registered task; rename it")
    try:
        return RewardFunctionTask(name=name, **spec.custom[name].model_dump())
    except ValueError as e:
        raise UserError(f"tasks.custom.{name}: {e}") from None


def check_task_fields(name: str, spec: TaskSpec) -> None:
    """`task_of`'s checks that need no data: the name is registered (or a custom task) and every
    option is a field of the task (for `grainbench validate --schema-only`)."""
    if name in spec.custom:
        return
    cls = TASKS.get(name)
    valid = [f.name for f in dataclasses.fields(cls) if f.init] if dataclasses.is_dataclass(cls) else []
    unknown = sorted(set(spec.options.get(name, {})) - set(valid))
    if unknown:
        raise UserError(f"task {name!r} has no parameter {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")


def engine_class(spec: EngineSpec) -> type:
    """The engine a suite names, its options checked against the constructor's keyword parameters
    (names and annotated types), so a typo fails before any work."""
    cls = ENGINES.get(spec.name)
    params = list(inspect.signature(cls).parameters)[2:]  # after (model, tokenizer)
    unknown = sorted(set(spec.options) - set(params))
    if unknown:
        raise UserError(f"engine {spec.name!r} has no option {', '.join(map(repr, unknown))}; valid: {', '.join(params)}")
    hints = typing.get_type_hints(cls.__init__)
    for key, value in spec.options.items():
        if key in hints:
            try:
                pydantic.TypeAdapter(hints[key]).validate_python(value, strict=True)
            except pydantic.ValidationError as e:
                raise UserError(f"engine {spec.name!r}: {key}: {e.errors()[0]['msg']}") from None
    return cls


def make_engine(spec: EngineSpec, model, tokenizer):
    return engine_class(spec)(model, tokenizer, **spec.options)
