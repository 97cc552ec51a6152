"""The bottom layer: errors, atomic file writes, logging, registries, environment facts, torch.distributed helpers."""
