"""AdamW with the paper's weight-decay rule and its warmup-then-decay learning rate."""
from __future__ import annotations

import math

import numpy as np
import mindspore as ms
from mindspore import nn


def is_decayed(name: str) -> bool:
    """Weight decay applies to matrices only: not to biases, LayerNorm parameters (GPT-1, BERT, HF)."""
    return not (name.endswith(".bias") or ".ln_" in name)


def lr_schedule(peak_lr: float, total_steps: int, warmup_steps: int = 0, decay: str = "cosine",
                min_lr: float = 0.0) -> np.ndarray:
    """Per-step learning rates: linear warmup to `peak_lr`, then cosine (the paper) or linear decay."""
    if decay not in ("cosine", "linear", "constant"):
        raise ValueError(f"lr decay {decay!r} is unknown; use 'cosine', 'linear' or 'constant'")
    if total_steps <= 0 or warmup_steps < 0:
        raise ValueError(f"need total_steps > 0 and warmup_steps >= 0, got {total_steps}, {warmup_steps}")
    lrs = np.empty(total_steps, np.float32)
    for step in range(total_steps):
        if step < warmup_steps:
            lrs[step] = peak_lr * (step + 1) / warmup_steps
            continue
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        shape = {"cosine": 0.5 * (1 + math.cos(math.pi * progress)), "linear": 1 - progress, "constant": 1.0}
        lrs[step] = min_lr + (peak_lr - min_lr) * shape[decay]
    return lrs


def build_optimizer(model: nn.Cell, learning_rate, weight_decay: float = 0.01, betas=(0.9, 0.999),
                    eps: float = 1e-8) -> nn.Optimizer:
    """AdamW (MindSpore's AdamWeightDecay) over two groups: decayed matrices and undecayed rest.

    `learning_rate` is a float or the per-step array from `lr_schedule`.
    """
    params = model.trainable_params()
    decayed = [p for p in params if is_decayed(p.name)]
    others = [p for p in params if not is_decayed(p.name)]
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
    if isinstance(learning_rate, np.ndarray):
        learning_rate = ms.Tensor(learning_rate, ms.float32)
    return nn.AdamWeightDecay(groups, learning_rate=learning_rate, beta1=betas[0], beta2=betas[1], eps=eps)
