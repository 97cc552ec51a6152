"""grainbench harness, in layers that import only downward:

    core        errors, atomic files, logging, registries, environment, torch.distributed helpers
    engines     rollout engines (hf, vllm)
    spec        the typed suite schema and the plugin registries its names resolve to
    training    the RL trainer, budget, policy log-probs, the embedded model and its checkpoints
    evaluation  pass@k / maj@n evaluation of a checkpoint (grainbench or lm-eval backend)
    results     leaderboard, paired comparisons, curves, trackers, publish
    suites      a suite: its runs, executors, tuning protocol and progress display
    diagnostics why a granularity wins: gradient quality, off-policy behaviour, credit placement
    cli         the `grainbench` command

`algorithms/` and `tasks/` import nothing from here. The modules' earlier flat paths
(`harness.trainer`, `harness.config`, …) stay importable as aliases of the same module objects.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

LAYERS = ("core", "engines", "spec", "training", "evaluation", "results", "suites", "diagnostics", "cli")
MOVED = {old: f"{package}.{old}" for package, modules in {
    "core": ("errors", "atomic", "logs", "registry", "environment", "distributed"),
    "spec": ("config", "plugins"),
    "training": ("trainer", "budget", "policy", "logprobs", "embedded"),
    "evaluation": ("evaluator", "passk", "lm_eval_backend"),
    "results": ("leaderboard", "comparison", "curves", "publish", "tracking"),
    "suites": ("suite", "run", "tuning", "progress", "ray_executor"),
}.items() for old in modules}


class _FlatPathAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import harness.trainer` gives `harness.training.trainer` itself (one module object, one state)."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.rpartition(".")
        if prefix == __name__ and name in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{__name__}.{MOVED[spec.name.rpartition('.')[2]]}")

    def exec_module(self, module):
        pass


if not any(isinstance(finder, _FlatPathAliases) for finder in sys.meta_path):
    sys.meta_path.append(_FlatPathAliases())
