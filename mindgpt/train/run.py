"""What every training loop needs (pretraining's and the Trainer's): its output folder, checkpoints to resume from,
the metrics log, compute precision, and the host thread's priority.

A run holds its output folder for its lifetime (`claim_output_dir`): a second run into the same folder, or a new
run into a folder holding an old one, is refused instead of mixing the two. Each checkpoint is a directory
`step_<n>/` holding `train_state.ckpt` (every model and optimizer parameter: Adam moments, global step, the LR
schedule) and `state.json` (step, metrics, the settings that shape the run, each file's sha256). It is assembled
under a temporary name and renamed into place, so a crash mid-write never damages the last good checkpoint; only
the newest `keep` survive. Resuming takes the newest checkpoint whose files still match their sha256, and only
from a run with the same settings (`resume_train_state`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Callable, Iterator

import mindspore as ms
from mindspore import nn

from ..io import atomic_path, atomic_write_text
from ..model import LayerNorm

logger = logging.getLogger("mindgpt")

STATE_FILE = "state.json"
WEIGHTS_FILE = "train_state.ckpt"
METRICS_FILE = "metrics.jsonl"
LOCK_FILE = ".lock"
PREFIX = "step_"
TMP_NAME = ".{}.tmp-{}"  # a checkpoint being written: its final name and the writer's pid


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """Where a training loop keeps a run inside its output folder, and what its settings are called (for messages)."""

    checkpoints: str  # the checkpoints' folder, relative to the output folder
    name: str  # a checkpoint's folder name, the step as {}
    outputs: tuple[str, ...]  # the run's other files and folders: cleared with its checkpoints by overwrite
    resume: str  # the setting that continues a run, as a user writes it
    overwrite: str  # the setting that replaces one


class OutputDirInUse(BlockingIOError):
    """Another run holds the output folder."""


class DiskFull(OSError):
    """No space left for a run's files: says which folder is full and how much one checkpoint needs."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def _parameters(model: nn.Cell, optimizer: nn.Optimizer | None) -> list[ms.Parameter]:
    seen: dict[str, ms.Parameter] = {}
    for cell in (model, optimizer) if optimizer is not None else (model,):
        for param in cell.get_parameters():
            seen.setdefault(param.name, param)
    return list(seen.values())


def save_train_state(directory: str | os.PathLike, step: int, model: nn.Cell, optimizer: nn.Optimizer,
                     extra: dict[str, Any], keep: int | None, name: str = PREFIX + "{:08d}",
                     write_files: Callable[[Path], None] | None = None, protect: tuple[Path, ...] = ()) -> Path:
    """Write checkpoint `directory/<name with step>/` atomically and prune all but the newest `keep` (all kept when
    `keep` is None; `protect`ed ones never pruned). `write_files(folder)` adds files of the caller's (the Trainer:
    the model and tokenizer in HF's layout) to the folder before it is renamed into place. state.json records each
    file's sha256, so a resume can tell flipped or missing bytes from a checkpoint it may load."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name.format(step)
    tmp = root / TMP_NAME.format(final.name, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        ms.save_checkpoint(_parameters(model, optimizer), str(tmp / WEIGHTS_FILE))
        if write_files is not None:
            write_files(tmp)
        digests = {str(f.relative_to(tmp)): _sha256(f) for f in sorted(tmp.rglob("*")) if f.is_file()}
        atomic_write_text(tmp / STATE_FILE, json.dumps({"step": step, **extra, "sha256": digests}, indent=2))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # half a checkpoint is no use, and on a full disk it holds the space
        raise
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
    return read_state(path)


def read_state(path: Path) -> dict[str, Any]:
    """A checkpoint's state.json; one that does not parse is a ValueError naming it."""
    try:
        return json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path / STATE_FILE} is not valid JSON ({e})") from e


# --- resuming ---------------------------------------------------------------------------------------
def resume_train_state(directory: str | os.PathLike, layout: RunLayout, model: nn.Cell, optimizer: nn.Optimizer,
                       run: dict[str, Any], max_steps: int, checkpoint: str | os.PathLike | None = None
                       ) -> dict[str, Any] | None:
    """Load `checkpoint`, or else the newest intact one in the output folder `directory` (None: it holds none),
    once it is known to continue this run: its settings are `run`'s and its step is not past `max_steps`.
    Returns its state.json."""
    if checkpoint is None:
        path = newest_intact_checkpoint(Path(directory) / layout.checkpoints, layout.name)
        if path is None:
            return None
    else:
        path = Path(checkpoint)
        problem = damage(path)
        if problem:
            raise ValueError(f"checkpoint {path} is damaged: {problem}; resume from another checkpoint")
    state = read_state(path)
    check_same_run(path, state, run, max_steps, layout)
    load_train_state(path, model, optimizer)
    logger.info("resumed from %s at step %d", path, state["step"])
    return state


def newest_intact_checkpoint(directory: str | os.PathLike, name: str = PREFIX + "{:08d}") -> Path | None:
    """The newest checkpoint whose files match their sha256 (None: there is no checkpoint). Damaged newer ones are
    skipped with one warning naming them; when every one is damaged, a ValueError names each and its damage."""
    skipped = []
    for path in reversed(checkpoints(directory, name)):
        problem = damage(path)
        if problem is None:
            if skipped:
                logger.warning("skipped damaged checkpoint %s; resuming from %s", "; ".join(skipped), path.name)
            return path
        skipped.append(f"{path} ({problem})")
    if skipped:
        raise ValueError(f"no intact checkpoint in {directory} to resume from: {'; '.join(skipped)}; start a new "
                         "run (another output folder, or overwrite this one)")
    return None


def damage(path: Path) -> str | None:
    """What is wrong with checkpoint `path`, or None when it is intact: a state.json that does not parse, a file it
    lists that is missing or whose bytes are not those its sha256 says. (Checkpoints from before mindgpt stored
    sha256s have nothing to check.)"""
    try:
        listed = read_state(path).get("sha256", {})
    except ValueError as e:
        return str(e)
    for file, digest in listed.items():
        if not (path / file).is_file():
            return f"{file} is missing"
        if _sha256(path / file) != digest:
            return f"{file} does not match its sha256 in {STATE_FILE}"
    return None


def check_same_run(path: Path, state: dict[str, Any], run: dict[str, Any], max_steps: int, layout: RunLayout
                   ) -> None:
    """Refuse a checkpoint this run would not continue: one written with other settings (`run`: what shapes the
    updates; the run's length may change) or already past `max_steps`."""
    new_run = f"start a new run: another output folder, or {layout.overwrite}"
    if state["step"] > max_steps:
        raise ValueError(f"{path} is at step {state['step']}, past the {max_steps} steps this run trains: it belongs "
                         f"to a longer run; train at least {state['step']} steps to continue it, or {new_run}")
    if "run" not in state:  # written before mindgpt stored the run's settings: nothing to compare
        return
    differences = _differences(state["run"], json.loads(json.dumps(run)))
    if differences:
        raise ValueError(f"{path} was written by a run with other settings ({'; '.join(differences)}); resume with "
                         f"the checkpoint's settings, or {new_run}")


def _differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """`key: <saved> in the checkpoint, <now> now` for each setting that differs, nested dicts by dotted keys."""
    out = []
    for key in sorted(set(saved) | set(now)):
        old, new = saved.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out += _differences(old, new, f"{prefix}{key}.")
        elif old != new:
            out.append(f"{prefix}{key}: {old!r} in the checkpoint, {new!r} now")
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the output folder ------------------------------------------------------------------------------
@contextlib.contextmanager
def claim_output_dir(directory: str | os.PathLike, layout: RunLayout, resume: bool, overwrite: bool, writer: bool
                     ) -> Iterator[None]:
    """Hold the output folder for the run's lifetime (the writing rank takes it; the others only read). Refused:
    a folder another run holds, and one holding another run (checkpoints or a metrics log) unless this run resumes
    it or overwrites it, which first clears the old run's checkpoints and outputs. Checkpoints a killed writer
    left half-written are removed."""
    if resume and overwrite:
        raise ValueError(f"{layout.resume} and {layout.overwrite} exclude each other: one continues the run in "
                         f"{directory}, the other replaces it")
    if not writer:
        yield
        return
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        remove_half_written(root / layout.checkpoints, layout.name)
        saved = checkpoints(root / layout.checkpoints, layout.name)
        found = [f"checkpoints up to {saved[-1].name}"] if saved else []
        if (root / METRICS_FILE).is_file():
            found.append(METRICS_FILE)
        if found and not resume:
            if not overwrite:
                raise FileExistsError(f"{root} holds another run ({', '.join(found)}): continue it with "
                                      f"{layout.resume}, replace it with {layout.overwrite}, or choose another "
                                      "output folder")
            for path in saved + [root / name for name in layout.outputs]:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            logger.info("%s: cleared the previous run (%s)", root, ", ".join(found))
        yield


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive flock on the folder's lock file while the block runs. The OS drops it when the process ends,
    however it ends (kill -9 included), so no lock outlives its run; the file only tells others who holds it."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 256).decode(errors="replace").strip() or "which, it has not yet written"
            raise OutputDirInUse(f"{directory} is in use by another run ({holder}); wait for it to end, or choose "
                                 "another output folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        os.close(fd)


def remove_half_written(directory: Path, name: str) -> None:
    """Delete the temporary folders of checkpoints whose writer was killed (see save_train_state): only the run
    holding the output folder writes checkpoints, so at its start any left there is stale."""
    for tmp in directory.glob(TMP_NAME.format(name.split("{")[0] + "*", "*")):
        shutil.rmtree(tmp, ignore_errors=True)
        logger.info("removed %s, a checkpoint a killed run left half-written", tmp)


@contextlib.contextmanager
def disk_full_reported(directory: str | os.PathLike, layout: RunLayout, model: nn.Cell,
                       optimizer: nn.Optimizer | None = None) -> Iterator[None]:
    """A full disk met in the block (MindSpore's OSError, safetensors' or tokenizers' own errors, Python's) becomes
    one DiskFull saying which folder is full and how much room one checkpoint needs."""
    try:
        yield
    except Exception as error:
        if isinstance(error, DiskFull) or not _out_of_space(error):  # reported already, or no full disk
            raise
        root = Path(directory)
        saved = checkpoints(root / layout.checkpoints, layout.name)
        if saved:
            need = sum(f.stat().st_size for f in saved[-1].rglob("*") if f.is_file())
            basis = f"the size of the last one, {saved[-1].name}"
        else:
            need, basis = sum(p.nbytes for p in _parameters(model, optimizer)), "the model's and optimizer's parameters"
        raise DiskFull(f"no space left on the disk holding {root} ({_size(shutil.disk_usage(root).free)} free):"
                       f" one checkpoint needs about {_size(need)} ({basis}); free space there, or choose an "
                       "output folder on a disk with room") from error


NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device": also in safetensors' and tokenizers' messages


def _out_of_space(error: BaseException | None) -> bool:
    while error is not None:
        if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or NO_SPACE in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _size(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


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
            self.records = [r for r in read_records(path) if r["step"] <= resume_step]
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


def read_records(path: Path) -> list[dict[str, Any]]:
    """A metrics log's records. A last line cut short (the write a kill or a full disk interrupted) is dropped
    with a warning; a damaged line before it is a ValueError naming the file and the line."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if number < len(lines):
                raise ValueError(f"{path} line {number} is not a JSON record ({e.msg}): {line[:80]!r}; delete or "
                                 "repair the line to resume") from e
            logger.warning("%s: dropped its last line %d, cut short when it was written: %r", path, number, line[:80])
    return records


# --- the host thread --------------------------------------------------------------------------------
def yield_host_thread() -> None:
    """Lower the calling (main Python) thread to SCHED_IDLE on a CPU target, after the first compiled step.

    While a compiled step runs, MindSpore's host thread busy-waits for the kernels and takes most of one of
    the cores they need; idle priority hands that core back to the kernels.
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
