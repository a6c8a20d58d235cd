"""The prepared GPU run: can mindgpt train on this GPU, and what the HF/PyTorch reference reaches on it.

    python benchmarks/gpu.py [--steps 20] [--output benchmarks/results/gpu.json]

1. MindSpore: whether it imports, whether the CUDA 11 / cuDNN 8 libraries its GPU plugin links against load on
   this machine, and, where both hold, mindgpt's training step on the GPU (`run.mindgpt_train`).
2. The reference's training step (`run.hf_train`: forward + backward + clipping + AdamW) on the GPU, float32
   and bf16 autocast, on the CPU benchmark's shapes and on the paper's 32 x 512 batch, which fills the chip:
   tokens/s, peak GPU memory and MFU (model FLOPs per token x tokens/s over the card's dense peak).

Model FLOPs per token (PaLM's count): 6 N + 12 L d T, with N the matmul weights (12 L d^2 in the blocks plus
V d for the tied LM head) and 12 L d T the attention scores and their use, forward and backward.
It writes JSON (machine, GPU, versions, every measurement) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402
from common import machine  # noqa: E402
from run import flops_per_token  # noqa: E402  (model FLOPs per token of a shape, shared with the CPU table)

# What libmindspore_gpu.so.11.x links against (ldd, mindspore 2.10.0); its wheel ships builds for CUDA 11.1/11.6.
MINDSPORE_GPU_LIBS = ("libcudart.so.11.0", "libcublas.so.11", "libcudnn.so.8")
# Dense peaks, FLOP/s, from NVIDIA's datasheets (SXM parts): float32 on CUDA cores, bf16 on tensor cores.
PEAKS = {"H100": {"float32": 67e12, "bf16": 989e12}, "H200": {"float32": 67e12, "bf16": 989e12}}
SHAPES = ["6x384", "gpt1", "gpt1_32x512"]


def tokens_per_s(shape: str, step_s: list[float]) -> float:
    _, b, t = bench.SHAPES[shape]
    return b * t / statistics.median(step_s)


def loadable(library: str) -> bool:
    try:
        ctypes.CDLL(library)
        return True
    except OSError:
        return False


def mindspore_gpu(shape: str, steps: int) -> dict:
    """mindgpt's training step on the GPU, or why it cannot run here."""
    try:
        import mindspore
    except ImportError as error:
        return {"runs": False, "why": f"mindspore is not installed ({error})"}
    missing = [lib for lib in MINDSPORE_GPU_LIBS if not loadable(lib)]
    if missing:
        return {"runs": False, "mindspore": mindspore.__version__,
                "why": f"its GPU plugin needs {', '.join(missing)} (CUDA 11 / cuDNN 8), which do not load here"}
    result = bench.mindgpt_train(shape, steps, device="GPU")
    return {"runs": True, "mindspore": mindspore.__version__, "shape": shape,
            "tokens_per_s": tokens_per_s(shape, result["step_s"]), **result}


def reference(shape: str, steps: int, bf16: bool, peak: dict | None) -> dict:
    import torch

    torch.cuda.reset_peak_memory_stats()
    result = bench.hf_train(shape, steps, device="cuda", bf16=bf16)
    _, b, t = bench.SHAPES[shape]
    rate = tokens_per_s(shape, result["step_s"])
    model_flops = flops_per_token(shape) * rate
    precision = "bf16" if bf16 else "float32"
    return {"shape": shape, "precision": precision, "batch": b, "seq": t, "step_s": b * t / rate,
            "tokens_per_s": rate, "model_tflops": model_flops / 1e12,
            "mfu": model_flops / peak[precision] if peak else None,
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2 ** 20, "first_loss": result["first_loss"]}


def table(rows: list[dict], gpu: str) -> str:
    lines = [f"| shape (batch × seq) | precision | reference tokens/s | model TFLOP/s | MFU ({gpu}) | peak GPU MiB |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "–"
        lines.append(f"| {r['shape']} ({r['batch']}×{r['seq']}) | {r['precision']} | {r['tokens_per_s']:,.0f} | "
                     f"{r['model_tflops']:.1f} | {mfu} | {r['peak_gpu_mib']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per measurement")
    parser.add_argument("--shapes", nargs="+", choices=list(bench.SHAPES), default=SHAPES)
    parser.add_argument("--output", default=str(HERE / "results" / "gpu.json"))
    args = parser.parse_args()
    import torch
    import transformers

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to torch: run this on the GPU machine")
    gpu = torch.cuda.get_device_name(0)
    peak = next((p for name, p in PEAKS.items() if name in gpu), None)
    started = time.perf_counter()
    status = mindspore_gpu(args.shapes[0], args.steps)
    print(f"mindgpt on the GPU: {status}", flush=True)
    rows = []
    for shape in args.shapes:
        for bf16 in (False, True):
            rows.append(reference(shape, args.steps, bf16, peak))
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    markdown = table(rows, gpu)
    info = machine(torch=torch.__version__, transformers=transformers.__version__, cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), gpu=gpu)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"command": "python benchmarks/gpu.py " + " ".join(sys.argv[1:]), "machine": info,
                                  "peaks_flops": peak, "mindgpt": status, "reference": rows, "table": markdown,
                                  "seconds": time.perf_counter() - started}, indent=2))
    print(f"\n{markdown}\n\n{gpu}; torch {torch.__version__} (CUDA {torch.version.cuda}), "
          f"transformers {transformers.__version__}\nresults: {output}")


if __name__ == "__main__":
    main()
