"""Text generation from GPTLMHeadModel: greedy decoding and sampling, with a key/value cache.

Prompts of different lengths are left-padded into one buffer; padding is masked out of attention and the
position ids count real tokens only (cumsum(mask) - 1), so a padded prompt continues exactly as it would
alone. New tokens go in the columns after the longest prompt.

With the cache (the default) the prompt passes through the model once, leaving every layer's keys and values
in the model's `KVCache` (see `GPTLMHeadModel.decoding_step`); each new token then costs the work of one
position. Only the next-token logits [batch, vocab] come back to the host, where the token is picked.
`use_cache=False` is the reference the tests compare against: the ordinary forward recomputes the whole
context for every token, as HF's openai-gpt does.

There is no sliding window: prompt + max_new_tokens must fit in n_positions, else a ValueError says by how
much it does not.

A text ends where the model opens the next document: pretraining text separates documents with [BOS], not
[EOS] (see `document_separator`), so `eos_token_id=document_separator(tokenizer)` stops each row there, and
`document_start(tokenizer, ids)` opens a prompt as pretraining documents open.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import mindspore as ms
from mindspore import Tensor


def generate(model, input_ids, max_new_tokens: int = 32, do_sample: bool = False, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0, eos_token_id: int | None = None,
             seed: int | None = None, attention_mask=None, use_cache: bool = True) -> list[list[int]]:
    """Continue each prompt; returns prompt + new tokens per prompt, each stopping after `eos_token_id` (for a
    model pretrained by mindgpt, `document_separator(tokenizer)`: see the module docstring).

    `input_ids` is a list of id lists (any lengths) or a [batch, length] array/Tensor whose `attention_mask`
    (1 = token, 0 = padding, either side) marks each prompt. Greedy unless `do_sample`; sampling applies the
    repetition penalty, then temperature, top-k and top-p (nucleus), and `seed` makes it repeat exactly.
    """
    prompts = as_prompts(input_ids, attention_mask)
    check_request(model.config, prompts, max_new_tokens, temperature, top_k, top_p, repetition_penalty)
    if max_new_tokens == 0:
        return prompts
    model.set_train(False)
    ids, mask, positions = left_padded(prompts, model.config.n_positions)
    start = max(len(p) for p in prompts)
    if use_cache:
        decoder = CachedDecoder(model.decoding_step(len(prompts)), mask, positions)
    else:
        decoder = Recompute(model, mask, positions, start + max_new_tokens)
    rng = np.random.default_rng(seed) if do_sample else None
    outputs = [list(p) for p in prompts]
    done = np.zeros(len(prompts), bool)
    logits = decoder.next_logits(ids, 0, start)
    for column in range(start, start + max_new_tokens):
        logits = penalize_repeats(logits, ids[:, :column], mask[:, :column], repetition_penalty)
        ids[:, column] = next_token(logits, rng, temperature, top_k, top_p)
        for row in np.flatnonzero(~done):
            outputs[row].append(int(ids[row, column]))
            done[row] = eos_token_id is not None and ids[row, column] == eos_token_id
        if done.all() or column + 1 == start + max_new_tokens:
            break
        logits = decoder.next_logits(ids, column, column + 1)
    return outputs


# --- the two ways to get next-token logits ---------------------------------------------------------
class CachedDecoder:
    """New columns only, through the model's `DecodingStep`; the columns before them are in its cache already."""

    def __init__(self, step, mask: np.ndarray, positions: np.ndarray):
        self.step = step
        self.positions = positions
        self.key_mask = Tensor(mask)

    def next_logits(self, ids: np.ndarray, start: int, end: int) -> np.ndarray:
        """Logits after column end-1, feeding columns start..end-1."""
        return self.step(Tensor(ids[:, start:end]), Tensor(self.positions[:, start:end]), self.key_mask,
                         Tensor(start, ms.int32)).asnumpy()


class Recompute:
    """The reference: the ordinary forward over the first `width` columns at every step.

    The width is fixed for the whole call, so graph mode compiles once; causal attention keeps the columns
    after the one read from mattering.
    """

    def __init__(self, model, mask: np.ndarray, positions: np.ndarray, width: int):
        self.model = model
        self.width = width
        self.mask = Tensor(mask[:, :width])
        self.positions = Tensor(positions[:, :width])

    def next_logits(self, ids: np.ndarray, start: int, end: int) -> np.ndarray:
        hidden = self.model.transformer(Tensor(ids[:, : self.width]), self.mask,
                                        position_ids=self.positions).last_hidden_state
        return self.model.lm_logits(hidden[:, end - 1]).asnumpy()


# --- inputs ------------------------------------------------------------------------------------------
def as_prompts(input_ids, attention_mask=None) -> list[list[int]]:
    """The prompts as lists of ints, whatever form `input_ids` (and its padding mask) came in."""
    if isinstance(input_ids, Tensor):
        input_ids = input_ids.asnumpy()
    if isinstance(attention_mask, Tensor):
        attention_mask = attention_mask.asnumpy()
    if isinstance(input_ids, np.ndarray) and input_ids.ndim != 2:
        raise ValueError(f"input_ids must be [batch, length] or a list of id lists, got shape {input_ids.shape}; "
                         "wrap a single prompt as [ids]")
    if not isinstance(input_ids, (np.ndarray, Sequence)) or not all(
            isinstance(p, (np.ndarray, Sequence)) for p in input_ids):
        raise ValueError("input_ids must be a list of id lists or a [batch, length] array, e.g. [[bos, 17, 5]]")
    if attention_mask is None:
        return [[int(i) for i in p] for p in input_ids]
    attention_mask = np.asarray(attention_mask)
    if attention_mask.shape != np.shape(input_ids):
        raise ValueError(f"attention_mask has shape {attention_mask.shape}, input_ids {np.shape(input_ids)}; "
                         "they must match")
    return [[int(i) for i, keep in zip(p, m) if keep] for p, m in zip(input_ids, attention_mask)]


def check_request(config, prompts: list[list[int]], max_new_tokens: int, temperature: float, top_k: int,
                  top_p: float, repetition_penalty: float) -> None:
    """A ValueError naming the bad argument and the fix; nothing when the request can run."""
    if not prompts:
        raise ValueError("generate needs at least one prompt")
    for i, prompt in enumerate(prompts):
        if not prompt:
            raise ValueError(f"prompt {i} is empty; start it with at least one token, e.g. the document "
                             "separator [BOS]: mindgpt.tokenizer.document_start(tokenizer)")
        bad = [t for t in prompt if not 0 <= t < config.vocab_size]
        if bad:
            raise ValueError(f"prompt {i} holds token id {bad[0]}, outside the vocabulary [0, {config.vocab_size})")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    longest, n = max(len(p) for p in prompts), config.n_positions
    if longest + max_new_tokens > n:
        fixes = [f"max_new_tokens <= {n - longest}"] if longest < n else []
        fixes += [f"only the prompt's last {n - max_new_tokens} tokens"] if max_new_tokens < n else []
        raise ValueError(f"the longest prompt ({longest} tokens) + max_new_tokens ({max_new_tokens}) = "
                         f"{longest + max_new_tokens} exceeds the model's context of n_positions={n}; use "
                         + (" or ".join(fixes) or f"max_new_tokens < {n} and a shorter prompt"))
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}; use do_sample=False for greedy decoding")
    if not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 keeps every token), got {top_k!r}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1 keeps every token), got {top_p!r}")
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty must be > 0 (1 = none), got {repetition_penalty!r}")


def left_padded(prompts: list[list[int]], width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids, attention mask and position ids [batch, width]: prompts right-aligned before the new columns.

    Columns after the prompts count as tokens already: causal attention hides each until it is written.
    """
    start = max(len(p) for p in prompts)
    ids = np.zeros((len(prompts), width), np.int32)
    mask = np.ones((len(prompts), width), np.int32)
    for row, prompt in enumerate(prompts):
        ids[row, start - len(prompt): start] = prompt
        mask[row, : start - len(prompt)] = 0
    positions = np.maximum(np.cumsum(mask, 1) - 1, 0).astype(np.int32)
    return ids, mask, positions


# --- picking the next token ----------------------------------------------------------------------------
def penalize_repeats(logits: np.ndarray, ids: np.ndarray, mask: np.ndarray, penalty: float) -> np.ndarray:
    """CTRL's repetition penalty (as HF): logits of tokens already in a row are divided by `penalty` when
    positive and multiplied when negative, so either way they become less likely for penalty > 1."""
    if penalty == 1.0:
        return logits
    seen = np.zeros(logits.shape, bool)
    rows, columns = np.nonzero(mask)
    seen[rows, ids[rows, columns]] = True
    return np.where(seen, np.where(logits > 0, logits / penalty, logits * penalty), logits)


def next_token(logits: np.ndarray, rng: np.random.Generator | None, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Pick one token per row of `logits` [B, V]: argmax when `rng` is None, else sample."""
    if rng is None:
        return logits.argmax(-1)
    logits = logits.astype(np.float64) / temperature
    if top_k > 0:
        kth = np.sort(logits, -1)[:, -min(top_k, logits.shape[-1])][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    if top_p < 1.0:  # keep the smallest set of tokens whose probability reaches top_p
        order = np.argsort(-probs, -1)
        sorted_probs = np.take_along_axis(probs, order, -1)
        drop = np.cumsum(sorted_probs, -1) - sorted_probs >= top_p
        mask = np.zeros_like(probs, bool)
        np.put_along_axis(mask, order, drop, -1)
        probs = np.where(mask, 0.0, probs)
        probs /= probs.sum(-1, keepdims=True)
    below = np.cumsum(probs, -1) < rng.random((len(probs), 1))  # inverse CDF: one uniform draw per row
    return np.minimum(below.sum(-1), probs.shape[-1] - 1)
