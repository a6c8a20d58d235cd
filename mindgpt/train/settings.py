"""Run settings: a YAML file plus `key=value` overrides, checked against the fields that exist.

Keys that name a GPTConfig field (`n_layer`, `n_embd`, `resid_pdrop`, ...) shape the model; the rest
are training settings. An unknown key is an error that suggests the closest known one. Every value is checked
when the settings load, before any data or model work: a setting against its dataclass annotation and its range
(`RANGES`, `CHOICES`), a model field by `GPTConfig.validate`. A typo found there costs nothing; found by the
training loop, it costs the data preparation and the steps before it.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import sys
from typing import Any, Sequence

import yaml

from ..config import PRESETS, GPTConfig
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
    resume: bool = False  # continue the run in output_dir from its newest intact checkpoint
    overwrite: bool = False  # replace the run in output_dir (its checkpoints and logs); else it is refused
    sample_prompt: str = "ROMEO:"
    sample_tokens: int = 48


def load_settings(path: str | None, overrides: Sequence[str] = (), kind: type = PretrainSettings
                  ) -> tuple[Any, dict[str, Any]]:
    """(settings of dataclass `kind`, model config overrides) from a YAML file and `key=value` strings
    (values parsed as YAML)."""
    values: dict[str, Any] = read_yaml(path) if path else {}
    values.update(parse_overrides(overrides))
    values = {key: _number(value) for key, value in values.items()}
    known = {f.name for f in dataclasses.fields(kind)}
    model_keys = set(MODEL_FIELDS) - {"extra", "vocab_size"} | set(GPTConfig.attribute_map)
    for key in values:
        if key not in known and key not in model_keys:
            close = difflib.get_close_matches(key, sorted(known | model_keys), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown setting {key!r}{hint}")
    annotations = {f.name: f.type for f in dataclasses.fields(kind)}
    for key, value in values.items():
        if key in known:
            check_setting(key, value, annotations[key])
    model_overrides = {k: v for k, v in values.items() if k not in known}
    # the vocabulary is the tokenizer's, known later: token ids in the overrides are checked against it then
    GPTConfig(**{**model_overrides, "vocab_size": sys.maxsize})
    return kind(**{k: v for k, v in values.items() if k in known}), model_overrides


def read_yaml(path: str) -> dict[str, Any]:
    """A settings file's mapping; a missing, unreadable or non-mapping file is an error naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist (see configs/*.yaml)")
    with open(path, encoding="utf-8") as f:
        try:
            values = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"config file {path} is not valid YAML: {yaml_problem(e)}") from e
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"config file {path} holds a YAML {type(values).__name__}, not a mapping of "
                         "setting: value (e.g. `max_steps: 100`)")
    return values or {}


# Ranges beyond the type, by setting name: a name means the same in every kind of settings.
LIMITS = {">= 1": lambda v: v >= 1, ">= 0": lambda v: v >= 0, "> 0": lambda v: v > 0,
          "in (0, 1)": lambda v: 0 < v < 1, "in [0, 1)": lambda v: 0 <= v < 1, "in [0, 1]": lambda v: 0 <= v <= 1}
RANGES = {
    **dict.fromkeys(("vocab_size", "block_size", "batch_size", "grad_accum", "max_steps", "eval_every", "eval_batches",
                     "log_every", "save_every", "keep_checkpoints", "max_length", "epochs", "eval_batch_size"), ">= 1"),
    **dict.fromkeys(("min_lr", "warmup_steps", "weight_decay", "grad_clip", "seed", "split_seed", "sample_tokens",
                     "max_train_examples", "max_eval_examples", "lm_coef"), ">= 0"),
    "lr": "> 0", "val_fraction": "in (0, 1)", "test_fraction": "in (0, 1)", "warmup_fraction": "in [0, 1]",
    "classifier_dropout": "in [0, 1)",
}
CHOICES = {"model": tuple(PRESETS), "lr_decay": ("cosine", "linear", "constant"),
           "precision": ("auto", "fp32", "fp16", "bf16"), "kind": ("classification", "regression")}
# How each type a settings dataclass annotates is checked and named. An int serves a float setting (lr: 1);
# a bool is no number, and YAML's true/false is the only bool (`resume=maybe` is a string).
TYPES = {
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "None": (lambda v: v is None, "null"),
    "list[int]": (lambda v: isinstance(v, list) and all(TYPES["int"][0](i) and i >= 1 for i in v),
                  "a list of positive integers"),
}


def check_setting(name: str, value: Any, annotation: str) -> None:
    """A ValueError naming the setting, its value and what it must be, unless `value` fits the dataclass's
    `annotation` (a string such as "int" or "str | None") and the setting's range or choices."""
    kinds = [kind.strip() for kind in annotation.split("|")]
    unknown = [kind for kind in kinds if kind not in TYPES]
    if unknown:
        raise TypeError(f"setting {name} is annotated {annotation!r}; load_settings cannot check {unknown[0]!r}: "
                        "add it to mindgpt.train.settings.TYPES")
    if not any(TYPES[kind][0](value) for kind in kinds):
        wanted = " or ".join(TYPES[kind][1] for kind in kinds)
        scalar = "str" in kinds and isinstance(value, (int, float))  # YAML read text as a number or boolean
        quote = f"; quote it to keep it text: {name}: '{value}'" if scalar else ""
        raise ValueError(f"setting {name} must be {wanted}, got {value!r}{quote}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"setting {name} must be a finite number, got {value!r}")
    if name in RANGES and isinstance(value, (int, float)) and not LIMITS[RANGES[name]](value):
        raise ValueError(f"setting {name} must be {RANGES[name]}, got {value!r}")
    if name in CHOICES and value not in CHOICES[name]:
        close = difflib.get_close_matches(str(value), CHOICES[name], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"setting {name}={value!r} is not one of {', '.join(CHOICES[name])}{hint}")


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
        try:
            out[key.strip()] = yaml.safe_load(value) if value else None
        except yaml.YAMLError as e:
            raise ValueError(f"override {pair!r}: the value is not valid YAML ({yaml_problem(e)}); quote text "
                             f"with a colon or bracket: {key}='...'") from e
    return out


def yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's error in one line (its message spans several, quoting the text)."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(error, 'problem', None) or error}{where}"
