"""grainbench harness: config, budget, engines, trainer, evaluator, suite runner, leaderboard."""

__version__ = "0.1.0"
