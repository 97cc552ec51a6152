"""Log set-up shared by the CLI and every process that runs a run (local workers, Ray tasks)."""

from __future__ import annotations

import logging
import os


def quiet_libraries() -> None:
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun the others log warnings only
    logging.basicConfig(level=logging.INFO if main_process else logging.WARNING, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


STEPS = "harness.suites.run.steps"  # one line per training step: in each run's run.log, not among a terminal's progress bars
