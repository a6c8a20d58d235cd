"""GPTConfig: the hyper-parameters of a GPT-1 model, in Hugging Face's `config.json` layout.

Field names and defaults follow the lecture (and HF's `OpenAIGPTConfig`), so a `config.json` written by
transformers loads here and ours loads there. Keys this class does not know are kept and written back.
"""
from __future__ import annotations

import json
import math
import numbers
import os
from typing import Any

CONFIG_NAME = "config.json"

# Every activation GPT-1 checkpoints use. "gelu" is the tanh approximation in GPT-1 and in HF's openai-gpt,
# so "gelu" and "gelu_new" are the same function here.
ACTIVATIONS = ("gelu", "gelu_new", "relu", "silu", "swish")
SUMMARY_ACTIVATIONS = (None, "tanh")
# How a classifier's loss is computed, as in HF; None: regression for one label, else single-label.
PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")
TOKEN_ID_FIELDS = ("pad_token_id", "cls_token_id", "bos_token_id", "sep_token_id", "eos_token_id")
DROPOUT_FIELDS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_first_dropout", "classifier_dropout")
BOOLEAN_FIELDS = ("summary_use_proj", "summary_proj_to_labels", "output_attentions", "output_hidden_states",
                  "return_dict", "tie_word_embeddings")

# Model shapes by name: the paper's, and CPU-sized ones named <layers>x<width>.
PRESETS: dict[str, dict[str, Any]] = {
    "gpt1": dict(vocab_size=40478, n_positions=512, n_embd=768, n_layer=12, n_head=12),  # 117M parameters
    "6x384": dict(vocab_size=8192, n_positions=256, n_embd=384, n_layer=6, n_head=6),  # the benchmark's CPU shape
    "4x256": dict(vocab_size=4096, n_positions=128, n_embd=256, n_layer=4, n_head=4),  # the CPU pretraining runs
    "2x64": dict(vocab_size=1024, n_positions=128, n_embd=64, n_layer=2, n_head=4),  # seconds: tests, notebooks
}
RENAMED_PRESETS = {"small": "6x384", "tiny": "2x64"}
# The sequence-summary settings HF's config carries, at the only values GPT-1's heads implement: the hidden state at
# the classifier token, projected to the scores.
SUMMARY_SETTINGS = {"summary_type": "cls_index", "summary_use_proj": True, "summary_proj_to_labels": True}


class GPTConfig:
    """Model hyper-parameters; `hidden_size` and the other `attribute_map` names alias the GPT-1 names."""

    model_type = "openai-gpt"
    attribute_map = {
        "max_position_embeddings": "n_positions",
        "hidden_size": "n_embd",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }

    def __init__(
        self,
        vocab_size: int = 40478,
        n_positions: int = 512,
        n_embd: int = 768,
        n_layer: int = 12,
        n_head: int = 12,
        afn: str = "gelu_new",
        resid_pdrop: float = 0.1,
        embd_pdrop: float = 0.1,
        attn_pdrop: float = 0.1,
        layer_norm_epsilon: float = 1e-5,
        initializer_range: float = 0.02,
        summary_type: str = "cls_index",
        summary_use_proj: bool = True,
        summary_activation: str | None = None,
        summary_proj_to_labels: bool = True,
        summary_first_dropout: float = 0.1,
        num_labels: int | None = None,
        id2label: dict[int, str] | None = None,
        label2id: dict[str, int] | None = None,
        problem_type: str | None = None,
        lm_coef: float = 0.0,
        classifier_dropout: float = 0.0,
        pad_token_id: int | None = None,
        cls_token_id: int | None = None,
        bos_token_id: int | None = None,
        sep_token_id: int | None = None,
        eos_token_id: int | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
        tie_word_embeddings: bool = True,
        architectures: list[str] | None = None,
        **kwargs: Any,
    ):
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.n_head = n_head
        self.afn = afn
        self.resid_pdrop = resid_pdrop
        self.embd_pdrop = embd_pdrop
        self.attn_pdrop = attn_pdrop
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.summary_type = summary_type
        self.summary_use_proj = summary_use_proj
        self.summary_activation = summary_activation
        self.summary_proj_to_labels = summary_proj_to_labels
        self.summary_first_dropout = summary_first_dropout
        self.problem_type = problem_type
        self.lm_coef = lm_coef
        self.classifier_dropout = classifier_dropout
        self.pad_token_id = pad_token_id
        self.cls_token_id = cls_token_id
        self.bos_token_id = bos_token_id
        self.sep_token_id = sep_token_id
        self.eos_token_id = eos_token_id
        self.output_attentions = output_attentions
        self.output_hidden_states = output_hidden_states
        self.return_dict = return_dict
        self.tie_word_embeddings = tie_word_embeddings
        self.architectures = architectures
        # As in HF, the label names are the labels: num_labels is len(id2label). Files store str keys.
        self.id2label = None if id2label is None else {int(k): v for k, v in id2label.items()}
        self.label2id = label2id if id2label is not None else None
        if self.id2label is None or (num_labels is not None and num_labels != len(self.id2label)):
            self.num_labels = 2 if num_labels is None else num_labels
        self.extra: dict[str, Any] = {}
        for key, value in kwargs.items():
            setattr(self, key, value)  # aliases resolve to fields; anything else lands in `extra`
        self.validate()

    @property
    def num_labels(self) -> int:
        """How many outputs a classifier has: len(id2label), as in HF."""
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"GPTConfig.num_labels must be a positive integer, got {n!r}")
        if self.__dict__.get("id2label") is None or len(self.id2label) != n:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {f"LABEL_{i}": i for i in range(n)}

    @property
    def use_return_dict(self) -> bool:
        """HF's older name for return_dict."""
        return self.return_dict

    # --- aliases and unknown keys -------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        name = type(self).attribute_map.get(name, name)
        if name == "extra" or name in FIELDS:
            object.__setattr__(self, name, value)
        else:
            self.extra[name] = value

    def __getattr__(self, name: str) -> Any:  # only called when normal lookup fails
        if name in type(self).attribute_map:
            return getattr(self, type(self).attribute_map[name])
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"GPTConfig has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GPTConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"GPTConfig({json.dumps(self.to_dict(), sort_keys=True)})"

    # --- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ValueError naming the bad field and how to fix it. What only a model can check (heads dividing
        the width) is checked when a model is built (`check_buildable`), as in HF."""
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.afn not in ACTIVATIONS:
            raise ValueError(f"GPTConfig.afn {self.afn!r} is unknown; use one of {ACTIVATIONS}")
        for name, supported in SUMMARY_SETTINGS.items():
            if getattr(self, name) != supported:
                raise ValueError(f"GPTConfig.{name}={getattr(self, name)!r} is not supported; use {name}={supported!r} "
                                 "(GPT-1's heads score the hidden state at the classifier token)")
        if self.summary_activation not in SUMMARY_ACTIVATIONS:
            raise ValueError(
                f"GPTConfig.summary_activation {self.summary_activation!r} is unknown; use None or 'tanh'"
            )
        for name in DROPOUT_FIELDS:
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value < 1:
                raise ValueError(f"GPTConfig.{name} is a dropout probability in [0, 1), got {value!r}")
        if not _is_number(self.lm_coef) or self.lm_coef < 0:
            raise ValueError(f"GPTConfig.lm_coef (λ in L3 = L2 + λ·L1) must be a finite number >= 0, got "
                             f"{self.lm_coef!r}")
        if not _is_number(self.layer_norm_epsilon) or self.layer_norm_epsilon <= 0:
            raise ValueError(f"GPTConfig.layer_norm_epsilon must be a finite number > 0 (e.g. 1e-5), got "
                             f"{self.layer_norm_epsilon!r}")
        if not _is_number(self.initializer_range) or self.initializer_range < 0:
            raise ValueError(f"GPTConfig.initializer_range (the initial weights' standard deviation) must be a "
                             f"finite number >= 0 (GPT-1: 0.02), got {self.initializer_range!r}")
        for name in BOOLEAN_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"GPTConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"GPTConfig.problem_type {self.problem_type!r} is unknown; use one of {PROBLEM_TYPES}")
        if self.problem_type == "single_label_classification" and self.num_labels == 1:
            raise ValueError("problem_type='single_label_classification' needs num_labels >= 2; "
                             "use problem_type='regression' for one output")
        for name in TOKEN_ID_FIELDS:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value < self.vocab_size):
                raise ValueError(
                    f"GPTConfig.{name}={value!r} is not a token id below vocab_size={self.vocab_size}; "
                    "add the token to the tokenizer and resize the embeddings first"
                )

    def check_buildable(self) -> None:
        """What a model built from this config needs beyond `validate`: every field valid, heads dividing the width."""
        self.validate()
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}); "
                f"pick n_head among {[h for h in range(1, self.n_embd + 1) if self.n_embd % h == 0 and h <= 64]}"
            )

    @property
    def classifier_token_id(self) -> int | None:
        """The token whose hidden state the classification heads read: cls_token_id, else eos_token_id."""
        return self.cls_token_id if self.cls_token_id is not None else self.eos_token_id

    # --- presets ------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "GPTConfig":
        """A named shape (`PRESETS`: `gpt1`, `6x384`, `4x256`, `2x64`) with any field overridden."""
        if name not in PRESETS:
            renamed = f" (renamed {RENAMED_PRESETS[name]!r})" if name in RENAMED_PRESETS else ""
            raise ValueError(f"unknown GPTConfig preset {name!r}{renamed}; choose one of {list(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    # --- serialization ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {"model_type": self.model_type}
        out.update({name: getattr(self, name) for name in FIELDS if name != "num_labels"})
        out.update(self.extra)
        if out["afn"] == "gelu_new":  # the same tanh GELU; transformers' openai-gpt only knows it as "gelu"
            out["afn"] = "gelu"
        out["id2label"] = {str(i): name for i, name in self.id2label.items()}  # JSON keys are strings
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], **overrides: Any) -> "GPTConfig":
        values = {**values, **overrides}
        model_type = values.pop("model_type", cls.model_type)
        if model_type not in (cls.model_type, "gpt"):
            raise ValueError(f"config model_type {model_type!r} is not a GPT-1 ('openai-gpt') config")
        if "num_labels" in overrides and len(values.get("id2label") or {}) != overrides["num_labels"]:
            values.pop("id2label", None)  # a new label count replaces the file's label names
            values.pop("label2id", None)
        return cls(**values)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        from .io import atomic_write_text

        atomic_write_text(path, self.to_json_string())

    @classmethod
    def from_json_file(cls, path: str | os.PathLike, **overrides: Any) -> "GPTConfig":
        """A config.json; what is wrong with it is a ValueError that names the file."""
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); is the config file truncated?") from e
        if not isinstance(values, dict):
            raise ValueError(f"{path} holds a JSON {type(values).__name__}, not an object of config fields "
                             '(e.g. {"n_embd": 768, ...}); is it a config.json?')
        try:
            return cls.from_dict(values, **overrides)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        os.makedirs(directory, exist_ok=True)
        self.to_json_file(os.path.join(directory, CONFIG_NAME))

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, **overrides: Any) -> "GPTConfig":
        path = os.path.join(directory, CONFIG_NAME) if os.path.isdir(directory) else directory
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no {CONFIG_NAME} at {path}")
        return cls.from_json_file(path, **overrides)


def _is_number(value: Any) -> bool:
    """A finite real number (numpy's too), not a bool: what the float fields hold."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


# The public field list: __init__'s named parameters. Run settings tell model fields from training settings by it.
FIELDS = tuple(GPTConfig.__init__.__code__.co_varnames[1 : GPTConfig.__init__.__code__.co_argcount])
