"""Run settings: a YAML file plus `key=value` overrides, checked against the fields that exist.

Keys that name a public GPTConfig field (`n_layer`, `resid_pdrop`, `lm_coef`, ...) shape the model; the rest
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
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..config import FIELDS, PRESETS, GPTConfig

# The shipped run configs: the repository's configs/, which setup.py installs as mindgpt/configs/.
_PACKAGE = Path(__file__).resolve().parents[1]
CONFIG_DIR = next((d for d in (_PACKAGE / "configs", _PACKAGE.parent / "configs") if d.is_dir()), _PACKAGE / "configs")


@dataclasses.dataclass
class PretrainSettings:
    """Pretraining settings. A run's YAML (configs/pretrain_*.yaml) is the one place their values live: it names
    every field without a default. The fields with a default are switches, off unless a run asks."""

    model: str  # GPTConfig preset (config.PRESETS); GPTConfig field keys in the same YAML override it
    corpus: str  # a named corpus (data.corpora.NAMED_CORPORA), a .txt file, or a directory of .txt/.md files
    bpe_vocab_size: int  # tokens the BPE vocabulary trained on the corpus holds; the model's vocab_size follows it
    val_fraction: float
    data_dir: str
    output_dir: str
    block_size: int
    batch_size: int  # sequences per optimizer step, over all ranks and micro-batches
    grad_accum: int
    max_steps: int
    lr: float
    min_lr: float
    warmup_steps: int
    lr_decay: str
    weight_decay: float
    grad_clip: float
    precision: str  # auto: fp32 on CPU, fp16 (dynamic loss scaling) on GPU/Ascend; or fp32/fp16/bf16
    seed: int
    eval_every: int
    eval_batches: int
    log_every: int
    save_every: int
    keep_checkpoints: int
    sample_prompt: str
    sample_tokens: int
    tokenizer: str | None = None  # an existing tokenizer directory, instead of training one on the corpus
    resume: bool = False  # continue the run in output_dir from its newest intact checkpoint
    overwrite: bool = False  # replace the run in output_dir (its checkpoints and logs); else it is refused


@dataclasses.dataclass
class FinetuneSettings:
    """Fine-tuning settings; configs/finetune_<task>.yaml name every field without a default (the paper's recipe:
    lr 6.25e-5, linear decay after 0.2% warmup, 3 epochs, batch 32). The model's own fields (λ as `lm_coef`,
    `classifier_dropout`, `problem_type`, ...) sit in the same YAML and go to GPTConfig."""

    dataset: str  # mr, imdb, bbc, tweets, lee, shakespeare_next_line or custom (see data/datasets.py)
    data_dir: str
    split_seed: int
    val_fraction: float
    test_fraction: float
    output_dir: str
    max_length: int  # tokens per row, specials included; at most the model's n_positions
    buckets: list[int] | None  # padded lengths, one compiled graph each; null: 32, 64, ... below max_length
    epochs: int
    batch_size: int  # examples per optimizer step
    grad_accum: int  # micro-batches per step, when batch_size does not fit in memory at once
    eval_batch_size: int
    lr: float
    warmup_fraction: float
    lr_decay: str
    weight_decay: float
    grad_clip: float
    metric: str | None  # validation metric that picks the best epoch; null: the task's headline metric
    precision: str
    seed: int
    log_every: int
    pretrained: str | None = None  # a mindgpt pretraining output (…/final) or an HF openai-gpt directory
    from_scratch: bool = False  # the pretrained directory's shapes and tokenizer, but random weights
    data_path: str | None = None  # custom: a .csv/.jsonl file or a folder with train/validation/test files
    task: str | None = None  # custom pairs only: entailment or similarity instead of the inferred task
    n_choices: int = 2  # shakespeare_next_line: candidate lines per example (2-4)
    max_train_examples: int = 0  # 0: all; else a seeded random subset (quick runs, the CPU ablation)
    max_eval_examples: int = 0  # 0: all; else a seeded subset of validation and of test
    max_steps: int | None = None  # stop after this many updates (quick runs), whatever `epochs` says
    resume: bool = False  # continue from the newest checkpoint-<step> in output_dir
    overwrite: bool = False  # replace the run in output_dir (its checkpoints and logs); else it is refused


# Names that moved: the old key, and what to write instead.
MOVED = {"vocab_size": "the BPE vocabulary's size is bpe_vocab_size (the model's vocab_size follows the tokenizer)",
         "kind": "a classifier's loss is the model field problem_type: single_label_classification or regression"}
# Model fields a run never sets: the tokenizer sizes the table, and its special tokens name the ids.
TOKENIZER_FIELDS = ("vocab_size", "pad_token_id", "cls_token_id", "bos_token_id", "sep_token_id", "eos_token_id")


def load_settings(path: str | None, overrides: Sequence[str] = (), settings_class: type = PretrainSettings
                  ) -> tuple[Any, dict[str, Any]]:
    """(an instance of `settings_class`, model config overrides) from a YAML file (a path, or the name of a config
    mindgpt ships) and `key=value` strings (values parsed as YAML). Keys naming a public GPTConfig field
    (`config.FIELDS` or an alias such as `hidden_size`) are model overrides; the rest are `settings_class`'s fields."""
    values: dict[str, Any] = read_yaml(find_config(path)) if path else {}
    values.update(parse_overrides(overrides))
    values = {key: _number(value) for key, value in values.items()}
    fields = {f.name: f for f in dataclasses.fields(settings_class)}
    model_keys = (set(FIELDS) | set(GPTConfig.attribute_map)) - set(TOKENIZER_FIELDS)
    for key in values:
        if key in MOVED and key not in fields:
            raise ValueError(f"setting {key!r} is not a {settings_class.__name__} field: {MOVED[key]}")
        if key not in fields and key not in model_keys:
            close = difflib.get_close_matches(key, sorted(set(fields) | model_keys), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown setting {key!r}{hint}")
    missing = [name for name, f in fields.items() if name not in values and f.default is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{path or 'the settings'} lack(s) {', '.join(missing)}: a run's YAML names every setting "
                         f"(copy them from the shipped {example_config(settings_class)})")
    for key, value in values.items():
        if key in fields:
            check_setting(key, value, fields[key].type)
    model_overrides = {k: v for k, v in values.items() if k not in fields}
    # the vocabulary is the tokenizer's, known later: token ids in the overrides are checked against it then
    GPTConfig(**{**model_overrides, "vocab_size": sys.maxsize})
    return settings_class(**{k: v for k, v in values.items() if k in fields}), model_overrides


def example_config(settings_class: type) -> str:
    return "configs/pretrain_small.yaml" if settings_class is PretrainSettings else "configs/finetune_mr.yaml"


def find_config(path: str) -> str:
    """`path` itself when it exists, else the shipped config of that file name (`pretrain_english.yaml`, or
    `configs/pretrain_english.yaml` from outside a checkout): the configs install with the package."""
    if os.path.exists(path):
        return path
    shipped = CONFIG_DIR / os.path.basename(path)
    if shipped.is_file():
        return str(shipped)
    raise FileNotFoundError(f"config file {path!r} does not exist; mindgpt ships "
                            f"{', '.join(sorted(p.name for p in CONFIG_DIR.glob('*.yaml')))}")


def read_yaml(path: str) -> dict[str, Any]:
    """A settings file's mapping; a missing, unreadable or non-mapping file is an error naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} is not a file")
    with open(path, encoding="utf-8") as f:
        try:
            values = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError(f"config file {path} is not valid YAML: {yaml_problem(e)}") from e
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"config file {path} holds a YAML {type(values).__name__}, not a mapping of "
                         "setting: value (e.g. `max_steps: 100`)")
    return values or {}


# Ranges beyond the type, by setting name: a name means the same in every settings class.
LIMITS = {">= 1": lambda v: v >= 1, ">= 0": lambda v: v >= 0, "> 0": lambda v: v > 0,
          "in (0, 1)": lambda v: 0 < v < 1, "in [0, 1]": lambda v: 0 <= v <= 1}
RANGES = {
    **dict.fromkeys(("bpe_vocab_size", "block_size", "batch_size", "grad_accum", "max_steps", "eval_every", "eval_batches",
                     "log_every", "save_every", "keep_checkpoints", "max_length", "epochs", "eval_batch_size"), ">= 1"),
    **dict.fromkeys(("min_lr", "warmup_steps", "weight_decay", "grad_clip", "seed", "split_seed", "sample_tokens",
                     "max_train_examples", "max_eval_examples"), ">= 0"),
    "lr": "> 0", "val_fraction": "in (0, 1)", "test_fraction": "in (0, 1)", "warmup_fraction": "in [0, 1]",
}
CHOICES = {"model": tuple(PRESETS), "lr_decay": ("cosine", "linear", "constant"),
           "precision": ("auto", "fp32", "fp16", "bf16")}
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
    types = [t.strip() for t in annotation.split("|")]
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise TypeError(f"setting {name} is annotated {annotation!r}; load_settings cannot check {unknown[0]!r}: "
                        "add it to mindgpt.train.settings.TYPES")
    if not any(TYPES[t][0](value) for t in types):
        wanted = " or ".join(TYPES[t][1] for t in types)
        scalar = "str" in types and isinstance(value, (int, float))  # YAML read text as a number or boolean
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
