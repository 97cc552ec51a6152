"""The granularity family: each algorithm is a registered `PolicyGradient` configuration.

This package imports nothing from `harness/` or `tasks/`: tensors in, loss out. Built-ins register
themselves here; `harness.spec.plugins` adds entry points (group `grainbench.algorithms`) and lazy loading.
"""

from __future__ import annotations

ALGORITHMS: dict[str, type] = {}
BUILTIN_MODULES = (
    "algorithms.token_pg", "algorithms.grpo", "algorithms.dr_grpo", "algorithms.dapo", "algorithms.gspo",
    "algorithms.spo", "algorithms.sapo", "algorithms.mpo", "algorithms.tepo", "algorithms.sapo_soft", "algorithms.gmpo",
    "algorithms.cispo", "algorithms.gpg", "algorithms.clip_cov", "algorithms.kl_cov", "algorithms.luspo", "algorithms.vespo",
    "algorithms.bnpo", "algorithms.ktae", "algorithms.hapo", "algorithms.gtpo",
)


def register(name: str):
    """Class decorator: make an algorithm available under `name` (duplicates refused)."""

    def decorate(cls):
        if name in ALGORITHMS and ALGORITHMS[name] is not cls:
            raise ValueError(f"duplicate algorithm name {name!r}: already {ALGORITHMS[name]!r}")
        ALGORITHMS[name] = cls
        cls.name = name
        return cls

    return decorate
