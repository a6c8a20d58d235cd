"""The MindSpore course's IMDB fine-tuning flow, mindgpt against transformers + PyTorch, side by side on CPU.

    python benchmarks/course_flow.py                  # 256 training reviews, 128 eval reviews, up to 512 tokens
    python benchmarks/course_flow.py --train-examples 16 --eval-examples 8 --max-length 64 --out /tmp/smoke.json

The course (step_into_llm, lecture 3.GPT; tests/test_course_flow.py) tokenizes IMDB reviews with truncation at
512 tokens, batches 4 rows padded to the batch's longest (`padded_batch`), fine-tunes a GPT classifier for one
epoch through `Trainer`/`TrainingArguments` and evaluates it. The per-shape benchmark (`run.py`) never sees that
mix of lengths, which is where a compiled framework can lose: a graph per new shape. Both sides here get the same
reviews as the same token ids, in the same order, so the same batches:

- mindgpt: `GPTForSequenceClassification` + `mindgpt.Trainer`, the data as the course's `mindspore.dataset`
  pipeline ending in `padded_batch(4)`; the Trainer pads each batch on to its length bucket (16, 32, ... 512),
  so it should compile one training graph per (rows, bucket) shape, not one per length.
- transformers: `OpenAIGPTForSequenceClassification` + `transformers.Trainer` (its default optimizer), a collator
  padding each batch to its longest row (`pad_per_batch`, DataCollatorWithPadding's rule), sequential sampling.

Model: the `6x384` preset with n_positions 512 and the vocabulary of a BPE trained on IMDB's training reviews
(`--vocab`, default 8,192, the preset's size), random weights, GPT-1's dropout 0.1; the course's arguments
(lr 2e-5, linear decay, clipping 1.0, no weight decay), one epoch. Each side runs in its own child process, one
after the other, so peak RSS (VmHWM) is its own and the thread pools never meet.

Compile time: neither Trainer reports it. A callback stamps every training step's end and each step is keyed
by the shape it ran at ((rows, bucket) for mindgpt, (rows, width) for torch). A shape's first step pays for its
compilation (torch: warm-up); `compile_s` sums, over shapes, the first step's time minus a steady step of that
shape (the median of its later steps; for a shape seen once, the steady seconds per padded token times its
tokens). Train samples/s is the examples over the wall time of `trainer.train()`, compilation included; eval
samples/s likewise over `trainer.evaluate()`. If mindgpt compiled more training graphs (the Trainer's
`train_graphs`) than the batches have shapes, the run is flagged and the script exits with status 1 after
writing its results.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import PRESETS, machine, report, run_measurement, timed  # noqa: E402

PRESET, BATCH, LEARNING_RATE, SEED = "6x384", 4, 2e-5, 42


# --- pure parts (tested without torch) -----------------------------------------------------------
def pad_per_batch(rows: list[dict], pad_token_id: int) -> dict[str, np.ndarray]:
    """Rows {input_ids, attention_mask, labels} as one batch right-padded to its own longest row, as the
    course's `padded_batch` and transformers' DataCollatorWithPadding pad: the torch side's collator."""
    width = max(len(row["input_ids"]) for row in rows)

    def padded(key: str, fill: int) -> np.ndarray:
        return np.array([list(row[key]) + [fill] * (width - len(row[key])) for row in rows], np.int64)

    return {"input_ids": padded("input_ids", pad_token_id), "attention_mask": padded("attention_mask", 0),
            "labels": np.array([row["labels"] for row in rows], np.int64)}


def batch_shapes(lengths: list[int], batch: int, bucket=lambda width: width) -> list[tuple[int, int]]:
    """(rows, padded width) of each batch of consecutive rows: the shape its training step runs at."""
    chunks = [lengths[i:i + batch] for i in range(0, len(lengths), batch)]
    return [(len(chunk), bucket(max(chunk))) for chunk in chunks]


def first_step_overhead(step_s: list[float], shapes: list[tuple[int, int]]) -> dict:
    """What the first step of each new shape cost beyond a steady step of that shape (see the module doc)."""
    if len(step_s) != len(shapes):
        raise ValueError(f"{len(step_s)} step times for {len(shapes)} batches")
    first: dict[tuple, float] = {}
    later: dict[tuple, list[float]] = {}
    for seconds, shape in zip(step_s, shapes):
        if shape in first:
            later[shape].append(seconds)
        else:
            first[shape], later[shape] = seconds, []
    steady = [(seconds, rows * width) for (rows, width), times in later.items() for seconds in times]
    per_token = sum(s for s, _ in steady) / sum(n for _, n in steady) if steady else 0.0
    overhead = sum(max(0.0, first[shape] - (statistics.median(later[shape]) if later[shape]
                                            else per_token * shape[0] * shape[1])) for shape in first)
    return {"new_shapes": len(first), "first_steps_s": sum(first.values()), "compile_s": overhead,
            "steady_step_s": statistics.median(s for s, _ in steady) if steady else None}


class StepClock:
    """A Trainer callback that stamps the start of training and the end of every step. mindgpt's Trainer calls
    the methods it finds; transformers' calls every event, so its side mixes this into its TrainerCallback."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_begin(self, *args, **kwargs) -> None:
        self.stamps = [time.perf_counter()]

    def on_step_end(self, *args, **kwargs) -> None:
        self.stamps.append(time.perf_counter())

    @property
    def step_s(self) -> list[float]:
        return np.diff(self.stamps).tolist()


def accuracy(eval_pred) -> dict:
    logits, labels = eval_pred
    return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels))}


def model_fields(data: dict) -> dict:
    return {**PRESETS[PRESET], "n_positions": 512, "vocab_size": data["vocab_size"]}


# --- the data, prepared once by the parent -------------------------------------------------------
def prepare(args) -> dict:
    """Both sides' examples as token ids: `--train-examples` reviews of the imdb training split and
    `--eval-examples` of its validation split (`load_labelled`, what `mindgpt.data.load_dataset('imdb')` reads;
    the splits are stored sorted by label, hence a seeded draw), tokenized as the course does (truncation at
    `--max-length`) by a BPE of `--vocab` tokens trained once on the training split's reviews (cached)."""
    from mindgpt.data.corpora import corpus_tokenizer
    from mindgpt.data.datasets import load_labelled

    splits = load_labelled("imdb", args.data_dir).splits
    docs = [(f"imdb/train/{i}", record["text"]) for i, record in enumerate(splits["train"])]
    tokenizer = corpus_tokenizer(docs, args.vocab, args.data_dir)
    rng = np.random.default_rng(args.seed)

    def encode(records: list[dict], n: int) -> list[dict]:
        chosen = [records[i] for i in rng.permutation(len(records))[:n]]
        encoded = tokenizer([r["text"] for r in chosen], truncation=True, max_length=args.max_length)
        return [{"input_ids": ids, "attention_mask": mask, "labels": int(r["label"])}
                for ids, mask, r in zip(encoded["input_ids"], encoded["attention_mask"], chosen)]

    return {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
            "train": encode(splits["train"], args.train_examples), "eval": encode(splits["validation"],
                                                                                  args.eval_examples)}


# --- the two children ----------------------------------------------------------------------------
def mindgpt_side(data: dict, mode: str) -> dict:
    import mindspore as ms
    from mindspore.dataset import GeneratorDataset
    from mindgpt import GPTConfig, GPTForSequenceClassification, Trainer, TrainingArguments

    ms.set_context(mode=ms.PYNATIVE_MODE if mode == "pynative" else ms.GRAPH_MODE)
    ms.set_seed(0)
    model = GPTForSequenceClassification(GPTConfig(**model_fields(data), num_labels=2,
                                                   pad_token_id=data["pad_token_id"]))

    def pipeline(rows: list[dict]):
        """The course's: tokenizer columns and int32 labels, padded per batch of 4 to the batch's longest."""
        source = [(np.array(r["input_ids"], np.int32), np.array(r["attention_mask"], np.int32),
                   np.int32(r["labels"])) for r in rows]
        dataset = GeneratorDataset(source, column_names=["input_ids", "attention_mask", "labels"], shuffle=False)
        return dataset.padded_batch(BATCH, pad_info={"input_ids": (None, data["pad_token_id"]),
                                                     "attention_mask": (None, 0)})

    clock = StepClock()
    with tempfile.TemporaryDirectory() as out:
        arguments = TrainingArguments(os.path.join(out, "run"), per_device_train_batch_size=BATCH,
                                      per_device_eval_batch_size=BATCH, learning_rate=LEARNING_RATE,
                                      num_train_epochs=1, eval_strategy="no", save_strategy="no",
                                      disable_tqdm=True, seed=SEED)
        trainer = Trainer(model, arguments, train_dataset=pipeline(data["train"]),
                          eval_dataset=pipeline(data["eval"]), compute_metrics=accuracy, callbacks=[clock])
        train_s, output = timed(trainer.train)
        eval_s, metrics = timed(trainer.evaluate)
    shapes = batch_shapes([len(r["input_ids"]) for r in data["train"]], BATCH, trainer.bucket)
    return {"train_wall_s": train_s, "eval_wall_s": eval_s, "train_loss": output.training_loss,
            "eval_accuracy": metrics["eval_accuracy"], "step_s": clock.step_s, "step_shapes": shapes,
            "train_graphs": output.metrics["train_graphs"], "eval_shapes": len(trainer.eval_shapes),
            "trainer_train_samples_per_s": output.metrics["train_samples_per_second"], "mode": mode}


def torch_side(data: dict) -> dict:
    import torch
    from transformers import (OpenAIGPTConfig, OpenAIGPTForSequenceClassification, Trainer, TrainerCallback,
                              TrainingArguments)

    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    torch.manual_seed(0)
    fields = model_fields(data)
    model = OpenAIGPTForSequenceClassification(OpenAIGPTConfig(
        vocab_size=fields["vocab_size"], n_positions=fields["n_positions"], n_embd=fields["n_embd"],
        n_layer=fields["n_layer"], n_head=fields["n_head"], afn="gelu", num_labels=2,
        pad_token_id=data["pad_token_id"]))

    def collate(rows: list[dict]) -> dict:
        return {k: torch.from_numpy(v) for k, v in pad_per_batch(rows, data["pad_token_id"]).items()}

    class Clock(StepClock, TrainerCallback):
        pass

    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        arguments = TrainingArguments(out, per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
                                      learning_rate=LEARNING_RATE, num_train_epochs=1, eval_strategy="no",
                                      save_strategy="no", logging_strategy="no", report_to=[], disable_tqdm=True,
                                      use_cpu=True, seed=SEED, train_sampling_strategy="sequential",
                                      dataloader_num_workers=0)
        trainer = Trainer(model, arguments, train_dataset=data["train"], eval_dataset=data["eval"],
                          data_collator=collate, compute_metrics=accuracy, callbacks=[clock])
        train_s, output = timed(trainer.train)
        eval_s, metrics = timed(trainer.evaluate)
    shapes = batch_shapes([len(r["input_ids"]) for r in data["train"]], BATCH)
    return {"train_wall_s": train_s, "eval_wall_s": eval_s, "train_loss": output.training_loss,
            "eval_accuracy": metrics["eval_accuracy"], "step_s": clock.step_s, "step_shapes": shapes,
            "trainer_train_samples_per_s": output.metrics["train_samples_per_second"],
            "optimizer": str(arguments.optim)}


def child(side: str, data_path: str, mode: str) -> None:
    data = json.loads(Path(data_path).read_text())
    report(mindgpt_side(data, mode) if side == "mindgpt" else torch_side(data))


def run_child(side: str, data_path: str, mode: str) -> dict:
    command = [sys.executable, __file__, "--child", side, "--data", data_path, "--mode", mode]
    return run_measurement(command, f"the {side} side")


# --- the parent ----------------------------------------------------------------------------------
def summarize(result: dict, n_train: int, n_eval: int) -> dict:
    """The reported numbers of one side, from its child's raw result."""
    shapes = [tuple(s) for s in result["step_shapes"]]
    steps = first_step_overhead(result["step_s"], shapes)
    return {"train_samples_per_s": n_train / result["train_wall_s"],
            "eval_samples_per_s": n_eval / result["eval_wall_s"],
            "train_wall_s": result["train_wall_s"], "eval_wall_s": result["eval_wall_s"],
            "padded_tokens": sum(rows * width for rows, width in shapes), **steps,
            "peak_rss_mib": result["peak_rss_mib"]}


ROWS = [("train_samples_per_s", "train samples/s (wall of train(), compile included)", "{:,.2f}"),
        ("eval_samples_per_s", "eval samples/s (wall of evaluate(), compile included)", "{:,.2f}"),
        ("train_wall_s", "train wall time, s", "{:,.1f}"),
        ("compile_s", "first step of each new shape beyond a steady step, s", "{:,.1f}"),
        ("new_shapes", "training shapes (mindgpt: bucketed; torch: batch widths)", "{:,}"),
        ("padded_tokens", "training tokens computed, padding included", "{:,}"),
        ("steady_step_s", "median step after each shape's first, s", "{:,.3f}"),
        ("peak_rss_mib", "peak RSS, MiB", "{:,.0f}")]


def table(summary: dict) -> str:
    lines = ["| measure | mindgpt | HF + torch | mindgpt / HF |", "|---|---:|---:|---:|"]
    for key, label, fmt in ROWS:
        ours, ref = summary["mindgpt"][key], summary["torch"][key]
        if ours is None or ref is None:
            continue
        ratio = f"{ours / ref:.2f}×" if ref else "–"
        lines.append(f"| {label} | {fmt.format(ours)} | {fmt.format(ref)} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-examples", type=int, default=256)
    parser.add_argument("--eval-examples", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=512, help="truncation, as the course's max_seq_len")
    parser.add_argument("--vocab", type=int, default=8192, help="BPE vocabulary trained on IMDB's training reviews")
    parser.add_argument("--mode", choices=["pynative", "graph"], default="pynative",
                        help="mindgpt's context: the course runs in PyNative (the training step compiles either way)")
    parser.add_argument("--seed", type=int, default=0, help="which reviews are drawn")
    parser.add_argument("--data-dir", default=str(HERE.parent / "data_cache"))
    parser.add_argument("--out", default=str(HERE / "results" / "course_flow.json"))
    parser.add_argument("--child", choices=["mindgpt", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.max_length > 512:
        parser.error("--max-length is at most 512, the model's n_positions")
    if args.child:
        return child(args.child, args.data, args.mode)

    started = time.perf_counter()
    data = prepare(args)
    lengths = [len(r["input_ids"]) for r in data["train"]]
    settings = {"preset": PRESET, "model": model_fields(data), "batch": BATCH, "learning_rate": LEARNING_RATE,
                "epochs": 1, "train_examples": len(data["train"]), "eval_examples": len(data["eval"]),
                "max_length": args.max_length, "vocab": data["vocab_size"], "mode": args.mode, "seed": args.seed,
                "distinct_batch_widths": len(set(w for _, w in batch_shapes(lengths, BATCH))),
                "mean_tokens_per_example": float(np.mean(lengths))}
    raw = {}
    with tempfile.TemporaryDirectory() as folder:
        data_path = os.path.join(folder, "data.json")
        Path(data_path).write_text(json.dumps(data))
        for side in ("mindgpt", "torch"):
            raw[side] = run_child(side, data_path, args.mode)
            print(f"  {side}: train {raw[side]['train_wall_s']:.1f} s, eval {raw[side]['eval_wall_s']:.1f} s",
                  flush=True)
    summary = {side: summarize(raw[side], len(data["train"]), len(data["eval"])) for side in raw}
    needed = len(set(tuple(s) for s in raw["mindgpt"]["step_shapes"]))
    graphs = {"train_graphs": raw["mindgpt"]["train_graphs"], "bucketed_shapes": needed,
              "distinct_batch_widths": settings["distinct_batch_widths"], "eval_shapes": raw["mindgpt"]["eval_shapes"],
              "recompiles_per_length": raw["mindgpt"]["train_graphs"] > needed}
    markdown = table(summary)
    info = machine(mindspore=version("mindspore"), torch=version("torch"), transformers=version("transformers"))
    command = "python benchmarks/course_flow.py " + " ".join(sys.argv[1:])
    output = Path(args.out)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "command": command, "machine": info, "settings": settings, "seconds": time.perf_counter() - started,
        "summary": summary, "ratio_train_samples_per_s": summary["mindgpt"]["train_samples_per_s"]
        / summary["torch"]["train_samples_per_s"], "mindgpt_graphs": graphs, "raw": raw, "table": markdown},
        indent=2))
    print(f"\n{markdown}\n\nmindgpt compiled {graphs['train_graphs']} training graph(s) for "
          f"{graphs['distinct_batch_widths']} distinct batch widths in {needed} (rows, bucket) shapes; "
          f"{graphs['eval_shapes']} eval shapes\n{info['cpu_model']}, {info['usable_cores']} cores, load "
          f"{info['load_average']}\n{command}\nresults: {output}")
    if graphs["recompiles_per_length"]:
        raise SystemExit(f"DEFECT: mindgpt compiled {graphs['train_graphs']} training graphs where the batches need "
                         f"{needed}: the flow recompiles as lengths change")


if __name__ == "__main__":
    main()
