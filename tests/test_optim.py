"""The optimizer is AdamW as the paper used it: bias-corrected steps, decay on matrices only; the schedules."""
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn

import mindspore as ms
from mindgpt import GPTConfig, GPTLMHeadModel
from mindgpt.train import build_optimizer, lr_schedule
from mindgpt.train.optim import is_decayed


class Quadratic(nn.Cell):
    def __init__(self, start):
        super().__init__()
        self.weight = Parameter(Tensor(np.asarray(start, np.float32)), name="weight")

    def construct(self):
        return (self.weight * self.weight).sum()


def adam_reference(w, lr, steps, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    m = v = np.zeros_like(w)
    for t in range(1, steps + 1):
        g = 2 * w
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        update = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        w = w - lr * (update + wd * w)
    return w


@pytest.mark.parametrize("steps", [1, 7])
def test_updates_are_bias_corrected_adam(steps):
    start = np.array([0.5, -2.0, 3.0], np.float32)
    cell = Quadratic(start)
    optimizer = build_optimizer(cell, 0.01, weight_decay=0.0)
    grad_fn = ms.value_and_grad(cell, None, optimizer.parameters)
    for _ in range(steps):
        optimizer(grad_fn()[1])
    np.testing.assert_allclose(cell.weight.asnumpy(), adam_reference(start, 0.01, steps), rtol=1e-4, atol=1e-6)


def test_weight_decay_skips_biases_and_layer_norms():
    model = GPTLMHeadModel(GPTConfig.from_preset("2x64"))
    decayed = {p.name for p in model.trainable_params() if is_decayed(p.name)}
    assert "transformer.h.0.attn.c_attn.weight" in decayed and "transformer.tokens_embed.weight" in decayed
    assert not any(n.endswith(".bias") or ".ln_" in n for n in decayed)


def test_schedules_warm_up_then_decay():
    cosine = lr_schedule(1.0, 100, warmup_steps=10)
    assert cosine[0] == pytest.approx(0.1) and cosine[9] == pytest.approx(1.0)
    assert cosine[10] == pytest.approx(1.0) and cosine[-1] < 0.01 and np.all(np.diff(cosine[10:]) <= 0)
    linear = lr_schedule(1.0, 100, warmup_steps=0, decay="linear", min_lr=0.1)
    assert linear[50] == pytest.approx(0.55)
    with pytest.raises(ValueError, match="decay 'exp'"):
        lr_schedule(1.0, 10, decay="exp")
