"""Rollout engines: sample responses and their behaviour log-probs from token-id prompts."""

from __future__ import annotations

from harness.core.registry import registrar

ENGINES: dict[str, type] = {}
BUILTIN_MODULES = ("harness.engines.hf", "harness.engines.vllm")
register = registrar(ENGINES, "engine")
