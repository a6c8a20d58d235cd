"""The paper's task input transforms (Figure 1): each task becomes token rows read left to right.

    classification    [BOS] text [EOS]                                 -> [B, T]
    entailment        [BOS] premise [SEP] hypothesis [EOS]             -> [B, T]
    similarity        the pair in both orders                          -> [B, 2, T]
    multiple choice   [BOS] context [SEP] answer_i [EOS] per answer    -> [B, n_choices, T]

One mechanism serves all four: a task lists the rows of each example, the rows of the whole batch go
through the tokenizer's batch call together (one truncation rule, one padded length, one token-type
scheme, see `GPTTokenizer.__call__`), and fold back into [B, rows_per_example, T]. The classification
head pools at the last `[EOS]` of each row; for similarity it sums the two rows' states.
Outputs are numpy int32 `input_ids`, `attention_mask`, `token_type_ids`, plus `labels` when given.
"""
from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from .tokenizer import GPTTokenizer

Batch = dict[str, np.ndarray]


def classification(tokenizer: GPTTokenizer, texts: Sequence[str], labels=None, **options: Any) -> Batch:
    """`[BOS] text [EOS]`, shape [B, T]."""
    return _encode(tokenizer, [[(text, None)] for text in texts], labels, stack=False, **options)


def entailment(
    tokenizer: GPTTokenizer, premises: Sequence[str], hypotheses: Sequence[str], labels=None, **options: Any
) -> Batch:
    """`[BOS] premise [SEP] hypothesis [EOS]`, shape [B, T]."""
    rows = [[(p, h)] for p, h in _zip(premises, hypotheses, "premises", "hypotheses")]
    return _encode(tokenizer, rows, labels, stack=False, **options)


def similarity(
    tokenizer: GPTTokenizer, texts_a: Sequence[str], texts_b: Sequence[str], labels=None, **options: Any
) -> Batch:
    """Both orders `[BOS] a [SEP] b [EOS]` and `[BOS] b [SEP] a [EOS]`, shape [B, 2, T]: the pair has no order."""
    rows = [[(a, b), (b, a)] for a, b in _zip(texts_a, texts_b, "texts_a", "texts_b")]
    return _encode(tokenizer, rows, labels, stack=True, **options)


def multiple_choice(
    tokenizer: GPTTokenizer, contexts: Sequence[str], choices: Sequence[Sequence[str]], labels=None, **options: Any
) -> Batch:
    """`[BOS] context [SEP] answer_i [EOS]` for every answer, shape [B, n_choices, T]; label = the right answer's index."""
    pairs = _zip(contexts, choices, "contexts", "choices")
    n_choices = len(pairs[0][1]) if pairs else 0
    for i, (_, answers) in enumerate(pairs):
        if isinstance(answers, str) or len(answers) != n_choices or not answers:
            raise ValueError(
                f"choices[{i}] must be a list of {n_choices or 'at least 1'} answers like choices[0], got {answers!r}"
            )
    options.setdefault("num_labels", n_choices)
    rows = [[(context, answer) for answer in answers] for context, answers in pairs]
    return _encode(tokenizer, rows, labels, stack=True, **options)


# name -> (transform, record fields it reads besides "label")
TASKS: dict[str, tuple[Callable[..., Batch], tuple[str, ...]]] = {
    "classification": (classification, ("text",)),
    "entailment": (entailment, ("text", "text_pair")),
    "similarity": (similarity, ("text", "text_pair")),
    "multiple_choice": (multiple_choice, ("text", "choices")),
}


def encode_records(task: str, tokenizer: GPTTokenizer, records: Sequence[Any], **options: Any) -> Batch:
    """Run a task over records: dicts with the task's fields (+ "label"), or tuples in that order."""
    transform, fields = task_fields(task)
    if not records:
        raise ValueError("no records to encode")
    *inputs, labels = zip(*(unpack_record(r, fields) for r in records))
    if any(label is None for label in labels):
        if any(label is not None for label in labels):
            raise ValueError("some records have a label and some do not; label all of them or none")
        labels = None
    return transform(tokenizer, *inputs, labels=labels, **options)


def task_fields(task: str) -> tuple[Callable[..., Batch], tuple[str, ...]]:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    return TASKS[task]


def unpack_record(record: Any, fields: tuple[str, ...]) -> tuple:
    """(field values..., label or None) of a dict or tuple record."""
    if isinstance(record, Mapping):
        missing = [f for f in fields if f not in record]
        if missing:
            raise ValueError(f"record {record!r} lacks {missing}; this task reads {list(fields)} and 'label'")
        return (*(record[f] for f in fields), record.get("label"))
    if isinstance(record, (tuple, list)) and len(record) in (len(fields), len(fields) + 1):
        return (*record, None) if len(record) == len(fields) else tuple(record)
    raise ValueError(f"record {record!r} is neither a dict nor a tuple of {list(fields)} (+ label)")


def _zip(a: Sequence, b: Sequence, name_a: str, name_b: str) -> list[tuple]:
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} items but {name_b} has {len(b)}; they pair up one to one")
    return list(zip(a, b))


def _encode(
    tokenizer: GPTTokenizer,
    rows: list[list[tuple[str, str | None]]],
    labels: Sequence | None,
    stack: bool,
    max_length: int | None = None,
    padding: str | Sequence[int] = "longest",
    truncation: bool = True,
    num_labels: int | None = None,
) -> Batch:
    """The shared mechanism: encode every row of every example in one batch call, then fold per example."""
    flat = [row for example in rows for row in example]
    pairs = [second for _, second in flat]
    batch = tokenizer(
        [first for first, _ in flat],
        None if all(p is None for p in pairs) else pairs,
        max_length=max_length,
        padding=padding,
        truncation=truncation,
    )
    if stack:
        batch = {k: v.reshape(len(rows), len(rows[0]), -1) for k, v in batch.items()}
    if labels is not None:
        batch["labels"] = _labels(labels, len(rows), num_labels)
    return batch


def _labels(labels: Sequence, n_examples: int, num_labels: int | None) -> np.ndarray:
    """Class indices in [0, num_labels) as int32; with num_labels=1 (regression, e.g. STS-B) float32 scores."""
    labels = np.asarray(labels).tolist() if isinstance(labels, np.ndarray) else list(labels)
    if len(labels) != n_examples:
        raise ValueError(f"got {len(labels)} labels for {n_examples} examples")
    regression = num_labels == 1
    for i, y in enumerate(labels):
        if regression:
            if isinstance(y, bool) or not isinstance(y, numbers.Real) or not math.isfinite(y):
                raise ValueError(f"labels[{i}]={y!r} is not a finite number (num_labels=1 means regression)")
        elif isinstance(y, bool) or not isinstance(y, numbers.Integral):
            raise TypeError(f"labels[{i}]={y!r} is not a class index (int); for regression pass num_labels=1")
        elif y < 0 or (num_labels is not None and y >= num_labels):
            bound = f"[0, {num_labels})" if num_labels is not None else ">= 0"
            raise ValueError(f"labels[{i}]={y} is out of range {bound}; check num_labels or the label column")
    return np.asarray(labels, dtype=np.float32 if regression else np.int32)
