"""How likely a language model finds a text: log P(U) = Σ_i log p(u_i | u_<i), and its perplexity.

The lecture's use: of two sentences with the same words, the one that sounds like people talking gets the
higher log-probability. [BOS] is prepended when the tokenizer has one, so the first word is scored too
(p(u_1 | [BOS])); without it the first token is context only. Texts go through the model in right-padded
batches, widths rounded up to a multiple of `WIDTH_STEP` so graph mode compiles a few shapes, not one per text.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import mindspore as ms
from mindspore import Tensor

from .model import token_nll
from .tokenizer import document_separator, document_start

WIDTH_STEP = 16


def score(model, tokenizer, texts: Sequence[str], batch_size: int = 16) -> list[dict[str, Any]]:
    """Per text: {"text", "log_prob" (natural log), "n_tokens" (tokens scored), "perplexity"}.

    perplexity = exp(-log_prob / n_tokens). A text must fit in n_positions tokens (with [BOS]).
    """
    if isinstance(texts, str):
        raise ValueError(f"score takes a list of texts, got the string {texts!r}; pass [text]")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rows = [encode(tokenizer, text, i, model.config.n_positions) for i, text in enumerate(texts)]
    model.set_train(False)
    log_probs = []
    for first in range(0, len(rows), batch_size):
        log_probs.extend(batch_log_probs(model, rows[first: first + batch_size]))
    return [{"text": text, "log_prob": lp, "n_tokens": n, "perplexity": math.exp(-lp / n)}
            for text, lp, n in zip(texts, log_probs, (len(r) - 1 for r in rows))]


def encode(tokenizer, text: str, index: int, n_positions: int) -> list[int]:
    """The text's ids opened as a pretraining document ([BOS], if any, first); a ValueError for texts with nothing
    to score or too long to fit.

    The text is plain text (`encode_batch`): a special token's spelling in it is scored as the characters it is.
    """
    ids = document_start(tokenizer, tokenizer.encode_batch([text])[0])
    if len(ids) < 2:
        raise ValueError(f"text {index} ({text!r}) has no token to score; " + (
            "it is empty" if document_separator(tokenizer) is not None else "without [BOS] a text needs 2 tokens or more"))
    if len(ids) > n_positions:
        raise ValueError(f"text {index} is {len(ids)} tokens long (with [BOS]), more than the model's context of "
                         f"n_positions={n_positions}; split it into shorter texts and add their log_probs")
    return ids


def batch_log_probs(model, rows: list[list[int]]) -> list[float]:
    """Σ log p(token | earlier tokens) per row, the rows right-padded into one forward pass."""
    width = min(-(-max(map(len, rows)) // WIDTH_STEP) * WIDTH_STEP, model.config.n_positions)
    ids = np.zeros((len(rows), width), np.int32)
    mask = np.zeros((len(rows), width), np.int32)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    ids, mask = Tensor(ids), Tensor(mask, ms.int32)
    nll, valid = token_nll(model(ids, mask).logits, ids, mask)
    per_pair = (nll * valid).asnumpy().astype(np.float64).reshape(len(rows), width - 1)
    return (-per_pair.sum(1)).tolist()
