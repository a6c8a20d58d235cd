"""Helpers the benchmarks share: timing, peak memory, a record of the machine they ran on, and the child-process
protocol their measurements use."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's mindgpt, installed or not
from mindgpt.config import PRESETS  # noqa: E402,F401  (no MindSpore: the GPU machine runs only the reference)


def model_flops_per_token(model: dict, seq: int) -> float:
    """Training FLOPs per token, forward and backward (PaLM's count): 6 N + 12 L d T, with N the matmul weights
    (12 L d^2 in the blocks plus V d for the tied LM head) and 12 L d T the attention scores and their use over
    a `seq`-token context. `model` holds GPTConfig's fields (n_layer, n_embd, vocab_size). What MFU and the
    fraction of the GEMM limit divide by: the work the model needs, whatever a framework spends on top."""
    layers, width = model["n_layer"], model["n_embd"]
    matmul_weights = 12 * layers * width ** 2 + model["vocab_size"] * width
    return 6 * matmul_weights + 12 * layers * width * seq


def timed(run) -> tuple[float, object]:
    """Seconds `run()` took, and what it returned."""
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB: VmHWM on Linux, ru_maxrss elsewhere (KiB on Linux,
    bytes on macOS). Not ru_maxrss on Linux: it carries the parent's peak into a child across fork + exec, so a
    benchmark child started by a parent holding MindSpore and torch (~600 MB) reported at least that."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _cpu_info() -> dict:
    info = {"cpu_model": platform.processor() or "", "cpu_flags": []}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not info["cpu_model"].strip(" x86_64"):
                    info["cpu_model"] = value.strip()
                elif key == "flags":
                    flags = value.split()
                    info["cpu_flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4")))
                    break
    except OSError:
        pass
    return info


def machine(**versions: str) -> dict:
    """What the numbers were measured on: CPU model, cores, SIMD flags, OS, Python and the given versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu_count": os.cpu_count(), "usable_cores": usable, **_cpu_info(), "load_average": load,
            "platform": platform.platform(), "python": platform.python_version(), **versions}


# A measurement runs in a child process of its own (its peak RSS and thread pools are its own) and hands its
# result back as one JSON line on stdout.
RESULT = "RESULT "


def report(result: dict) -> None:
    """In the child: `result`, with this process's peak RSS, as the line `run_measurement` reads."""
    print(RESULT + json.dumps({**result, "peak_rss_mib": peak_rss_mib()}), flush=True)


def run_measurement(command: list[str], what: str) -> dict:
    """In the parent: run the child `command` and return what it `report`ed; a failed child ends the benchmark
    with its output's tail."""
    proc = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    if proc.returncode or not lines:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(lines[-1][len(RESULT):])

