"""Evaluation of a checkpoint on a task: pass@k and maj@n, through a grainbench engine or lm-eval."""
