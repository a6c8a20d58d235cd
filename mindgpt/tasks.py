"""The paper's task input transforms (Figure 1): each task becomes token rows read left to right.

    classification    [BOS] text [EOS]                                 -> [B, T]
    entailment        [BOS] premise [SEP] hypothesis [EOS]             -> [B, T]
    similarity        the pair in both orders                          -> [B, 2, T]
    multiple choice   [BOS] context [SEP] answer_i [EOS] per answer    -> [B, n_choices, T]

One mechanism serves all four: a task lists the rows of each example, the rows of the whole batch are
framed together by `frame` (one truncation rule, one padded length, one token-type scheme), and fold back
into [B, rows_per_example, T]. The classification head pools at the last `[EOS]` of each row; for
similarity it sums the two rows' states. Outputs are numpy int32 `input_ids`, `attention_mask`,
`token_type_ids`, plus `labels` when given.

The tokenizer's own call gives only a text's ids, as HF's `OpenAIGPTTokenizer` does; the framing is here,
one explicit step away. Texts are plain text: "[EOS]" written in a review is characters, never the token
the classifier reads.
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
    batch = frame(
        tokenizer,
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


def frame(
    tokenizer: GPTTokenizer,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    max_length: int | None = None,
    padding: str | Sequence[int] = "longest",
    truncation: bool = True,
) -> Batch:
    """The paper's input rows, `[BOS] text [EOS]` or `[BOS] text [SEP] pair [EOS]`, as int32 arrays [B, T].

    truncation: rows longer than `max_length` lose text tokens from the end of their longer segment
        (never a special token); with `truncation=False` they raise instead.
    padding: "longest" pads to the batch's longest row, "max_length" to `max_length` (static shapes
        for graph mode), a list of lengths to the smallest that fits (few distinct shapes).
        Padding is on the right: `pad_token_id`, attention_mask 0.
    token_type_ids: 0 on `[BOS] text [SEP]` and padding, 1 on `pair [EOS]`. GPT-1 looks them up in the
        token table, so they are token ids: any value below the vocabulary size is valid.
    Texts are plain text (`tokenizer.encode_batch`): a special token's spelling inside one stays characters.
    A text that is empty or not a string raises ValueError/TypeError.
    """
    if len(texts) == 0:
        raise ValueError("texts is empty; pass at least one text")
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs; they pair up one to one")
    firsts = _segments(tokenizer, texts, "texts")
    seconds = _segments(tokenizer, text_pairs, "text_pairs") if text_pairs is not None else [None] * len(firsts)
    rows, types = [], []
    for i, (first, second) in enumerate(zip(firsts, seconds)):
        if max_length is not None:
            first, second = _fit(first, second, max_length, truncation, i)
        row, type_ids = _assemble(tokenizer, first, second)
        rows.append(row)
        types.append(type_ids)
    return _pad(rows, types, _padded_length(rows, padding, max_length), _require(tokenizer, "pad_token"))


def _segments(tokenizer: GPTTokenizer, texts: Sequence[str], name: str) -> list[list[int]]:
    """Plain-text ids of each text; an empty one would leave a row of special tokens only."""
    if isinstance(texts, str):
        raise TypeError(f"{name} is the string {texts!r:.60}; pass a list of texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is a {type(text).__name__} ({text!r}), not a str")
    encoded = tokenizer.encode_batch(texts)
    for i, ids in enumerate(encoded):
        if not ids:
            raise ValueError(f"{name}[{i}]={texts[i]!r} has no tokens; drop empty texts from the data")
    return encoded


def _require(tokenizer: GPTTokenizer, role: str) -> int:
    token_id = getattr(tokenizer, f"{role}_id")
    if token_id is None:
        raise ValueError(
            f"this tokenizer has no {role}; call tokenizer.add_special_tokens() and resize the "
            "model's token embeddings to len(tokenizer)"
        )
    return token_id


def _assemble(tokenizer: GPTTokenizer, first: list[int], second: list[int] | None) -> tuple[list[int], list[int]]:
    bos, eos = _require(tokenizer, "bos_token"), _require(tokenizer, "eos_token")
    if second is None:
        row = [bos, *first, eos]
        return row, [0] * len(row)
    head = [bos, *first, _require(tokenizer, "sep_token")]
    tail = [*second, eos]
    return head + tail, [0] * len(head) + [1] * len(tail)


def _fit(first: list[int], second: list[int] | None, max_length: int, truncation: bool, row: int):
    """Shorten the text segments so the row, specials included, fits `max_length` (longest first)."""
    n_special = 2 if second is None else 3
    n_segments = n_special - 1
    if max_length < n_special + n_segments:
        raise ValueError(f"max_length={max_length} leaves no room for text; use at least {n_special + n_segments}")
    budget = max_length - n_special
    length = len(first) + (len(second) if second is not None else 0)
    if length <= budget:
        return first, second
    if not truncation:
        raise ValueError(
            f"row {row} needs {length + n_special} tokens but max_length={max_length}; "
            "pass truncation=True or raise max_length"
        )
    if second is None:
        return first[:budget], None
    keep_second = min(len(second), max(budget // 2, budget - len(first)))
    return first[: budget - keep_second], second[:keep_second]


def _padded_length(rows: list[list[int]], padding: str | Sequence[int], max_length: int | None) -> int:
    longest = max(len(row) for row in rows)
    if padding == "longest":
        return longest
    if padding == "max_length":
        if max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        return max_length
    if isinstance(padding, str) or not all(isinstance(b, int) for b in padding):
        raise ValueError(f"padding={padding!r}; use 'longest', 'max_length' or a list of bucket lengths")
    fitting = [b for b in padding if b >= longest]
    if not fitting:
        raise ValueError(
            f"the longest row has {longest} tokens, more than every bucket in {list(padding)}; "
            f"add a bucket >= {longest} (e.g. max_length) or lower max_length"
        )
    return min(fitting)


def _pad(rows: list[list[int]], types: list[list[int]], length: int, pad_id: int) -> Batch:
    input_ids = np.full((len(rows), length), pad_id, dtype=np.int32)
    attention_mask = np.zeros((len(rows), length), dtype=np.int32)
    token_type_ids = np.zeros((len(rows), length), dtype=np.int32)
    for i, (row, type_ids) in enumerate(zip(rows, types)):
        input_ids[i, : len(row)] = row
        attention_mask[i, : len(row)] = 1
        token_type_ids[i, : len(row)] = type_ids
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


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
