#!/usr/bin/env bash
# The GPU check, unattended, within ~8 minutes on one CUDA device with nothing downloaded (random-init
# models only): the `gpu` marker tests, then one RL step of grainbench vs TRL at the Qwen2.5-0.5B
# shape. Everything it prints also lands in one folder: ${OUT:-gpu_check}/ (tests.log, rl_step.log,
# summary.md).
#
#     bash benchmarks/gpu_check.sh            # from the repository root, in an environment with grainbench[test]
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu_check}"
mkdir -p "$out"
python - <<'PY' | tee "$out/device.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
PY
timeout 240 python -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tee "$out/tests.log"
tests=${PIPESTATUS[0]}
timeout 300 python benchmarks/rl_step.py --shape qwen2.5-0.5b --prompts 8 --samples 8 --new-tokens 256 --steps 2 \
    --peak-tflops "${PEAK_TFLOPS:-989}" 2>&1 | tee "$out/rl_step.log"
bench=${PIPESTATUS[0]}
{
  echo "# GPU check"
  cat "$out/device.txt"
  echo
  echo "gpu tests: exit $tests — $(tail -n 1 "$out/tests.log")"
  echo
  echo "rl_step (exit $bench):"
  grep -E '^\|' "$out/rl_step.log" || tail -n 15 "$out/rl_step.log"
} | tee "$out/summary.md"
exit $(( tests != 0 || bench != 0 ))
