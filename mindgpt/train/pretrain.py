"""Pretraining with the language-model objective L1: corpus → tokenizer → shards → graph-mode training.

Everything a run needs is derived from its settings, so a killed run restarted with `resume=true`
continues from its newest intact checkpoint (weights, Adam state, step and LR position; batches are a function
of the step) and ends where an unbroken run ends. The output folder holds one run: another run into it is refused
unless it resumes (under the same settings) or overwrites it. Rank 0 writes all files; every rank trains.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import mindspore as ms
from tqdm import tqdm

from ..checkpoint import weights_digest
from ..config import GPTConfig
from ..data.corpora import prepare_pretraining_data
from ..data.corpus import TokenShards
from ..generate import generate
from ..model import GPTLMHeadModel
from ..tokenizer import GPTTokenizer, document_start
from .distributed import barrier, init_data_parallel
from .optim import build_optimizer, lr_schedule
from .plot import plot_losses
from .run import (METRICS_FILE, PREFIX, MetricsLog, RunLayout, cast_for_training, claim_output_dir,
                  disk_full_reported, precision_for, restores_host_thread, resume_train_state, save_train_state,
                  yield_host_thread)
from .settings import PretrainSettings
from .step import make_train_step

# A run's files in output_dir; `overwrite=true` clears them (and the checkpoints) before a new run.
LAYOUT = RunLayout("checkpoints", PREFIX + "{:08d}", (METRICS_FILE, "loss.png", "summary.json", "final"),
                   "resume=true", "overwrite=true")
# Settings that shape a run's updates: a checkpoint is resumed only under the same values (and the same model
# config and compute precision). max_steps may change (the LR schedule follows the new length; a checkpoint past
# it is refused), and so may evaluation, logging, saving and the sample.
SHAPING_SETTINGS = ("corpus", "tokenizer", "val_fraction", "block_size", "batch_size", "grad_accum", "lr", "min_lr",
                    "warmup_steps", "lr_decay", "weight_decay", "grad_clip", "seed")


# --- data ----------------------------------------------------------------------------------------
def prepare_data(settings: PretrainSettings, rank: int, world: int) -> tuple[GPTTokenizer, TokenShards]:
    """Rank 0 builds (or finds cached) tokenizer and shards; the other ranks then read them."""
    def build() -> tuple[GPTTokenizer, TokenShards]:
        return prepare_pretraining_data(settings.corpus, settings.data_dir, bpe_vocab_size=settings.bpe_vocab_size,
                                        val_fraction=settings.val_fraction, seed=settings.seed,
                                        tokenizer=settings.tokenizer)

    if rank == 0:
        result = build()
        barrier(world)
        return result
    barrier(world)
    return build()  # a cache hit now


# --- model and optimizer -------------------------------------------------------------------------
def build_lm(settings: PretrainSettings, model_overrides: dict[str, Any], tokenizer: GPTTokenizer) -> GPTLMHeadModel:
    """The preset with the YAML's model fields, its table sized and its special ids named by the tokenizer."""
    config = GPTConfig.from_preset(settings.model, **{**tokenizer.special_token_ids(), **model_overrides,
                                                      "vocab_size": len(tokenizer)})
    if settings.block_size > config.n_positions:
        raise ValueError(f"block_size={settings.block_size} exceeds the model's n_positions={config.n_positions}")
    return GPTLMHeadModel(config)


# --- the loop ------------------------------------------------------------------------------------
def window(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """block_size consecutive tokens from a sampler's (x, y) pair of length block_size - 1."""
    return np.concatenate([x, y[:, -1:]], axis=1)


def validation_loss(model: GPTLMHeadModel, shards: TokenShards, settings: PretrainSettings) -> float:
    """Mean validation loss over fixed windows (the same ones at every evaluation)."""
    model.set_train(False)
    total, count = 0.0, 0
    for x, y in shards.eval_batches("validation", settings.batch_size, settings.block_size - 1, settings.eval_batches):
        if len(x) < settings.batch_size:  # a short last batch would compile a second graph
            break
        ids = ms.Tensor(window(x, y))
        total += float(model(ids, labels=ids).loss.asnumpy())
        count += 1
    model.set_train(True)
    return total / max(count, 1)


@restores_host_thread
def pretrain(settings: PretrainSettings, model_overrides: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) a pretraining job; returns the final metrics and output paths."""
    rank, world = init_data_parallel()
    precision = precision_for(settings.precision)
    ms.set_seed(settings.seed)
    rows = settings.batch_size // world
    if settings.batch_size % world or rows % settings.grad_accum:
        raise ValueError(f"batch_size={settings.batch_size} must split evenly over {world} ranks and "
                         f"grad_accum={settings.grad_accum} micro-batches")
    out = Path(settings.output_dir)
    with claim_output_dir(out, LAYOUT, settings.resume, settings.overwrite, writer=rank == 0):
        if rank == 0:
            (out / "settings.json").write_text(json.dumps(
                {**dataclasses.asdict(settings), **model_overrides}, indent=2))
        tokenizer, shards = prepare_data(settings, rank, world)
        model = build_lm(settings, model_overrides, tokenizer)
        lrs = lr_schedule(settings.lr, settings.max_steps, settings.warmup_steps, settings.lr_decay, settings.min_lr)
        optimizer = build_optimizer(model, lrs, settings.weight_decay)
        with disk_full_reported(out, LAYOUT, model, optimizer):
            metrics = train(settings, model, optimizer, lrs, tokenizer, shards, precision, rank, world)
            return finish(model, tokenizer, shards, settings, metrics, rank, world)


def shaping_settings(settings: PretrainSettings, model: GPTLMHeadModel, precision: str, shards: TokenShards
                     ) -> dict[str, Any]:
    """What a checkpoint must share with the run that resumes it (see SHAPING_SETTINGS), and the token shards'
    cache key: a tokenizer retrained on the same corpus may number its tokens differently."""
    return {"model": model.config.to_dict(), "precision": precision, "data": shards.meta["cache_key"],
            **{name: getattr(settings, name) for name in SHAPING_SETTINGS}}


def train(settings: PretrainSettings, model: GPTLMHeadModel, optimizer: ms.nn.Optimizer, lrs: np.ndarray,
          tokenizer: GPTTokenizer, shards: TokenShards, precision: str, rank: int, world: int) -> MetricsLog:
    """The steps from the newest checkpoint (`resume`) or the start to max_steps; rank 0 logs and saves."""
    out, rows = Path(settings.output_dir), settings.batch_size // world
    trained, scaler = cast_for_training(model, precision)
    step_fn = make_train_step(trained, optimizer, settings.grad_clip, settings.grad_accum, scaler)
    run = shaping_settings(settings, model, precision, shards)
    state = resume_train_state(out, LAYOUT, model, optimizer, run, settings.max_steps) if settings.resume else None
    start = state["step"] if state else 0
    metrics = MetricsLog(out / METRICS_FILE, start, enabled=rank == 0)
    model.set_train(True)
    n_params = sum(p.size for p in model.trainable_params())
    if rank == 0:
        print(f"mindgpt pretrain: {n_params / 1e6:.2f}M parameters, {len(tokenizer)} tokens vocabulary, "
              f"{len(shards.tokens('train')):,} train tokens, {world} rank(s), steps {start}→{settings.max_steps}")
    bar = tqdm(total=settings.max_steps, initial=start, disable=rank != 0, unit="step", dynamic_ncols=True)
    tokens_per_step = settings.batch_size * settings.block_size
    timer, val_loss, first = time.perf_counter(), float("nan"), start
    for step in range(start, settings.max_steps):
        x, y = shards.get_batch("train", step, rows, settings.block_size - 1, settings.seed, rank, world)
        ids = ms.Tensor(window(x, y))
        loss = float(step_fn(ids, None, None, ids).asnumpy())
        if not math.isfinite(loss) and scaler is None:
            raise FloatingPointError(f"loss became {loss} at step {step + 1}; lower lr (now {settings.lr})")
        done = step + 1
        record: dict[str, Any] = {"step": done, "loss": loss, "lr": float(lrs[step])}
        if done % settings.eval_every == 0 or done == settings.max_steps:
            val_loss = validation_loss(model, shards, settings) if rank == 0 else float("nan")
            record.update(val_loss=val_loss, val_ppl=math.exp(val_loss))
        elapsed = time.perf_counter() - timer
        record["tokens_per_s"] = tokens_per_step * (done - first) / max(elapsed, 1e-9)
        if done == first + 1:  # the first step includes compilation: rate the rest
            timer, first = time.perf_counter(), done
            yield_host_thread()
        if done % settings.log_every == 0 or "val_loss" in record:
            metrics.write(record)
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lrs[step]:.2e}", tok_s=f"{record['tokens_per_s']:.0f}",
                        val_ppl=f"{math.exp(val_loss):.1f}" if math.isfinite(val_loss) else "-")
        bar.update(1)
        if rank == 0 and (done % settings.save_every == 0 or done == settings.max_steps):
            save_train_state(out / LAYOUT.checkpoints, done, model, optimizer, {"loss": loss, "run": run},
                             settings.keep_checkpoints)
    bar.close()
    return metrics


def finish(model: GPTLMHeadModel, tokenizer: GPTTokenizer, shards: TokenShards, settings: PretrainSettings,
           metrics: MetricsLog, rank: int, world: int) -> dict[str, Any]:
    """Rank 0: final evaluation, the loadable model + tokenizer directory, the loss plot and a sample."""
    barrier(world)
    out = Path(settings.output_dir)
    print(f"rank {rank}: weights sha256 {weights_digest(model)}", flush=True)  # replicas must agree
    if rank != 0:
        return {}
    final = out / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    val_loss, unigram_ppl = validation_loss(model, shards, settings), shards.unigram_perplexity()
    plotted = plot_losses(out / "loss.png", metrics.curve("loss"), metrics.curve("val_loss"), metrics.curve("lr"),
                          baseline=math.log(unigram_ppl),
                          title=f"{settings.model} on {Path(settings.corpus).name}: {out.resolve().name}")
    prompt = document_start(tokenizer, tokenizer.encode_batch([settings.sample_prompt])[0] if settings.sample_prompt
                            else [])
    room = model.config.n_positions - len(prompt)
    sample_ids = generate(model, [prompt], max_new_tokens=min(settings.sample_tokens, room), do_sample=True,
                          top_k=40, seed=settings.seed)[0]
    summary = {"val_loss": val_loss, "val_ppl": math.exp(val_loss), "unigram_ppl": unigram_ppl,
               "final_dir": str(final), "loss_plot": str(out / "loss.png") if plotted else None,
               "metrics": str(out / METRICS_FILE), "sample": tokenizer.decode(sample_ids, skip_special_tokens=True)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
