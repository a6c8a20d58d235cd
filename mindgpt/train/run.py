"""Training checkpoints for resume: model and optimizer state plus the loop's position, written atomically.

Each checkpoint is a directory `step_<n>/` holding `train_state.ckpt` (every model and optimizer parameter:
Adam moments, global step, the LR schedule) and `state.json` (step, metrics). It is assembled under a
temporary name and renamed into place, so a crash mid-write never damages the last good checkpoint; only
the newest `keep` survive.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import mindspore as ms
from mindspore import nn

from ..io import atomic_write_text

STATE_FILE = "state.json"
WEIGHTS_FILE = "train_state.ckpt"
PREFIX = "step_"


def _parameters(model: nn.Cell, optimizer: nn.Optimizer) -> list[ms.Parameter]:
    seen: dict[str, ms.Parameter] = {}
    for cell in (model, optimizer):
        for param in cell.get_parameters():
            seen.setdefault(param.name, param)
    return list(seen.values())


def save_train_state(directory: str | os.PathLike, step: int, model: nn.Cell, optimizer: nn.Optimizer,
                     extra: dict[str, Any], keep: int) -> Path:
    """Write `directory/step_<step>/` atomically and prune all but the newest `keep` checkpoints."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    ms.save_checkpoint(_parameters(model, optimizer), str(tmp / WEIGHTS_FILE))
    atomic_write_text(tmp / STATE_FILE, json.dumps({"step": step, **extra}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Complete checkpoints, oldest first (a directory without its state.json is not one)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob(f"{PREFIX}*") if (p / STATE_FILE).is_file() and (p / WEIGHTS_FILE).is_file())


def load_train_state(path: Path, model: nn.Cell, optimizer: nn.Optimizer) -> dict[str, Any]:
    """Restore parameters and optimizer state from a checkpoint directory; return its state.json."""
    values = ms.load_checkpoint(str(path / WEIGHTS_FILE))
    for param in _parameters(model, optimizer):
        if param.name not in values:
            raise ValueError(f"{path} has no {param.name!r}: it was written by a different model or optimizer")
        saved = tuple(values[param.name].shape)
        if saved != tuple(param.shape):
            raise ValueError(f"{path} holds {param.name!r} as {saved}, the model as {tuple(param.shape)}: it was "
                             "written with another config or mindgpt version; start a new run or load its weights "
                             "with from_pretrained")
        param.set_data(values[param.name])
    with open(path / STATE_FILE, encoding="utf-8") as f:
        return json.load(f)
