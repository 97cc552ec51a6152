"""Where benchmark rows come from: a local JSONL file or folder, else the Hugging Face hub.

Local files are read with the standard library (one JSON object per line); the hub goes through
`datasets` (`pip install grainbench[hub]`), imported only when needed, so offline users never pay
for it. Resolution order: the task's `path`, then `$GRAINBENCH_DATA/<dataset>/`, then the hub.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DATA_ENV = "GRAINBENCH_DATA"  # a folder laid out as <dataset>/<file>.jsonl


@dataclass(frozen=True)
class Source:
    hub: str | None  # None: not published on the hub as one dataset
    hub_config: str | None
    splits: dict[str, str]  # our split name -> the hub's split expression
    files: dict[str, tuple[str, ...]] | None = None  # our split -> local file names to try (default <split>.jsonl)
    derive: Callable[[str], list[dict]] | None = None  # builds a split from other hub datasets (when hub is None)


def load_rows(name: str, source: Source, split: str, path: str | None = None, hub: str | None = None) -> list[dict]:
    if split not in source.splits:
        raise ValueError(f"{name} has no split {split!r}; it has {', '.join(source.splits)}")
    names = (source.files or {}).get(split, (f"{split}.jsonl",))
    if path is None and os.environ.get(DATA_ENV):
        candidate = Path(os.environ[DATA_ENV]) / name
        path = str(candidate) if candidate.is_dir() else None
    if path is not None:
        return read_jsonl(_split_file(Path(path), names))
    return _from_hub(name, source, split, hub or source.hub)


def _split_file(path: Path, names: tuple[str, ...]) -> Path:
    if path.is_dir():
        found = [path / n for n in names if (path / n).is_file()]
        if not found:
            raise ValueError(f"no {' or '.join(names)} in {path}; set the task's `path` to the .jsonl file or its folder")
        return found[0]
    if not path.is_file():
        raise ValueError(f"data file {path} not found; set the task's `path` to a .jsonl file or a folder with {names[0]}")
    return path


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n} is not valid JSON ({e.msg}); expected one JSON object per line") from None
    return rows


def _from_hub(name: str, source: Source, split: str, hub: str | None) -> list[dict]:
    hint = f"set the task's `path` to local JSONL data, or ${DATA_ENV} to a folder with {name}/"
    if hub is None and source.derive is None:
        raise ValueError(f"{name} has no hub copy; {hint}")
    what = hub or f"{name} (built from hub datasets)"
    try:
        import datasets
    except ImportError:
        raise ValueError(f"loading {what} needs `datasets` (pip install 'grainbench[hub]'); or {hint}") from None
    try:
        if hub is None:
            return source.derive(source.splits[split])
        return list(datasets.load_dataset(hub, source.hub_config, split=source.splits[split]))
    except Exception as e:  # offline, gated, renamed: all mean the same to the user
        raise ValueError(f"could not load {what} from the hub ({type(e).__name__}); {hint}") from None
