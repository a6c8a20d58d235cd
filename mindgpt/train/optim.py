"""AdamW with the paper's weight-decay rule and its warmup-then-decay learning rate."""
from __future__ import annotations

import math

import numpy as np
import mindspore as ms
from mindspore import Tensor, nn, ops
from mindspore.nn.learning_rate_schedule import LearningRateSchedule


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


class BiasCorrectedLR(LearningRateSchedule):
    """The per-step learning rate times Adam's bias correction sqrt(1 - β2^t) / (1 - β1^t).

    MindSpore's AdamWeightDecay, like BERT's original optimizer, leaves the correction out, which makes its
    first few thousand updates 1.3–7× larger than Adam's: enough to keep post-LN GPT-1 on the unigram
    plateau for hundreds of steps. Folding the factor into the rate makes the update Adam's (AdamW's, with
    the decay term scaled alike), as TensorFlow's Adam computes it.
    """

    def __init__(self, learning_rate: float | np.ndarray, beta1: float, beta2: float):
        super().__init__()
        self.rates = Tensor(np.atleast_1d(np.asarray(learning_rate, np.float32)))
        self.last = int(self.rates.shape[0]) - 1
        self.beta1, self.beta2 = beta1, beta2

    def construct(self, global_step):
        t = (global_step + 1).astype(ms.float32)
        rate = ops.gather(self.rates, ops.minimum(global_step, self.last), 0)
        return rate * ops.sqrt(1.0 - ops.pow(self.beta2, t)) / (1.0 - ops.pow(self.beta1, t))


def build_optimizer(model: nn.Cell, learning_rate: float | np.ndarray, weight_decay: float = 0.01,
                    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> nn.Optimizer:
    """AdamW with bias correction over two groups: decayed matrices and the undecayed rest.

    `learning_rate` is a float or the per-step array from `lr_schedule` (held at its last value after).
    """
    params = model.trainable_params()
    decayed = [p for p in params if is_decayed(p.name)]
    others = [p for p in params if not is_decayed(p.name)]
    groups = [{"params": group, "weight_decay": decay}
              for group, decay in ((decayed, weight_decay), (others, 0.0)) if group]
    schedule = BiasCorrectedLR(learning_rate, *betas)
    return nn.AdamWeightDecay(groups, learning_rate=schedule, beta1=betas[0], beta2=betas[1], eps=eps)
