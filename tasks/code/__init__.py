"""Code tasks: programs extracted from completions, scored by unit tests in a sandbox.

`check_solution` is the one scoring path (benchmarks, synthetic task, RL rewards); `run_program`
runs a bare program. See `sandbox` for what each isolation mode contains.
"""

from tasks.code.checking import check_solution
from tasks.code.sandbox import Verdict, run_program

__all__ = ["Verdict", "check_solution", "run_program"]
