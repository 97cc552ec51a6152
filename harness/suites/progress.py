"""Progress for people at a terminal: which run, how much of its budget is spent, time left.

Drawn with rich on stderr, and only when stderr is a terminal: logs, CI and pipes get the plain
log lines and nothing else.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.core.logs import STEPS


class SuiteProgress:
    def __init__(self, total_runs: int, done: int = 0, enabled: bool | None = None):
        self.console = Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.total, self.done = total_runs, done
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                             disable=not self.enabled)
        self.suite_bar = self.run_bar = None

    def __enter__(self) -> "SuiteProgress":
        if self.enabled:
            # log lines print above the bars instead of tearing them
            root = logging.getLogger()
            self._handlers = root.handlers[:]
            terminal = RichHandler(console=self.console, show_path=False, show_level=False, log_time_format="%H:%M:%S")
            terminal.addFilter(lambda record: record.name != STEPS)  # the run's bar shows the step; run.log keeps each
            root.handlers = [terminal, *(h for h in self._handlers if isinstance(h, logging.FileHandler))]
        self.bars.__enter__()
        self.suite_bar = self.bars.add_task("runs", total=self.total, completed=self.done)
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)
        if self.enabled:
            logging.getLogger().handlers = self._handlers

    def start_run(self, run_id: str) -> None:
        if self.run_bar is not None:
            self.bars.remove_task(self.run_bar)
        self.run_id = run_id
        self.run_bar = self.bars.add_task(run_id, total=1.0)

    def step(self, row: dict) -> None:
        if self.run_bar is not None:
            self.bars.update(self.run_bar, completed=min(1.0, row["budget_fraction"]),
                             description=f"{self.run_id} step {row['step']} reward {row['reward']:.3f}")

    def run_ended(self) -> None:
        self.bars.advance(self.suite_bar)
