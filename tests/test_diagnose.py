"""`grainbench diagnose` on a model where the answers are known: on-policy, algorithms that differ only
off-policy have one gradient; the first update neither clips nor has moved; an unbiased estimator's
agreement with the reference gradient grows with its sample count."""

import math

import pandas as pd
import pytest
import torch
import yaml

from harness.diagnostics.diagnose import REFERENCE, Probe, Settings, reinforce_gradient
from harness.diagnostics.measures import cosine, credit_after_error, signal_to_noise
from harness.spec.config import load_suite
from harness.suites.suite import check_names, resolve_base
from tests.conftest import ROOT, cli_in_process, cli_output_in_process

ALGORITHMS = {"grpo": {}, "gspo": {}, "mpo": {"k": 4}, "dapo": {}, "token_pg": {}}
DENSE_REWARD = """
def digit_share(prompts, completions, **columns):
    return [sum(ch.isdigit() for ch in text) / max(len(text), 1) for text in completions]
"""


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory):
    """A freshly initialised model and a dense reward (the share of digits it writes): every response
    carries gradient signal, with no warm start to wait for."""
    tmp = tmp_path_factory.mktemp("diagnose")
    (tmp / "dense.py").write_text(DENSE_REWARD)
    (tmp / "prompts.jsonl").write_text("".join(f'{{"prompt": "Start at {i}, then add {i % 7 + 1}. Result?\\n"}}\n'
                                               for i in range(200)))
    suite = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())
    suite["model"]["warm_start"]["steps"] = 0
    suite.update(name="tiny_diagnose", algorithms=ALGORITHMS,
                 tasks={"train": "dense", "eval": ["arith"], "options": suite["tasks"]["options"],
                        "custom": {"dense": {"reward": f"{tmp / 'dense.py'}:digit_share", "data": str(tmp / "prompts.jsonl"),
                                             "correct_at": 0.5}}},
                 rollout={"prompts_per_step": 4, "samples_per_prompt": 4, "max_new_tokens": 12},
                 train={"lr": 1.0e-2, "updates_per_batch": 2, "kl_coef": 0.0})
    path = tmp / "tiny_diagnose.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path, tmp


@pytest.fixture(scope="module")
def diagnosis(tiny_suite):
    path, tmp = tiny_suite
    code, out, err = cli_output_in_process("diagnose", str(path), "--out", str(tmp / "out"), "--cache", str(tmp / "cache"),
                                           "--minibatches", "3", "--reference-prompts", "8", "--reference-samples", "4",
                                           "--probe-prompts", "4")
    assert code == 0, err[-3000:]
    return pd.read_csv(tmp / "out" / "diagnose.csv"), tmp / "out", out


def value(table, algorithm, measure, update=None):
    rows = table[(table["algorithm"] == algorithm) & (table["measure"] == measure)]
    if update is not None:
        rows = rows[rows["update"] == update]
    (v,) = rows["value"].tolist()
    return v


def test_on_policy_the_family_shares_one_gradient(diagnosis):
    table, out, stdout = diagnosis
    # GRPO, GSPO and MPO differ only once the policy has moved: the same gradient at the checkpoint
    for measure in ("gradient_cosine", "gradient_snr"):
        for other in ("gspo", "mpo"):
            assert abs(value(table, other, measure) - value(table, "grpo", measure)) < 1e-5, (other, measure)
    # another advantage (token PG's leave-one-out, no division by the group's spread) is another gradient
    assert abs(value(table, "token_pg", "gradient_cosine") - value(table, "grpo", "gradient_cosine")) > 1e-4
    assert set(table["algorithm"]) == {REFERENCE, "grpo", "gspo", "mpo", "dapo", "token_pg"}
    assert (table["minibatch_responses"] == 8).all() and (table["reference_responses"] == 32).all()
    assert (out / "diagnose.png").stat().st_size > 10_000 and "gradient_cosine" in stdout


def test_the_first_update_is_on_policy_and_every_update_is_measured(diagnosis):
    table, _, _ = diagnosis
    for algorithm in ("grpo", "gspo", "mpo", "dapo"):
        assert value(table, algorithm, "clip_frac", 1) == 0  # ratio one: nothing to clip
        assert abs(value(table, algorithm, "kl_old", 1)) < 1e-6
        assert value(table, algorithm, "kl_old", 2) > 0  # the second minibatch meets a moved policy
        assert sorted(table[(table["algorithm"] == algorithm) & (table["measure"] == "reward")]["update"]) == [0, 1, 2]
    assert sorted(table[(table["algorithm"] == "token_pg") & (table["measure"] == "reward")]["update"]) == [0, 1]  # on-policy only
    base = {value(table, a, "reward", 0) for a in ("grpo", "gspo", "dapo", "token_pg")}
    assert len(base) == 1  # one probe, one base measurement
    assert not table["measure"].str.contains("error").any()  # this task cannot tell where a response went wrong


def test_an_unbiased_estimators_agreement_grows_with_its_samples(tiny_suite, diagnosis):
    path, tmp = tiny_suite
    suite = load_suite(path)
    base, _ = resolve_base(suite, tmp / "cache")
    probe = Probe(suite, base, Settings())
    trainer = probe.trainer(check_names(suite)[0])
    reference = reinforce_gradient(trainer, probe.rollout(trainer, 64, 8, "reference"), 8)
    draws = probe.rollout(trainer, 32, 4, "estimates")
    small = [reinforce_gradient(trainer, _part(draws, i * 4, 4), 4) for i in range(8)]  # 1 prompt each
    large = [reinforce_gradient(trainer, _part(draws, i * 64, 64), 4) for i in range(2)]  # 16 prompts each
    mean_small = sum(cosine(g, reference) for g in small) / len(small)
    mean_large = sum(cosine(g, reference) for g in large) / len(large)
    assert mean_large > mean_small + 0.05 and mean_small > 0


def _part(rollout, start, size):
    from harness.training.trainer import Rollout

    return Rollout(*[column[start:start + size] for column in rollout.columns()])


def test_credit_and_noise_measures_on_hand_made_numbers():
    push = torch.tensor([[1.0, -1.0, -3.0, 0.0], [-2.0, -2.0, 0.0, 0.0], [5.0, 5.0, -9.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False], [True, True, True, False]])
    after, tokens = credit_after_error(push, mask, [1, None, 2])
    assert after == pytest.approx((1 + 3 + 9) / (1 + 3 + 9)) and tokens == pytest.approx((2 + 1) / (3 + 3))
    after, tokens = credit_after_error(push, mask, [2, None, 0])
    assert after == pytest.approx((3 + 9) / 13) and tokens == pytest.approx((1 + 3) / 6)
    assert math.isnan(credit_after_error(push, mask, [None, None, None])[0])
    same = [torch.tensor([1.0, 0.0])] * 3
    assert signal_to_noise(same) > 1e20  # no noise at all
    assert signal_to_noise([torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0])]) == 0  # pure noise


def test_first_wrong_step_maps_to_its_token():
    from types import SimpleNamespace

    from harness.diagnostics.diagnose import first_wrong_tokens
    from harness.training.embedded import build_tokenizer
    from harness.training.trainer import Rollout
    from tasks.base import Problem
    from tasks.chain import Chain

    tokenizer = build_tokenizer(["10+5=15\n15*2=30\n#### 30"])
    problem = Problem(id="x", prompt="Start at 10, then add 5, double. Result?\n", answer="30")
    texts = ["10+5=15\n15*2=30\n#### 30", "10+5=15\n15*2=31\n#### 31", "7\n"]
    gens = [SimpleNamespace(response_ids=tokenizer(t)["input_ids"]) for t in texts]
    probe = SimpleNamespace(task=Chain(), tokenizer=tokenizer)
    first = first_wrong_tokens(probe, Rollout([problem] * 3, [[]] * 3, gens, [None] * 3))
    assert first[0] is None and first[2] == 0
    assert tokenizer.decode(gens[1].response_ids[first[1]:]) == "15*2=31\n#### 31"


def test_a_folder_that_is_not_a_checkpoint_is_one_error(tmp_path):
    code, err = cli_in_process("diagnose", str(tmp_path))
    assert code == 2 and "not a checkpoint directory" in err and err.count("error:") == 1
