"""mindgpt against HF transformers + PyTorch on CPU: training, inference and generation speed, compile time, memory.

    python benchmarks/run.py                 # both shapes and the course flow, everything (about 23 minutes on 2 cores)
    python benchmarks/run.py --quick         # smoke run: `6x384` only, fewer steps and new tokens
    python benchmarks/run.py --shapes 6x384 --repeats 3
    python benchmarks/run.py --plot-only benchmarks/results/bench.json   # redraw the chart of a results JSON

Every measurement runs in its own child process (one framework, one shape, one kind of work), so each child's
peak RSS (VmHWM, `common.peak_rss_mib`) is that work's alone; the children run one after the other, mindgpt and the
reference back to back, `--repeats` rounds of the training pair, and the table reports medians over rounds.

- train: tokens/s of one full step, forward + backward + global-norm clipping + AdamW, batch x seq tokens
  (median step time after a warm-up); mindgpt through `make_train_step`/`build_optimizer` as pretraining uses
  them, the reference with HF's OpenAIGPTLMHeadModel(labels=...) and torch.optim.AdamW; dropout as in the
  GPT-1 config (0.1). `compile_s` is the first step (graph compilation for mindgpt, warm-up for torch).
- infer: tokens/s of the forward pass without labels (full logits), eval mode.
- generate: greedy continuation of `--gen-new` tokens from a `--gen-prompt`-token prompt, batch 1: mindgpt
  with its key/value cache and without (recomputing the context), HF's `generate` (openai-gpt has no cache);
  the cached run and HF's are the median of `GEN_REPEATS` timed runs each (one is a few seconds of decoding);
  n_positions is raised to prompt + new where the preset's is shorter (`6x384`: 256 -> 288). Then batched:
  `--gen-batch` prompts at once, `--gen-batch-new` tokens each (mindgpt cached, HF), where the one-row
  matrix-vector products become matrix products; tokens/s counts the new tokens of all rows.
- gemm (with train): the machine's GEMM limit as each framework reaches it, the best of a few float32
  2048 x 2048 @ 2048 x 2048 products (MindSpore's compiled MatMul, torch.mm), once per framework. The training
  row's column "share of the GEMM limit" is the step's model FLOPs (`common.model_flops_per_token`) per
  second over that peak: how far a framework is from being bound by its matmuls alone.
- course: the course's IMDB fine-tuning flow through both Trainers (`course_flow.py`, run as it runs alone; its
  JSON lands beside this one), train and eval samples/s with compilation included.

torch and transformers are needed here only (`pip install -e '.[bench]'`); mindgpt never imports them.
Results: a JSON file under benchmarks/results/ (machine, versions, settings, every round), a Markdown table and a
bar chart of the mindgpt / HF ratios beside the JSON (same name, .png).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import PRESETS, machine, model_flops_per_token, report, run_measurement, timed  # noqa: E402

SHAPES = {  # name -> (GPTConfig preset, batch, seq)
    "6x384": ("6x384", 8, 128),
    "gpt1": ("gpt1", 4, 128),
    "gpt1_32x512": ("gpt1", 32, 512),  # the paper's pretraining batch: fills a GPU (`gpu.py`), hours on a CPU
}
CPU_SHAPES = ["6x384", "gpt1"]
LR, BETAS, EPS, WEIGHT_DECAY, CLIP = 2.5e-4, (0.9, 0.999), 1e-8, 0.01, 1.0
GEMM_N, GEMM_REPEATS = 2048, 5  # the peak's matmul: [n, n] @ [n, n] float32, best of this many after a warm-up
GEN_REPEATS = 3  # one prompt's generation, both frameworks: the median of this many timed runs


def model_shape(shape: str, context: int = 0) -> dict:
    """The preset's model fields, n_positions raised to `context` if that is more (generation: prompt + new)."""
    fields = dict(PRESETS[SHAPES[shape][0]])
    fields["n_positions"] = max(fields["n_positions"], context)
    return fields


def flops_per_token(shape: str) -> float:
    """Model FLOPs per trained token of a shape (forward + backward, at its sequence length)."""
    return model_flops_per_token(model_shape(shape), SHAPES[shape][2])


def gemm_fraction(flops_per_token: float, tokens_per_s: float, peak_flops: float) -> float:
    """The fraction of the GEMM limit a training run reaches: its model FLOP/s over the single-GEMM peak."""
    return flops_per_token * tokens_per_s / peak_flops


def best_gemm(product, n: int, repeats: int) -> dict:
    """FLOP/s of the fastest of `repeats` calls of `product()` (an [n, n] @ [n, n] matmul), after a warm-up."""
    product()
    seconds = min(timed(product)[0] for _ in range(repeats))
    return {"gemm_n": n, "gemm_s": seconds, "gemm_flops": 2 * n ** 3 / seconds}


def batch_prompts(model, prompt_len: int, rows: int) -> list[list[int]]:
    """The generation prompts: `rows` random prompts of `prompt_len` ids, the same for both frameworks."""
    import numpy as np

    return np.random.default_rng(1).integers(0, model.config.vocab_size, (rows, prompt_len)).tolist()


def batch(shape: str, seed: int = 0):
    import numpy as np

    _, b, t = SHAPES[shape]
    return np.random.default_rng(seed).integers(0, model_shape(shape)["vocab_size"], (b, t)).astype(np.int32)


# --- mindgpt children ------------------------------------------------------------------------------
def mindgpt_model(shape: str, context: int = 0, device: str = "CPU"):
    import mindspore as ms
    from mindgpt import GPTConfig, GPTLMHeadModel

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device(device)
    ms.set_seed(0)
    return GPTLMHeadModel(GPTConfig(**model_shape(shape, context)))


def mindgpt_train(shape: str, steps: int, device: str = "CPU") -> dict:
    from mindspore import Tensor
    from mindgpt.train.optim import build_optimizer
    from mindgpt.train.run import yield_host_thread
    from mindgpt.train.step import make_train_step

    model = mindgpt_model(shape, device=device)
    model.set_train(True)
    optimizer = build_optimizer(model, LR, weight_decay=WEIGHT_DECAY, betas=BETAS, eps=EPS)
    step = make_train_step(model, optimizer, max_grad_norm=CLIP)
    ids = Tensor(batch(shape))
    compile_s, loss = timed(lambda: float(step(ids, None, None, ids).asnumpy()))
    yield_host_thread()
    times = [timed(lambda: float(step(ids, None, None, ids).asnumpy()))[0] for _ in range(steps + 1)][1:]
    return {"compile_s": compile_s, "step_s": times, "first_loss": loss}


def mindgpt_infer(shape: str, steps: int) -> dict:
    from mindspore import Tensor

    model = mindgpt_model(shape)
    model.set_train(False)
    ids = Tensor(batch(shape))
    compile_s, _ = timed(lambda: model(ids)[0].asnumpy())
    times = [timed(lambda: model(ids)[0].asnumpy())[0] for _ in range(steps)]
    return {"compile_s": compile_s, "step_s": times}


def mindgpt_gemm(n: int = GEMM_N, repeats: int = GEMM_REPEATS) -> dict:
    """The peak through MindSpore's compiled MatMul, the kernel (oneDNN) mindgpt's Linear layers run; reading
    the [n, n] result back (what waits for it) costs a few ms of the ~0.2 s a product takes on 2 cores."""
    import mindspore as ms
    import numpy as np
    from mindspore import ops

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    a, b = (ms.Tensor(np.random.default_rng(seed).standard_normal((n, n)).astype(np.float32)) for seed in (0, 1))

    @ms.jit
    def matmul(x, y):
        return ops.matmul(x, y)

    return best_gemm(lambda: matmul(a, b).asnumpy(), n, repeats)


def mindgpt_generate(shape: str, prompt_len: int, new: int, batch: int, batch_new: int) -> dict:
    from mindgpt.generate import Recompute, left_padded
    from bench_generate import bench_mindgpt

    model = mindgpt_model(shape, prompt_len + new)
    prompts = batch_prompts(model, prompt_len, 1)
    cached_s, cached = bench_mindgpt(model, prompts, new, use_cache=True, warmup_new=2, repeats=GEN_REPEATS)
    # warm up the uncached path on its one shape (prompt + new columns), then time it
    ids, mask, positions = left_padded(prompts, model.config.n_positions)
    Recompute(model, mask, positions, prompt_len + new).next_logits(ids, 0, prompt_len)
    full_s, full = bench_mindgpt(model, prompts, new, use_cache=False, warmup_new=0)
    batched_s, _ = bench_mindgpt(model, batch_prompts(model, prompt_len, batch), batch_new, use_cache=True,
                                 warmup_new=2)
    return {"cached_tokens_per_s": new / cached_s, "uncached_tokens_per_s": new / full_s,
            "cached_equals_uncached": cached == full, "batched_tokens_per_s": batch * batch_new / batched_s}


# --- HF / PyTorch children -------------------------------------------------------------------------
def hf_model(shape: str, context: int = 0, device: str = "cpu"):
    import torch
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    torch.manual_seed(0)
    s = model_shape(shape, context)
    config = OpenAIGPTConfig(vocab_size=s["vocab_size"], n_positions=s["n_positions"], n_embd=s["n_embd"],
                             n_layer=s["n_layer"], n_head=s["n_head"], afn="gelu")
    return OpenAIGPTLMHeadModel(config).to(device)


def hf_train(shape: str, steps: int, device: str = "cpu", bf16: bool = False) -> dict:
    """The reference's training step; `device` and `bf16` (autocast) serve the GPU run (`gpu.py`). Reading the
    loss back each step waits for the device, so the host clock times whole steps."""
    import contextlib
    import torch

    model = hf_model(shape, device=device).train()
    decayed = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or ".ln_" in n)]
    others = [p for n, p in model.named_parameters() if n.endswith(".bias") or ".ln_" in n]
    optimizer = torch.optim.AdamW([{"params": decayed, "weight_decay": WEIGHT_DECAY},
                                   {"params": others, "weight_decay": 0.0}], lr=LR, betas=BETAS, eps=EPS)
    ids = torch.from_numpy(batch(shape)).long().to(device)
    precision = torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with precision:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        return float(loss)

    compile_s, loss = timed(step)
    times = [timed(step)[0] for _ in range(steps + 1)][1:]
    return {"compile_s": compile_s, "step_s": times, "first_loss": loss}


def hf_infer(shape: str, steps: int) -> dict:
    import torch

    model = hf_model(shape).eval()
    ids = torch.from_numpy(batch(shape)).long()

    def run():
        with torch.no_grad():
            return model(input_ids=ids).logits.numpy()

    compile_s, _ = timed(run)
    return {"compile_s": compile_s, "step_s": [timed(run)[0] for _ in range(steps)]}


def torch_gemm(n: int = GEMM_N, repeats: int = GEMM_REPEATS) -> dict:
    """The peak through torch.mm, with the threads `hf_model` gives the reference (torch's CPU ops return when
    done)."""
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    a, b = (torch.randn(n, n, generator=torch.Generator().manual_seed(seed)) for seed in (0, 1))
    return best_gemm(lambda: torch.mm(a, b), n, repeats)


def hf_generate(shape: str, prompt_len: int, new: int, batch: int, batch_new: int) -> dict:
    from bench_generate import bench_hf_model

    model = hf_model(shape, prompt_len + new).eval()
    seconds, _ = bench_hf_model(model, batch_prompts(model, prompt_len, 1), new, warmup_new=2, repeats=GEN_REPEATS)
    batched_s, _ = bench_hf_model(model, batch_prompts(model, prompt_len, batch), batch_new, warmup_new=2)
    return {"tokens_per_s": new / seconds, "batched_tokens_per_s": batch * batch_new / batched_s}


CHILDREN = {("mindgpt", "train"): mindgpt_train, ("mindgpt", "infer"): mindgpt_infer,
            ("mindgpt", "generate"): mindgpt_generate, ("mindgpt", "gemm"): mindgpt_gemm,
            ("torch", "train"): hf_train, ("torch", "infer"): hf_infer, ("torch", "generate"): hf_generate,
            ("torch", "gemm"): torch_gemm}


def child(args) -> None:
    work = CHILDREN[args.framework, args.work]
    if args.work == "generate":
        result = work(args.shape, args.gen_prompt, args.gen_new, args.gen_batch, args.gen_batch_new)
    elif args.work == "gemm":
        result = work()
    else:
        result = work(args.shape, args.steps)
    if "step_s" in result:
        _, b, t = SHAPES[args.shape]
        result["tokens_per_s"] = b * t / statistics.median(result["step_s"])
    report(result)


# --- the parent ------------------------------------------------------------------------------------
def run_child(framework: str, work: str, shape: str, args) -> dict:
    command = [sys.executable, __file__, "--child", framework, work, "--shapes", shape, "--steps", str(args.steps),
               "--gen-new", str(args.gen_new), "--gen-prompt", str(args.gen_prompt), "--gen-batch",
               str(args.gen_batch), "--gen-batch-new", str(args.gen_batch_new)]
    start = time.perf_counter()
    result = run_measurement(command, f"{framework} {work} {shape}")
    print(f"  {shape:5s} {work:8s} {framework:7s} {time.perf_counter() - start:6.1f}s  "
          + ", ".join(f"{k}={v:.4g}" for k, v in result.items() if isinstance(v, (int, float))
                      and not isinstance(v, bool)), flush=True)
    return result


def run_course(quick: bool) -> dict:
    """The course flow as `course_flow.py` runs alone (its two Trainers in children of its own), its JSON beside
    this benchmark's; a flow that recompiles per length (exit status 1) is recorded, not fatal here."""
    out = HERE / "results" / ("course_flow_quick.json" if quick else "course_flow.json")
    small = ["--train-examples", "16", "--eval-examples", "8", "--max-length", "64"] if quick else []
    start = time.perf_counter()
    root = HERE.parent  # paths relative to the checkout, as the results record the command
    proc = subprocess.run([sys.executable, "benchmarks/course_flow.py", "--out", str(out.relative_to(root)), *small],
                          capture_output=True, text=True, cwd=root)
    if proc.returncode not in (0, 1) or not out.exists():
        raise SystemExit(f"the course flow failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    result = json.loads(out.read_text())
    print(f"  course flow      {time.perf_counter() - start:6.1f}s  ratio {result['ratio_train_samples_per_s']:.3g}",
          flush=True)
    return {**result, "path": str(out.relative_to(root))}


def course_rows(course: dict) -> dict:
    """The course flow's table rows, (mindgpt, torch) pairs as `summarize` gives a shape's."""
    sides = course["summary"]
    return {f"course_{key}": (sides["mindgpt"][key], sides["torch"][key])
            for key in ("train_samples_per_s", "eval_samples_per_s", "compile_s")}


def median_of(rounds: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def summarize(shape: str, runs: dict, gemm: dict | None = None) -> dict:
    """The table's values for one shape, (mindgpt, torch) pairs; `gemm` holds each framework's GEMM child."""
    ms_train, pt_train = runs["mindgpt", "train"], runs["torch", "train"]
    row = {"train_tokens_per_s": (median_of(ms_train, "tokens_per_s"), median_of(pt_train, "tokens_per_s")),
           "train_tokens_per_s_best": (max(r["tokens_per_s"] for r in ms_train),
                                       max(r["tokens_per_s"] for r in pt_train)),
           "train_compile_s": (median_of(ms_train, "compile_s"), median_of(pt_train, "compile_s")),
           "train_peak_rss_mib": (median_of(ms_train, "peak_rss_mib"), median_of(pt_train, "peak_rss_mib"))}
    if ("mindgpt", "infer") in runs:
        row["infer_tokens_per_s"] = (median_of(runs["mindgpt", "infer"], "tokens_per_s"),
                                     median_of(runs["torch", "infer"], "tokens_per_s"))
    if ("mindgpt", "generate") in runs:
        gen, hf = runs["mindgpt", "generate"][0], runs["torch", "generate"][0]
        row["generate_cached_tokens_per_s"] = (gen["cached_tokens_per_s"], hf["tokens_per_s"])
        row["generate_uncached_tokens_per_s"] = (gen["uncached_tokens_per_s"], hf["tokens_per_s"])
        row["generate_batched_tokens_per_s"] = (gen["batched_tokens_per_s"], hf["batched_tokens_per_s"])
        row["cached_equals_uncached"] = gen["cached_equals_uncached"]
    if gemm:
        peaks = (gemm["mindgpt"]["gemm_flops"], gemm["torch"]["gemm_flops"])
        row["train_gemm_fraction"] = tuple(gemm_fraction(flops_per_token(shape), rate, peak)
                                           for rate, peak in zip(row["train_tokens_per_s"], peaks))
        row["gemm_peak_gflops"] = tuple(peak / 1e9 for peak in peaks)
    return row


LABELS = {"train_tokens_per_s": ("training tokens/s (fwd + bwd + AdamW)", "{:,.0f}", True),
          "train_tokens_per_s_best": ("training tokens/s, best round (least disturbed)", "{:,.0f}", True),
          "infer_tokens_per_s": ("inference tokens/s (forward)", "{:,.0f}", True),
          "generate_cached_tokens_per_s": ("generation tokens/s, mindgpt with cache (HF: no cache)", "{:,.1f}", True),
          "generate_uncached_tokens_per_s": ("generation tokens/s, without cache", "{:,.1f}", True),
          "generate_batched_tokens_per_s": ("generation tokens/s, batched (mindgpt with cache)", "{:,.1f}", True),
          "train_compile_s": ("first training step, s (compile / warm-up)", "{:,.1f}", False),
          "train_peak_rss_mib": ("peak RSS of the training process, MiB", "{:,.0f}", False),
          "gemm_peak_gflops": (f"single-GEMM peak, GFLOP/s ({GEMM_N}² float32 matmul)", "{:,.0f}", True),
          "course_train_samples_per_s": ("train samples/s, Trainer, compile included", "{:,.2f}", True),
          "course_eval_samples_per_s": ("eval samples/s, Trainer, compile included", "{:,.2f}", True),
          "course_compile_s": ("first step of each new shape beyond a steady one, s", "{:,.1f}", False)}
# The training row's extra column: model FLOP/s over the single-GEMM peak, per framework
GEMM_COLUMN = "train_gemm_fraction"
# the table's context: the GEMMs' ratio, not the model's; a compile estimate whose reference side may be 0
NOT_CHARTED = {"gemm_peak_gflops", "course_compile_s"}
COURSE = "course"  # the summary's key for the course flow's rows


def shape_label(shape: str, settings: dict) -> str:
    """A table row's first cell: the shape with its batch, or the course flow with its model and batches."""
    if shape == COURSE:
        course = settings["course"]
        return f"course flow ({course['preset']}, {course['batch']} × ≤{course['max_length']})"
    _, b, t = SHAPES[shape]
    return f"{shape} ({b}×{t})"


def table(summary: dict, settings: dict) -> str:
    """The Markdown table: a row per measure, the ratio, and for training the share of the GEMM limit each
    framework reaches (`gemm_fraction`)."""
    lines = ["| shape | measure | mindgpt | HF + torch | mindgpt / HF | share of the GEMM limit, mindgpt · torch |",
             "|---|---|---:|---:|---:|---:|"]
    for shape, row in summary.items():
        for key, (label, fmt, _) in LABELS.items():
            if key not in row:
                continue
            ours, ref = row[key]
            share = row.get(GEMM_COLUMN) if key == "train_tokens_per_s" else None
            gemm = " · ".join(f"{x:.1%}" for x in share) if share else ""
            ratio = f"{ours / ref:.2f}×" if ref else "–"
            lines.append(f"| {shape_label(shape, settings)} | {label} | {fmt.format(ours)} | {fmt.format(ref)} | "
                         f"{ratio} | {gemm} |")
    return "\n".join(lines)


def chart(results: dict) -> "Figure":
    """Bars of the mindgpt / HF ratio per measure, one per shape, drawn from parity (1x) up or down; a log scale
    when the ratios span more than 10x, so 0.4x and 2.5x lie equally far from parity. Arrows say which way is
    better for mindgpt (more tokens/s, fewer seconds and MiB)."""
    import textwrap

    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, NullFormatter

    summary = results["summary"]
    measures = [key for key in LABELS if key not in NOT_CHARTED and any(key in row for row in summary.values())]
    figure = Figure(figsize=(max(12.0, 1.6 * len(measures)), 5.5), layout="constrained")  # room for each label
    ax = figure.subplots()
    width = 0.8 / len(summary)
    ratios = []
    for i, (shape, row) in enumerate(summary.items()):
        x = [j + (i - (len(summary) - 1) / 2) * width for j, key in enumerate(measures) if key in row]
        values = [row[key][0] / row[key][1] for key in measures if key in row]
        ratios += values
        label = shape_label(shape, results["settings"])
        bars = ax.bar(x, [v - 1 for v in values], width * 0.9, bottom=1, label=label, color=f"C{i}")
        ax.bar_label(bars, labels=[f"{v:.2f}×" for v in values], fontsize="small", padding=2)
    ax.axhline(1.0, color="0.2", lw=1.2, ls="--", label="parity (1×)")
    if max(ratios) / min(ratios) > 10:
        ax.set_yscale("log")
        ax.set_ylim(min(ratios) / 1.6, max(ratios) * 1.6)
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_ylim(min(0.0, min(ratios) * 1.15), max(ratios) * 1.15)
    ax.yaxis.set_major_formatter("{x:g}×")
    labels = [textwrap.fill(LABELS[key][0], 20, break_on_hyphens=False)
              + f"\n(mindgpt better {'↑' if LABELS[key][2] else '↓'})" for key in measures]
    ax.set_xticks(np.arange(len(measures)), labels, fontsize="small")
    ax.set_ylabel("mindgpt / HF + torch (ratio)")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(loc="best")
    machine = results["machine"]
    figure.suptitle(f"mindgpt on MindSpore {machine['mindspore']} vs transformers {machine['transformers']} + torch "
                    f"{machine['torch']}: {machine['cpu_model']}, {machine['usable_cores']} cores")
    return figure


def plot_results(path: str | Path) -> Path | None:
    """Draw the chart of a results JSON beside it (same name, .png) and return its path; a failure only warns
    and returns None (mindgpt's `save_figure`, imported here: `gpu.py` imports this module without MindSpore)."""
    from mindgpt.train.plot import save_figure

    out = Path(path).with_suffix(".png")
    return out if save_figure(out, lambda: chart(json.loads(Path(path).read_text()))) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=None)
    parser.add_argument("--work", nargs="+", choices=["train", "infer", "generate", "course"],
                        default=["train", "infer", "generate", "course"])
    parser.add_argument("--repeats", type=int, default=None, help="rounds of the training pair (default 3, quick 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per child (default 10, quick 4)")
    parser.add_argument("--gen-new", type=int, default=None, help="new tokens (default 256, quick 64)")
    parser.add_argument("--gen-prompt", type=int, default=32)
    parser.add_argument("--gen-batch", type=int, default=8, help="prompts of the batched generation")
    parser.add_argument("--gen-batch-new", type=int, default=None, help="their new tokens (default 64, quick 16)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6x384 only, fewer steps and tokens")
    parser.add_argument("--output", default=None, help="JSON path (default benchmarks/results/bench[_quick].json)")
    parser.add_argument("--plot-only", metavar="JSON", help="only redraw the chart of an existing results JSON")
    parser.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plot_only:
        return print(f"chart: {plot_results(args.plot_only)}")
    if args.child:
        args.framework, args.work = args.child
        args.shape = args.shapes[0]
        return child(args)
    args.shapes = args.shapes or (["6x384"] if args.quick else CPU_SHAPES)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.steps = args.steps or (4 if args.quick else 10)
    args.gen_new = args.gen_new or (64 if args.quick else 256)
    args.gen_batch_new = args.gen_batch_new or (16 if args.quick else 64)
    import mindspore
    import torch
    import transformers

    settings = {"repeats": args.repeats, "steps": args.steps, "gen_prompt": args.gen_prompt, "gen_new": args.gen_new,
                "gen_batch": args.gen_batch, "gen_batch_new": args.gen_batch_new,
                "shapes": {s: {"preset": SHAPES[s][0], "batch": SHAPES[s][1], "seq": SHAPES[s][2], **model_shape(s)}
                           for s in args.shapes},
                "optimizer": {"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": WEIGHT_DECAY, "clip": CLIP},
                "gemm": {"n": GEMM_N, "repeats": GEMM_REPEATS}}
    info = machine(mindspore=mindspore.__version__, torch=torch.__version__, transformers=transformers.__version__)
    started = time.perf_counter()
    runs, summary = {}, {}
    gemm = ({framework: run_child(framework, "gemm", args.shapes[0], args) for framework in ("mindgpt", "torch")}
            if "train" in args.work else None)
    for shape in args.shapes:
        runs[shape] = {}
        for work in [w for w in args.work if w != COURSE]:
            for _ in range(args.repeats if work == "train" else 1):
                for framework in ("mindgpt", "torch"):
                    runs[shape].setdefault((framework, work), []).append(run_child(framework, work, shape, args))
        if "train" in args.work:
            summary[shape] = summarize(shape, runs[shape], gemm)
    course = run_course(args.quick) if COURSE in args.work else None
    if course:
        settings["course"] = {"preset": course["settings"]["preset"], "batch": course["settings"]["batch"],
                              "max_length": course["settings"]["max_length"], "results": course["path"]}
        summary[COURSE] = course_rows(course)
    markdown = table(summary, settings)
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    output = Path(args.output or HERE / "results" / ("bench_quick.json" if args.quick else "bench.json"))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "command": command, "machine": info, "settings": settings, "seconds": time.perf_counter() - started,
        "summary": {s: {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}
                    for s, row in summary.items()},
        "runs": {s: {f"{fw}/{w}": r for (fw, w), r in rs.items()} for s, rs in runs.items()}, "gemm": gemm,
        "table": markdown}, indent=2))
    print(f"\n{markdown}\n\n{info['cpu_model']}, {info['usable_cores']} cores, load {info['load_average']}; "
          f"mindspore {info['mindspore']}, torch {info['torch']}, transformers {info['transformers']}\n"
          f"{command}\nresults: {output}, chart: {plot_results(output)}")


if __name__ == "__main__":
    main()
