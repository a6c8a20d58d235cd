"""One compiled training step: loss and gradients, global-norm clipping, the optimizer update."""
from __future__ import annotations

from typing import Callable

import mindspore as ms
from mindspore import nn, ops


def make_train_step(model: nn.Cell, optimizer: nn.Optimizer, max_grad_norm: float = 1.0) -> Callable:
    """Return `step(input_ids, attention_mask, token_type_ids, labels) -> loss`, compiled with ms.jit.

    The model's first output must be the loss (all mindgpt models return it first when given labels).
    Pass None for inputs a batch does not have.
    """

    def forward(input_ids, attention_mask, token_type_ids, labels):
        return model(input_ids, attention_mask, token_type_ids, None, labels)[0]

    grad_fn = ms.value_and_grad(forward, None, optimizer.parameters)

    @ms.jit
    def step(input_ids, attention_mask, token_type_ids, labels):
        loss, grads = grad_fn(input_ids, attention_mask, token_type_ids, labels)
        if max_grad_norm > 0:
            grads = ops.clip_by_global_norm(grads, max_grad_norm)
        optimizer(grads)
        return loss

    return step
