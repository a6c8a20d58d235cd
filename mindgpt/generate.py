"""Text generation: greedy decoding and sampling (temperature, top-k, top-p) from GPTLMHeadModel.

The context lives in one fixed-shape [batch, n_positions] buffer, so graph mode compiles the forward pass
once: causal attention makes the logits at position t independent of whatever sits after t.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import mindspore as ms


def _check(model, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float, top_k: int,
           top_p: float) -> None:
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("generate needs at least one non-empty prompt (give it at least a [BOS] token)")
    longest = max(len(p) for p in prompts) + max_new_tokens
    if longest > model.config.n_positions:
        raise ValueError(f"prompt + max_new_tokens = {longest} tokens exceeds the context of "
                         f"{model.config.n_positions} (n_positions); shorten the prompt or max_new_tokens")
    if max_new_tokens < 0 or temperature <= 0 or top_k < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need max_new_tokens >= 0, temperature > 0, top_k >= 0 and 0 < top_p <= 1; got "
                         f"{max_new_tokens}, {temperature}, {top_k}, {top_p}")


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
    return np.array([rng.choice(len(p), p=p) for p in probs])


def generate(model, prompts: Sequence[Sequence[int]], max_new_tokens: int = 32, do_sample: bool = False,
             temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, eos_token_id: int | None = None,
             seed: int | None = None) -> list[list[int]]:
    """Continue each prompt (a list of token ids); returns prompt + new tokens, stopping at EOS."""
    prompts = [list(map(int, p)) for p in prompts]
    _check(model, prompts, max_new_tokens, temperature, top_k, top_p)
    model.set_train(False)
    rng = np.random.default_rng(seed) if do_sample else None
    width = model.config.n_positions
    buffer = np.zeros((len(prompts), width), np.int32)
    lengths = np.array([len(p) for p in prompts])
    for row, prompt in enumerate(prompts):
        buffer[row, : len(prompt)] = prompt
    done = np.zeros(len(prompts), bool)
    for _ in range(max_new_tokens):
        logits = model(ms.Tensor(buffer))[0].asnumpy()
        token = next_token(logits[np.arange(len(prompts)), lengths - 1], rng, temperature, top_k, top_p)
        for row in np.flatnonzero(~done):
            buffer[row, lengths[row]] = token[row]
            lengths[row] += 1
            done[row] = eos_token_id is not None and token[row] == eos_token_id
        if done.all():
            break
    return [buffer[row, : lengths[row]].tolist() for row in range(len(prompts))]
