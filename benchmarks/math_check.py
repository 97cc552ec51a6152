"""Math scorer benchmark: accuracy and checks/s of grainbench's `is_equiv` and of math-verify, side by side.

Pairs (labelled) come from real data in DATA (default ../shared/data):
  gsm8k   each GSM8K test gold vs. a reformatting of itself (commas, $, .0, units, "#### n") -> equal,
          and vs. a nearby different number -> not equal;
  math    each MATH-500 `answer` vs. the boxed answer of its reference solution -> equal, and vs. a
          different problem's answer -> not equal (unless the two strings are identical);
  dev     the hand-labelled pairs of math_equiv_dev.jsonl;
  full    whole responses, the reward's full path: each MATH-500 reference solution as written (boxed),
          and again with its boxes unwrapped and the answer stated in prose at the end ("Therefore, the
          answer is $X$.", "**Answer:** $X$", "So we get $X$."), vs. its gold -> equal and vs. a
          different problem's gold -> not equal. grainbench: is_equiv(extract_answer(response), gold);
          math-verify: verify(parse(gold), parse(response)), its own extraction.
math-verify runs as its README shows: verify(parse(gold), parse(pred)) with its own (signal) timeouts,
on the main thread, both strings wrapped in \\boxed{} (except full responses, parsed as they are).

    python benchmarks/math_check.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import time
from pathlib import Path

from tasks.math.answer import extract_answer, is_equiv
from tasks.math.bounded import default_checker


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gsm8k_pairs(data: Path, rng: random.Random) -> list[tuple[str, str, bool]]:
    pairs = []
    for row in read_jsonl(data / "gsm8k" / "test.jsonl"):
        gold = row["answer"].split("####")[-1].strip()
        value = int(gold.replace(",", ""))
        styles = [f"{value:,}", f"${value}", f"{value}.0", f"{value} dollars", f"#### {value}", f"The answer is {value}."]
        pairs.append((rng.choice(styles), gold, True))
        pairs.append((str(value + rng.choice([-10, -1, 1, 2, 10])), gold, False))
    return pairs


def math_pairs(data: Path, rng: random.Random) -> list[tuple[str, str, bool]]:
    rows = read_jsonl(data / "math500" / "test.jsonl")
    pairs = [(extract_answer(r["solution"]) or "", r["answer"], True) for r in rows]
    for r in rows:
        other = rng.choice(rows)["answer"]
        pairs.append((other, r["answer"], other.strip() == r["answer"].strip()))
    return pairs


def full_responses(data: Path, rng: random.Random) -> list[tuple[str, str, bool]]:
    rows = read_jsonl(data / "math500" / "test.jsonl")
    endings = ["Therefore, the answer is ${}$.", "**Answer:** ${}$", "So we get ${}$."]
    triples = []
    for r in rows:
        prose = re.sub(r"\\boxed\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}", r"\1", r["solution"])
        for response in (r["solution"], prose + "\n\n" + rng.choice(endings).format(r["answer"])):
            triples.append((response, r["answer"], True))
            other = rng.choice(rows)["answer"]
            if other.strip() != r["answer"].strip():
                triples.append((response, other, False))
    return triples


def dev_pairs(data: Path) -> list[tuple[str, str, bool]]:
    return [(r["pred"], r["gold"], r["equal"]) for r in read_jsonl(data / "math_equiv_dev.jsonl")]


def math_verify_equiv(pred: str, gold: str) -> bool:
    from math_verify import parse, verify

    return verify(parse("\\boxed{" + gold + "}"), parse("\\boxed{" + pred + "}"))


def full_path(response: str, gold: str) -> bool:
    return is_equiv(extract_answer(response) or "", gold)


def math_verify_full(response: str, gold: str) -> bool:
    from math_verify import parse, verify

    return verify(parse("\\boxed{" + gold + "}"), parse(response))


def measure(check, pairs) -> tuple[float, int, float]:
    """Accuracy, false positives (a wrong answer scored right), checks per second."""
    started = time.perf_counter()
    verdicts = [check(p, g) for p, g, _ in pairs]
    seconds = time.perf_counter() - started
    correct = sum(v == label for v, (_, _, label) in zip(verdicts, pairs))
    false_positives = sum(v and not label for v, (_, _, label) in zip(verdicts, pairs))
    return correct / len(pairs), false_positives, len(pairs) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--limit", type=int, default=None, help="pairs per set (default all)")
    args = ap.parse_args()
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    rng = random.Random(0)
    sets = {"gsm8k": gsm8k_pairs(args.data, rng), "math": math_pairs(args.data, rng), "dev": dev_pairs(args.data),
            "full": full_responses(args.data, rng)}
    default_checker().start()  # the worker's one-off start (imports) is not a check
    math_verify_equiv("1", "1")  # nor is math-verify's first import
    print(f"{'set':<6} {'pairs':>6} | {'grainbench acc':>14} {'FP':>3} {'checks/s':>9} | "
          f"{'math-verify acc':>15} {'FP':>3} {'checks/s':>9} | speed ratio")
    for name, pairs in sets.items():
        pairs = pairs[: args.limit]
        ours, theirs = (full_path, math_verify_full) if name == "full" else (is_equiv, math_verify_equiv)
        ours_acc, ours_fp, ours_rate = measure(ours, pairs)
        mv_acc, mv_fp, mv_rate = measure(theirs, pairs)
        print(f"{name:<6} {len(pairs):>6} | {ours_acc:>14.4f} {ours_fp:>3} {ours_rate:>9.0f} | "
              f"{mv_acc:>15.4f} {mv_fp:>3} {mv_rate:>9.0f} | {ours_rate / mv_rate:>6.1f}x")


if __name__ == "__main__":
    main()
