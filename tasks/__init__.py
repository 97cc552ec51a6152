"""Task plugins: one object per task supplies prompts and scores completions.

The same object gives RL rewards and evaluation scores, so the two never disagree. This package
imports nothing from `harness/` or `algorithms/`: text in, score out. Built-ins register here;
`harness.spec.plugins` adds entry points (group `grainbench.tasks`) and lazy loading.
"""

from __future__ import annotations

TASKS: dict[str, type] = {}
BUILTIN_MODULES = ("tasks.arith", "tasks.chain", "tasks.math.task", "tasks.code.task", "tasks.code.synth")


def register(name: str):
    """Class decorator: make a task available under `name` (duplicates refused)."""

    def decorate(cls):
        if name in TASKS and TASKS[name] is not cls:
            raise ValueError(f"duplicate task name {name!r}: already {TASKS[name]!r}")
        TASKS[name] = cls
        cls.name = name
        return cls

    return decorate
