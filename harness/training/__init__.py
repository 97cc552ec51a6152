"""Training: the RL trainer, its budget, policy log-probs, and the embedded model with its checkpoints."""
