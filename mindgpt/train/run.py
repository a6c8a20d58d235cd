"""What every training loop needs (pretraining's and the Trainer's): compute precision, the metrics log,
checkpoints to resume from, and the host thread's priority.

Each checkpoint is a directory `step_<n>/` holding `train_state.ckpt` (every model and optimizer parameter:
Adam moments, global step, the LR schedule) and `state.json` (step, metrics). It is assembled under a
temporary name and renamed into place, so a crash mid-write never damages the last good checkpoint; only
the newest `keep` survive.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import mindspore as ms
from mindspore import nn

from ..io import atomic_path, atomic_write_text
from ..model import LayerNorm

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
                     extra: dict[str, Any], keep: int | None, name: str = PREFIX + "{:08d}",
                     write_files: Callable[[Path], None] | None = None, protect: tuple[Path, ...] = ()) -> Path:
    """Write checkpoint `directory/<name with step>/` atomically and prune all but the newest `keep` (all kept when
    `keep` is None; `protect`ed ones never pruned). `write_files(folder)` adds files of the caller's (the Trainer:
    the model and tokenizer in HF's layout) to the folder before it is renamed into place."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name.format(step)
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    ms.save_checkpoint(_parameters(model, optimizer), str(tmp / WEIGHTS_FILE))
    if write_files is not None:
        write_files(tmp)
    atomic_write_text(tmp / STATE_FILE, json.dumps({"step": step, **extra}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    if keep is not None:
        for old in [p for p in checkpoints(root, name)[:-keep] if p not in protect]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(directory: str | os.PathLike, name: str = PREFIX + "{:08d}") -> list[Path]:
    """Complete checkpoints named like `name`, oldest first (a directory without its state.json is not one)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    prefix = name.split("{")[0]
    complete = [p for p in root.glob(f"{prefix}*") if p.name[len(prefix):].isdigit()
                and (p / STATE_FILE).is_file() and (p / WEIGHTS_FILE).is_file()]
    return sorted(complete, key=lambda p: int(p.name[len(prefix):]))


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


# --- precision -------------------------------------------------------------------------------------
def precision_for(precision: str) -> str:
    """The compute precision a run asks for (`auto`: fp32 on CPU, fp16 with loss scaling on GPU/Ascend)."""
    if precision not in ("auto", "fp32", "fp16", "bf16"):
        raise ValueError(f"precision {precision!r} is not one of auto, fp32, fp16, bf16")
    on_cpu = ms.get_context("device_target") == "CPU"
    if precision == "bf16" and on_cpu:
        raise ValueError("precision=bf16 needs GPU or Ascend: MindSpore's CPU kernels have no bfloat16; "
                         "use fp32 (or fp16) on CPU")
    if precision != "auto":
        return precision
    return "fp32" if on_cpu else "fp16"


def cast_for_training(model: nn.Cell, precision: str):
    """fp16/bf16 compute with fp32 master weights and fp32 LayerNorms; fp16 adds dynamic loss scaling.

    `Cell.to_float` casts each cell's inputs; MindSpore's AMP levels either rewrite the network's source (O1,
    which loses module-level helpers) or keep only its own LayerNorm class in fp32 (O2).
    """
    if precision == "fp32":
        return model, None
    model.to_float(ms.float16 if precision == "fp16" else ms.bfloat16)
    for _, cell in model.cells_and_names():
        if isinstance(cell, LayerNorm):
            cell.to_float(ms.float32)
    scaler = ms.amp.DynamicLossScaler(2.0 ** 16, 2, 1000) if precision == "fp16" else None
    return model, scaler


# --- the metrics log --------------------------------------------------------------------------------
class MetricsLog:
    """metrics.jsonl, one record per line; a resumed run first drops records past its checkpoint."""

    def __init__(self, path: Path, resume_step: int, enabled: bool):
        self.path, self.enabled = path, enabled
        self.records: list[dict[str, Any]] = []
        if enabled and resume_step and path.is_file():
            self.records = [r for r in map(json.loads, path.read_text().splitlines()) if r["step"] <= resume_step]
        if enabled:
            with atomic_path(path) as tmp, open(tmp, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in self.records)

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            self.records.append(record)
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def curve(self, key: str) -> list[tuple[int, float]]:
        return [(r["step"], r[key]) for r in self.records if key in r]


# --- the host thread --------------------------------------------------------------------------------
def yield_host_thread() -> None:
    """Lower the calling (main Python) thread to SCHED_IDLE on a CPU target, after the first compiled step.

    While a compiled step runs, MindSpore's host thread busy-waits for the kernels and takes most of one of
    the cores they need; idle priority hands that core back (measured +45% training tokens/s on 2 cores).
    Linux only; elsewhere, or on GPU/Ascend, a no-op.
    """
    if ms.get_context("device_target") == "CPU" and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def restores_host_thread(loop: Callable) -> Callable:
    """Decorate a training loop that calls `yield_host_thread`: the priority comes back however the loop ends."""
    @functools.wraps(loop)
    def run(*args, **kwargs):
        try:
            return loop(*args, **kwargs)
        finally:
            restore_host_thread()

    return run


def restore_host_thread() -> None:
    """Undo `yield_host_thread` when a loop ends, so an interactive caller (a notebook) keeps its speed."""
    if hasattr(os, "SCHED_IDLE") and os.sched_getscheduler(0) == os.SCHED_IDLE:
        with contextlib.suppress(PermissionError):
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
