"""A third-party algorithm found through the `grainbench.algorithms` entry point, listed and trained."""

import textwrap

from tests.conftest import ROOT, cli_in_process, grainbench


def make_plugin(root):
    """An installed-looking distribution on sys.path: a module plus its dist-info with entry points."""
    (root / "half_grpo.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass

        from algorithms.batch import token_positions
        from algorithms.grpo import GRPO


        @dataclass
        class HalfGRPO(GRPO):
            fraction: float = 0.5
            version = "1"

            def loss_mask(self, batch):
                lengths = batch.mask.sum(dim=1, keepdim=True)
                return batch.mask & (token_positions(batch.mask) < (lengths * self.fraction).ceil())
    '''))
    dist = root / "half_grpo-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: half-grpo\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[grainbench.algorithms]\nhalf_grpo = half_grpo:HalfGRPO\n")


def test_entry_point_algorithm_is_listed_and_trains(tmp_path):
    plugin = tmp_path / "site"
    plugin.mkdir()
    make_plugin(plugin)
    env = {"PYTHONPATH": f"{plugin}:{ROOT}"}
    listed = grainbench("algorithms", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "half_grpo: unit=token ratio=token" in listed.stdout and '"fraction": 0.5' in listed.stdout

    suite = (ROOT / "suites" / "smoke.yaml").read_text().replace("grpo: {}", "half_grpo: {fraction: 0.25}")
    suite = suite.replace("flops: 2.0e9", "flops: 3.0e8")
    (tmp_path / "s.yaml").write_text(suite)
    run = grainbench("run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"), env=env)
    assert run.returncode == 0, run.stderr
    (run_dir,) = (tmp_path / "out" / "runs").iterdir()
    assert run_dir.name.startswith("half_grpo-arith-0-") and (run_dir / "DONE").exists()
    assert "half_grpo" in (tmp_path / "out" / "leaderboard.csv").read_text()

    code, err = cli_in_process("validate", str(tmp_path / "s.yaml"))  # not installed here → unknown name
    assert code == 2 and "unknown algorithm 'half_grpo'" in err


def test_a_broken_or_clashing_plugin_is_one_error_and_other_verbs_work(tmp_path):
    plugin = tmp_path / "site"
    plugin.mkdir()
    make_plugin(plugin)
    dist = plugin / "half_grpo-0.1.0.dist-info"
    (dist / "entry_points.txt").write_text("[grainbench.algorithms]\ngrpo = half_grpo:HalfGRPO\nghost = half_grpo:Missing\n")
    env = {"PYTHONPATH": f"{plugin}:{ROOT}"}
    listed = grainbench("algorithms", env=env)
    assert listed.returncode == 2 and listed.stderr.count("error:") == 1 and "Traceback" not in listed.stderr
    assert "half-grpo" in listed.stderr and ("grpo = half_grpo:HalfGRPO" in listed.stderr or "ghost = half_grpo:Missing" in listed.stderr)
    smoke = grainbench("validate", str(ROOT / "suites" / "smoke.yaml"), env=env)  # uses grpo: the clash
    assert smoke.returncode == 2 and "built-in" in smoke.stderr and "half-grpo" in smoke.stderr
    tasks = grainbench("tasks", env=env)  # the bad plugin is not used here
    assert tasks.returncode == 0 and "arith" in tasks.stdout


def test_the_plugin_guides_own_test_passes_outside_the_repository(tmp_path):
    """The test the plugin guide shows, taken from the guide, run by pytest in the plugin's folder."""
    import re
    import subprocess
    import sys

    plugin = tmp_path / "site"
    plugin.mkdir()
    make_plugin(plugin)
    guide = (ROOT / "docs" / "adding-an-algorithm.md").read_text()
    (snippet,) = [block for block in re.findall(r"```python\n(.*?)```", guide, re.DOTALL) if "def test_" in block]
    (plugin / "test_half_grpo.py").write_text(snippet)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_half_grpo.py"], cwd=plugin,
                       env={**__import__("os").environ, "PYTHONPATH": f"{plugin}:{ROOT}"}, capture_output=True, text=True)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr
