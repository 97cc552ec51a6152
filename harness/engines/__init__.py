"""Rollout engines: sample responses and their behaviour log-probs from token-id prompts."""

from __future__ import annotations

ENGINES: dict[str, type] = {}
BUILTIN_MODULES = ("harness.engines.hf",)


def register(name: str):
    def decorate(cls):
        if name in ENGINES and ENGINES[name] is not cls:
            raise ValueError(f"duplicate engine name {name!r}: already {ENGINES[name]!r}")
        ENGINES[name] = cls
        cls.name = name
        return cls

    return decorate
