"""Helpers the benchmarks share: timing, peak memory and a record of the machine they ran on."""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's mindgpt, installed or not
from mindgpt.config import PRESETS  # noqa: E402,F401  (no MindSpore: the GPU machine runs only the reference)


def timed(run) -> tuple[float, object]:
    """Seconds `run()` took, and what it returned."""
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
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
