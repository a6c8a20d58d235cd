"""Run settings: a YAML file plus `key=value` overrides, checked against the fields that exist.

Keys that name a GPTConfig field (`n_layer`, `n_embd`, `resid_pdrop`, ...) shape the model; the rest
are training settings. An unknown key is an error that suggests the closest known one.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
from typing import Any, Sequence

import yaml

from ..config import GPTConfig
from ..config import _FIELDS as MODEL_FIELDS


@dataclasses.dataclass
class PretrainSettings:
    """Training settings; configs/*.yaml name them (the CLI's default is configs/pretrain_small.yaml)."""

    model: str = "small"  # GPTConfig preset; GPTConfig field keys override it
    corpus: str = "shakespeare"  # or "english" (pretrain.NAMED_CORPORA), a .txt file, a directory of .txt/.md
    tokenizer: str | None = None  # an existing tokenizer directory, instead of training one on the corpus
    vocab_size: int = 512  # size of the BPE vocabulary trained on the corpus
    val_fraction: float = 0.05
    data_dir: str = "data_cache"
    output_dir: str = "outputs/pretrain_small"
    block_size: int = 128
    batch_size: int = 12  # sequences per optimizer step, over all ranks and micro-batches
    grad_accum: int = 1
    max_steps: int = 400
    lr: float = 6e-4
    min_lr: float = 6e-5
    warmup_steps: int = 60
    lr_decay: str = "cosine"
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    precision: str = "auto"  # fp32 on CPU; fp16 (dynamic loss scaling) on GPU/Ascend; or fp32/fp16/bf16
    seed: int = 1337
    eval_every: int = 100
    eval_batches: int = 40
    log_every: int = 10
    save_every: int = 100
    keep_checkpoints: int = 3
    resume: bool = False
    sample_prompt: str = "ROMEO:"
    sample_tokens: int = 48


def load_settings(path: str | None, overrides: Sequence[str] = (), kind: type = PretrainSettings
                  ) -> tuple[Any, dict[str, Any]]:
    """(settings of dataclass `kind`, model config overrides) from a YAML file and `key=value` strings
    (values parsed as YAML)."""
    values: dict[str, Any] = {}
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file {path!r} does not exist (see configs/*.yaml)")
        with open(path, encoding="utf-8") as f:
            values.update(yaml.safe_load(f) or {})
    values.update(parse_overrides(overrides))
    values = {key: _number(value) for key, value in values.items()}
    known = {f.name for f in dataclasses.fields(kind)}
    model_keys = set(MODEL_FIELDS) - {"extra", "vocab_size"} | set(GPTConfig.attribute_map)
    for key in values:
        if key not in known and key not in model_keys:
            close = difflib.get_close_matches(key, sorted(known | model_keys), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown setting {key!r}{hint}")
    settings = kind(**{k: v for k, v in values.items() if k in known})
    return settings, {k: v for k, v in values.items() if k not in known}


_EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _number(value: Any) -> Any:
    """YAML 1.1 reads `1e-4` (no dot) as a string; read it as the float everyone means."""
    return float(value) if isinstance(value, str) and _EXPONENT_NUMBER.match(value) else value


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """`["max_steps=4", "output_dir=out"]` → `{"max_steps": 4, "output_dir": "out"}`."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"override {pair!r} is not of the form key=value")
        out[key.strip()] = yaml.safe_load(value) if value else None
    return out
