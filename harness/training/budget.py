"""Compute accounting, so every run of a suite stops at the same spend.

Model FLOPs are the default unit because they are machine-independent and reproducible:
2·N per token generated or forwarded without grad, 6·N per token trained (forward + backward),
N = parameter count. Every Monte-Carlo rollout an algorithm asks for is charged like any other.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class Budget:
    unit: str  # "flops" | "tokens" (generated tokens) | "seconds" (wall)
    limit: float
    n_params: int
    generated_tokens: int = 0
    forwarded_tokens: int = 0
    trained_tokens: int = 0
    monte_carlo_tokens: int = 0  # generated or forwarded for an algorithm's Monte-Carlo values (part of the above)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.unit not in ("flops", "tokens", "seconds"):
            raise ValueError(f"budget unit must be flops, tokens or seconds; got {self.unit!r}")
        if not self.limit > 0:
            raise ValueError(f"budget limit must be > 0; got {self.limit}")

    def charge(self, generated: int = 0, forwarded: int = 0, trained: int = 0, monte_carlo: bool = False) -> None:
        self.generated_tokens += generated
        self.forwarded_tokens += forwarded
        self.trained_tokens += trained
        if monte_carlo:
            self.monte_carlo_tokens += generated + forwarded

    def start_clock(self) -> None:
        """Training starts now: set-up and the base evaluation (which only a seed's first run pays
        for, the others reuse it) are not training time."""
        self.started = time.perf_counter()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside (evaluations) is not training: keep it off a seconds budget."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.started += time.perf_counter() - start

    def counts(self) -> tuple[int, int, int, int]:
        return self.generated_tokens, self.forwarded_tokens, self.trained_tokens, self.monte_carlo_tokens

    def add_shared(self, before: tuple[int, int, int, int]) -> None:
        """Replace this process's charges since `before` by those of all data-parallel processes, and
        agree on the clock (the slowest process's), so every process stops at the same step."""
        from harness.core import distributed

        spent = distributed.all_sum([now - then for now, then in zip(self.counts(), before)])
        (self.generated_tokens, self.forwarded_tokens, self.trained_tokens,
         self.monte_carlo_tokens) = (int(b + d) for b, d in zip(before, spent))
        self.started = time.perf_counter() - distributed.all_max(self.seconds)

    def state(self) -> dict:
        return {"generated": self.generated_tokens, "forwarded": self.forwarded_tokens, "trained": self.trained_tokens,
                "monte_carlo": self.monte_carlo_tokens, "seconds": self.seconds}

    def restore(self, state: dict) -> None:
        self.generated_tokens, self.forwarded_tokens, self.trained_tokens = state["generated"], state["forwarded"], state["trained"]
        self.monte_carlo_tokens = state["monte_carlo"]
        self.started = time.perf_counter() - state["seconds"]

    @property
    def flops(self) -> float:
        return 2.0 * self.n_params * (self.generated_tokens + self.forwarded_tokens) + 6.0 * self.n_params * self.trained_tokens

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @property
    def spent(self) -> float:
        return {"flops": self.flops, "tokens": float(self.generated_tokens), "seconds": self.seconds}[self.unit]

    @property
    def fraction(self) -> float:
        return self.spent / self.limit

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit

    def snapshot(self) -> dict:
        return {"budget_unit": self.unit, "budget_limit": self.limit, "budget_spent": self.spent,
                "budget_fraction": self.fraction, "flops": self.flops,
                "generated_tokens": self.generated_tokens, "forwarded_tokens": self.forwarded_tokens,
                "trained_tokens": self.trained_tokens, "wall_seconds": self.seconds,
                # share of the compute (model FLOPs) spent on Monte-Carlo values
                "monte_carlo_share": 2.0 * self.n_params * self.monte_carlo_tokens / max(self.flops, 1.0)}
