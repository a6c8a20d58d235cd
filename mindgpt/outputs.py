"""What the models return: Hugging Face-style output objects that are also tuples.

`model(**batch).logits` and `loss, logits = model(ids, labels=ids)` both work, as in transformers: the tuple
holds the fields that are set, in the class's field order (the loss first when labels are given), and every
field is an attribute (None when unset) and a key. Fields listed in `attributes_only` are extra information
mindgpt adds beside HF's fields (e.g. L2 and L1 of a classifier's L3); they are attributes and keys, never
tuple items, so a tuple unpacked as in HF keeps its length.

Compiled graphs return plain tuples of fixed length, one item per field in `fields + attributes_only` (None
where unset); the model's Python call turns that into the output object (`from_graph`). Code inside a graph
reads a field by its position, `OutputClass.index(name)`.
"""
from __future__ import annotations

from typing import Any, ClassVar, Iterator


class ModelOutput(tuple):
    fields: ClassVar[tuple[str, ...]] = ()
    attributes_only: ClassVar[tuple[str, ...]] = ()

    def __new__(cls, **values: Any) -> "ModelOutput":
        names = cls.fields + cls.attributes_only
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {unknown[0]!r}; its fields are {list(names)}")
        output = super().__new__(cls, tuple(values[n] for n in cls.fields if values.get(n) is not None))
        output.__dict__.update({n: values.get(n) for n in names})
        return output

    @classmethod
    def from_graph(cls, items: tuple) -> "ModelOutput":
        """The output object of a graph's fixed-length tuple (see the module docstring)."""
        return cls(**dict(zip(cls.fields + cls.attributes_only, items)))

    @classmethod
    def index(cls, name: str) -> int:
        """Position of field `name` in a graph's fixed-length tuple."""
        return (cls.fields + cls.attributes_only).index(name)

    def __getitem__(self, key):
        if isinstance(key, str):
            if self.__dict__.get(key) is None:
                raise KeyError(f"{type(self).__name__} has no {key!r}; set fields: {list(self.keys())}")
            return self.__dict__[key]
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return [n for n in self.fields + self.attributes_only if self.__dict__[n] is not None]

    def values(self) -> list:
        return [self.__dict__[n] for n in self.keys()]

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((n, self.__dict__[n]) for n in self.keys())

    def to_tuple(self) -> tuple:
        return tuple(self)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={_summary(v)}" for n, v in self.items())
        return f"{type(self).__name__}({shown})"

    def __reduce__(self):
        return (_rebuild, (type(self), {n: self.__dict__[n] for n in self.fields + self.attributes_only}))


def _rebuild(cls: type, values: dict) -> ModelOutput:
    return cls(**values)


def _summary(value: Any) -> str:
    if isinstance(value, tuple):
        return f"({len(value)} tensors)"
    shape = getattr(value, "shape", None)
    return f"<{type(value).__name__} shape={tuple(shape)}>" if shape is not None else repr(value)


class BaseModelOutput(ModelOutput):
    """GPTModel: the last layer's hidden states, optionally every layer's input and the attention weights."""

    fields = ("last_hidden_state", "hidden_states", "attentions")


class CausalLMOutput(ModelOutput):
    """GPTLMHeadModel: L1 (with labels) and the next-token logits [..., T, vocab_size]."""

    fields = ("loss", "logits", "hidden_states", "attentions")


class SequenceClassifierOutput(ModelOutput):
    """GPTForSequenceClassification: the loss (L3 = L2 + λ·L1 when config.lm_coef = λ > 0, else L2) and the
    logits [B, num_labels]; with λ > 0 also `task_loss` (L2) and `lm_loss` (L1), as attributes."""

    fields = ("loss", "logits", "hidden_states", "attentions")
    attributes_only = ("task_loss", "lm_loss")


class DoubleHeadsModelOutput(ModelOutput):
    """GPTDoubleHeadsModel, as HF's: `loss` is the LM loss (with `labels`), `mc_loss` the choice loss (with
    `mc_labels`), `logits` the LM logits and `mc_logits` one score per choice [B, n_choices]."""

    fields = ("loss", "mc_loss", "logits", "mc_logits", "hidden_states", "attentions")
