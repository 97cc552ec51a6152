"""Suite files: the pydantic schema, validated once at the edge, then passed on as typed objects."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from harness.core.errors import UserError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def known_fields(cls, data):
        """Name the valid fields in the message: a typo should be fixable from the error alone."""
        if isinstance(data, dict):
            unknown = [str(k) for k in data if k not in cls.model_fields]
            if unknown:
                raise ValueError(f"unknown field {', '.join(map(repr, unknown))}; valid: {', '.join(cls.model_fields)}")
        return data


class EmbeddedModel(Strict):
    """A tiny Llama built from a config, with a byte-level BPE tokenizer learned from the tasks: no download needed."""

    hidden_size: int = Field(128, gt=0)
    intermediate_size: int = Field(384, gt=0)
    num_layers: int = Field(4, gt=0)
    num_heads: int = Field(4, gt=0)
    num_kv_heads: int = Field(2, gt=0)
    max_positions: int = Field(256, gt=0)
    vocab_size: int = Field(512, ge=260, description="BPE vocabulary: 256 bytes, 4 specials, merges")


class WarmStart(Strict):
    """Supervised warm start on the train tasks' demonstrations; cached by a hash of this config."""

    steps: int = Field(600, ge=0)
    batch_size: int = Field(64, gt=0)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine decays to this share of lr, not to 0, so the "
                                "base does not sit in a minimum so sharp that any RL step falls out of it")
    seed: int = 0


class ModelSpec(Strict):
    embedded: EmbeddedModel | None = None
    path: str | None = Field(None, description="HF model id or local directory instead of the embedded model")
    warm_start: WarmStart = WarmStart()
    dtype: Literal["float32", "bfloat16", "auto"] = Field("float32", description="the weights' dtype when loaded "
                                                          "(auto: the checkpoint's own); bfloat16 trains in bf16 "
                                                          "throughout — for float32 master weights use train.mixed_precision")

    @model_validator(mode="after")
    def one_source(self):
        if self.embedded is not None and self.path is not None:
            raise ValueError("give either model.embedded or model.path, not both")
        return self

    @property
    def is_embedded(self) -> bool:
        return self.path is None


class RewardTask(Strict):
    """A task without a plugin: a data file plus a TRL-style reward function named by dotted path."""

    reward: str = Field(pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$",
                        description="module:function or path/to/file.py:function; called as "
                                    "f(prompts=..., completions=..., **columns) and returns one float per completion")
    data: str = Field(description="JSONL or CSV file, one row per problem, with a prompt column")
    eval_data: str | None = Field(None, description="held-out file; else a hash split of `data`")
    prompt_column: str = "prompt"
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    eval_size: int | None = Field(None, gt=0)
    correct_at: float = Field(1.0, description="a completion counts as correct (pass@k) when its reward >= this")
    chat: bool = Field(False, description="send the prompt through the tokenizer's chat template")


class TaskSpec(Strict):
    train: str
    eval: list[str] = Field(min_length=1)
    options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-task constructor arguments")
    custom: dict[str, RewardTask] = Field(default_factory=dict, description="tasks defined by a reward function")

    @model_validator(mode="after")
    def custom_names_are_used_plainly(self):
        clash = sorted(set(self.custom) & set(self.options))
        if clash:
            raise ValueError(f"custom task {clash[0]!r} takes its settings in tasks.custom, not tasks.options")
        return self


class Budget(Strict):
    flops: float | None = Field(None, gt=0)
    tokens: float | None = Field(None, gt=0)
    seconds: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def exactly_one(self):
        given = [k for k in ("flops", "tokens", "seconds") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of flops, tokens, seconds (a positive number)")
        return self

    @property
    def unit(self) -> str:
        return next(k for k in ("flops", "tokens", "seconds") if getattr(self, k) is not None)

    @property
    def limit(self) -> float:
        return float(getattr(self, self.unit))


class Rollout(Strict):
    prompts_per_step: int = Field(16, gt=0)
    samples_per_prompt: int = Field(8, ge=2, description="group size G")
    max_new_tokens: int = Field(32, gt=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)


class Train(Strict):
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    warmup_steps: int = Field(10, ge=0, description="linear learning-rate warm-up, in optimizer updates")
    updates_per_batch: int = Field(4, gt=0, description="minibatch updates per rollout batch (>1 is off-policy)")
    epochs: int = Field(1, gt=0)
    grad_accumulation: int = Field(1, gt=0, description="forward/backward each minibatch in this many pieces (to fit "
                                   "memory); the update does not change, so it is not part of a run's config hash")
    parallel: Literal["ddp", "fsdp"] = Field("ddp", description="under torchrun: DDP keeps a whole model per process; "
                                              "FSDP splits weights, gradients and optimizer state over them (large "
                                              "models). Not part of the config hash: the update is the same")
    # Settings every algorithm of the suite shares (an algorithm's own explicit value still wins):
    trust_region: Literal["scaled", "matched", "paper"] = Field(
        "scaled", description="scaled: one rule for every unit, ε = ε₁/√|u| for a unit whose ratio is a mean of |u| "
        "token log-ratios (ε₁·√|u| for a sum); matched: per minibatch, each unit's bound at the quantile of unit "
        "log-ratios that clips the same share as ε₁ clips tokens; paper: each method's published ε")
    eps_low: float = Field(0.2, gt=0, lt=1, description="token-level ε₁ of the trust region, lower side")
    eps_high: float = Field(0.2, gt=0, description="token-level ε₁, upper side (DAPO keeps its clip-higher 0.28)")
    kl_coef: float = Field(0.0, ge=0, description="k3 KL to the reference model for every algorithm (its reference "
                           "forward is charged to the budget); 0 leaves the reference out")
    mixed_precision: Literal["no", "bf16"] = Field("no", description="bf16: forward passes under bf16 autocast while "
                                                   "weights, gradients and optimizer state stay float32 (as TRL and "
                                                   "verl train); behaviour log-probs are recomputed the same way")
    checkpoint_every: float | None = Field(None, gt=0, description="also write a resume point every N steps (N >= 1) "
                                              "or every fraction of the budget (< 1), besides each evaluation point; "
                                              "not part of the config hash: results do not change")
    keep_checkpoints: int = Field(0, ge=0, description="keep the model of the last N resume points as Hugging Face "
                                  "directories (checkpoints/step_*) beside the final one")
    max_behaviour_gap: float = Field(1e-3, gt=0, description="stop a run whose first batch's sampler log-probs differ "
                                     "from the trainer's recomputation by more (mean |Δ log p|): the ratios would "
                                     "start off 1. Raise it for bf16 engines whose kernels differ from training's")

    def algorithm_settings(self) -> dict[str, Any]:
        """What the suite sets for every algorithm, unless an algorithm's parameters set it themselves."""
        return {"trust_region": self.trust_region, "eps_low": self.eps_low, "eps_high": self.eps_high,
                "kl_coef": self.kl_coef}


class Eval(Strict):
    n: int = Field(4, gt=0, description="samples per problem")
    k: list[int] = Field(default_factory=lambda: [1, 4])
    limit: int | None = Field(None, gt=0, description="evaluate at most this many problems per task")
    temperature: float = Field(1.0, ge=0)
    max_new_tokens: int | None = Field(None, gt=0)
    every: float | None = Field(None, gt=0, le=1, description="also evaluate each time this share of the budget "
                                "is spent (0.25: at 25, 50, 75 %), for learning curves over the budget axis")

    @property
    def points(self) -> list[float]:
        """Budget fractions of the intermediate evaluations (the final one is always made)."""
        if self.every is None:
            return []
        return [round(i * self.every, 9) for i in range(1, int(1 / self.every + 1e-9) + 1) if i * self.every < 1 - 1e-9]

    @model_validator(mode="after")
    def k_within_n(self):
        bad = [k for k in self.k if not 1 <= k <= self.n]
        if bad:
            raise ValueError(f"eval.k values {bad} must lie in 1..n (n = {self.n})")
        return self


class Executor(Strict):
    """Where runs execute. Not part of a run's config hash: the same run gives the same result anywhere."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="ray: a cluster address ('auto' joins the running cluster); "
                                "unset starts a local Ray instance")
    cpus_per_run: int | None = Field(None, gt=0, description="CPU threads a run uses (ray: reserves them; default 1 "
                                     "for ray, all cores for local)")
    gpus_per_run: float = Field(0, ge=0, description="GPUs a ray task reserves")
    workers: int = Field(1, ge=1, description="local: runs at once, each in its own process with cpus_per_run "
                         "threads (default 1 when workers > 1); a tiny model leaves cores idle in one run's overhead")

    @model_validator(mode="before")
    @classmethod
    def shorthand(cls, v):
        return {"kind": v} if isinstance(v, str) else v

    @property
    def threads(self) -> int | None:
        return self.cpus_per_run or (1 if self.kind == "ray" or self.workers > 1 else None)


class EngineSpec(Strict):
    """`engine: hf`, or `engine: {name: hf, decode: compiled}`: every key besides `name`
    is an option of the engine's constructor (checked against it before any work)."""

    name: str = "hf"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def known_fields(cls, data):
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, dict):
            options = {k: v for k, v in data.items() if k != "name"}
            return {"name": data.get("name", "hf"), "options": options}
        return data

    @model_serializer(mode="wrap")
    def shorthand(self, handler):
        """A bare name when there are no options, so run ids of option-less suites keep their hash."""
        return {"name": self.name, **self.options} if self.options else self.name


class Tune(Strict):
    """Equal tuning effort: every algorithm setting gets the same grid (the same number of trials),
    each trial trained under the suite's budget and scored on the train task's validation split; the
    best value per setting, by `criterion`, is used for the final runs on the eval split."""

    grid: dict[str, list[Any]] = Field(min_length=1, description="hyper-parameter → values: a train field "
                                       "(lr, updates_per_batch, ...) or a parameter of every algorithm of the suite")
    criterion: Literal["auc_pass@1", "pass@1"] = Field("auc_pass@1", description="auc_pass@1: mean validation "
                                                       "pass@1 over the budget axis; pass@1: at the end of the budget")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="seeds of each trial, averaged")

    @field_validator("grid")
    @classmethod
    def grid_values(cls, v):
        for key, values in v.items():
            if not values:
                raise ValueError(f"tune.grid.{key}: give at least one value, e.g. [1.0e-4, 3.0e-4]")
            if len({json.dumps(x, sort_keys=True) for x in values}) < len(values):
                raise ValueError(f"tune.grid.{key}: {values} repeats a value")
            if key in ("grad_accumulation", "parallel"):
                raise ValueError(f"tune.grid.{key}: does not change the update, nothing to tune")
            if key in Train.model_fields:
                for value in values:
                    try:
                        Train.model_validate({key: value})
                    except ValidationError as e:
                        raise ValueError(f"tune.grid.{key}: {value!r}: {e.errors()[0]['msg']}") from None
        return v


class Suite(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: ModelSpec = ModelSpec()
    tasks: TaskSpec
    algorithms: dict[str, dict[str, Any]] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0])
    budget: Budget
    rollout: Rollout = Rollout()
    train: Train = Train()
    eval: Eval = Eval()
    engine: EngineSpec = EngineSpec()
    executor: Executor = Executor()
    tune: Tune | None = None
    report_to: list[Literal["tensorboard", "mlflow", "wandb", "trackio"]] = Field(
        default_factory=list, description="experiment trackers every run is mirrored into (harness.results.tracking)")
    baseline: str | None = Field(None, description="a row (algorithm setting) every other row is compared with: "
                                 "paired differences, bootstrap intervals, Holm-corrected p-values (comparisons.csv)")

    @field_validator("algorithms", mode="before")
    @classmethod
    def none_is_defaults(cls, v):
        if isinstance(v, dict):
            return {name: (params or {}) for name, params in v.items()}
        if isinstance(v, list):  # `algorithms: [grpo, gspo]` is shorthand for default settings
            return {name: {} for name in v}
        return v

    @field_validator("algorithms")
    @classmethod
    def sweeps_are_lists_of_distinct_values(cls, v):
        for name, params in v.items():
            if not isinstance(params.get("algorithm", name), str):
                raise ValueError(f"{name}.algorithm: name one registered algorithm, e.g. algorithm: grpo")
            for key, values in params.items():
                if isinstance(values, list) and not values:
                    raise ValueError(f"{name}.{key}: a sweep needs at least one value, e.g. [2, 4]")
                if isinstance(values, list) and len({json.dumps(x, sort_keys=True) for x in values}) < len(values):
                    raise ValueError(f"{name}.{key}: sweep {values} repeats a value")
        return v

    @field_validator("seeds")
    @classmethod
    def distinct_seeds(cls, v):
        if not v:
            raise ValueError("give at least one seed, e.g. seeds: [0, 1, 2]")
        if len(set(v)) < len(v):
            raise ValueError(f"seeds {v} repeat a seed; each seed is one run")
        return v

    @model_validator(mode="after")
    def baseline_is_a_row(self):
        if self.baseline is not None:
            labels = list(dict.fromkeys(run.label for run in runs_of(self)))
            if self.baseline not in labels:
                raise ValueError(f"baseline {self.baseline!r} is not a row of this suite; rows: {', '.join(labels)}")
        return self


class RunSpec(Strict):
    """One (algorithm setting × train task × seed) of a suite, fully resolved."""

    suite: str
    algorithm: str  # the registered name
    params: dict[str, Any]  # the setting's own parameters (the suite's shared ones are in `train`)
    label: str  # the setting's name plus its swept parameters, e.g. mpo_k4: the leaderboard row name
    task: str
    seed: int
    split: Literal["eval", "validation"] = "eval"  # validation: a tuning trial, scored on the train task's
    tuned: dict[str, Any] = Field(default_factory=dict)  # values the tuning protocol chose for this setting
    model: ModelSpec
    tasks: TaskSpec
    budget: Budget
    rollout: Rollout
    train: Train
    eval: Eval
    engine: EngineSpec
    report_to: list[str] = Field(default_factory=list)  # where the run is mirrored; not part of its identity

    def config_hash(self) -> str:
        """Hash of everything that determines the result except the seed: equal across a row's seeds.
        It holds the code's own `version`s (the algorithm's, each task's and its scorer's), so a run
        finished before a behaviour change is never taken for one made after it."""
        payload = self.model_dump(mode="json", exclude={"seed": True, "suite": True, "report_to": True,
                                                   "train": {"grad_accumulation", "parallel", "max_behaviour_gap",
                                                             "checkpoint_every", "keep_checkpoints"}})
        payload["versions"] = self.code_versions()
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]

    def code_versions(self) -> dict[str, Any]:
        from harness.spec.plugins import ALGORITHMS, TASKS, task_of

        tasks = {}
        for name in dict.fromkeys([self.task, *self.tasks.eval]):
            task = task_of(name, self.tasks) if name in self.tasks.custom else TASKS.get(name)  # a custom task's
            tasks[name] = [task.version, getattr(task, "scorer", "")]  # version is its data's and function's digest
        return {"algorithm": ALGORITHMS.get(self.algorithm).version, "tasks": tasks}

    @property
    def run_id(self) -> str:
        return f"{self.label}-{self.task}-{self.seed}-{self.config_hash()}"


def _format_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid suite"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def load_suite(path: str | Path, seeds: list[int] | None = None, report_to: list[str] | None = None) -> Suite:
    """The validated suite in `path`; `seeds` replaces its seed list (e.g. `grainbench run --seeds 0,1,2`)
    and `report_to` its trackers (`--report-to tensorboard,mlflow`)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass a suite YAML file, e.g. {path / 'quick.yaml'}")
    if not path.is_file():
        raise UserError(f"suite file {path} not found; pass the path to a YAML suite such as suites/quick.yaml")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        tabs = "; YAML indents with spaces, and this file has tabs" if "\t" in text else ""
        raise UserError(f"{path}: malformed YAML{where}: {getattr(e, 'problem', None) or e}{tabs}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a suite must be a YAML mapping with keys such as tasks, algorithms, budget")
    raw.setdefault("name", path.stem)
    if seeds is not None:
        raw["seeds"] = seeds
    if report_to is not None:
        raw["report_to"] = report_to
    try:
        return Suite.model_validate(raw)
    except ValidationError as e:
        raise UserError(_format_error(path, e)) from None


def expand_sweep(params: dict[str, Any]) -> list[dict[str, Any]]:
    """`{k: [2, 4], clip_low: 0.1}` → one parameter dict per combination of the listed values."""
    keys = sorted(params)
    grids = [params[k] if isinstance(params[k], list) else [params[k]] for k in keys]
    return [dict(zip(keys, combo)) for combo in itertools.product(*grids)]


def sweep_label(name: str, params: dict[str, Any], swept: set[str]) -> str:
    parts = [name] + [f"{k}{params[k]}" for k in sorted(swept)]
    return "_".join(str(p) for p in parts)


def settings_of(suite: Suite) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, registered algorithm, parameters) of every row: `mpo: {k: [2, 4]}` gives mpo_k2 and mpo_k4;
    `grpo_kl: {algorithm: grpo, kl_coef: 0.04}` names a setting of a registered algorithm."""
    rows = []
    for name, params in suite.algorithms.items():
        params = dict(params)
        algorithm = params.pop("algorithm", name)
        swept = {k for k, v in params.items() if isinstance(v, list)}
        rows += [(sweep_label(name, combo, swept), algorithm, combo) for combo in expand_sweep(params)]
    return rows


def with_values(run: RunSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The RunSpec fields that change when `values` (train fields or algorithm parameters) are applied."""
    train = {k: v for k, v in values.items() if k in Train.model_fields}
    params = {k: v for k, v in values.items() if k not in train}
    return {"train": run.train.model_copy(update=train), "params": {**run.params, **params}}


def runs_of(suite: Suite, chosen: dict[str, dict[str, Any]] | None = None) -> list[RunSpec]:
    """The final runs; `chosen` holds the tuned values per row label."""
    runs = []
    for label, algorithm, params in settings_of(suite):
        for seed in suite.seeds:
            run = RunSpec(suite=suite.name, algorithm=algorithm, params=params, label=label, task=suite.tasks.train,
                          seed=seed, model=suite.model, tasks=suite.tasks, budget=suite.budget, rollout=suite.rollout,
                          train=suite.train, eval=suite.eval, engine=suite.engine, report_to=suite.report_to)
            if chosen and label in chosen:
                run = run.model_copy(update={**with_values(run, chosen[label]), "tuned": chosen[label]})
            runs.append(run)
    return runs


def tuning_runs(suite: Suite) -> list[tuple[str, RunSpec]]:
    """(row label, trial) for every grid point of every row, on the tuning seeds, scored on the train
    task's validation split."""
    if suite.tune is None:
        return []
    grid = suite.tune.grid
    trials = []
    for run in runs_of(suite.model_copy(update={"seeds": suite.tune.seeds})):
        for values in expand_sweep({k: list(v) for k, v in grid.items()}):
            trials.append((run.label, run.model_copy(update={
                **with_values(run, values), "split": "validation", "tuned": values,
                "label": sweep_label(run.label, values, set(values)),
                "tasks": run.tasks.model_copy(update={"eval": [run.task]}),
            })))
    return trials
