"""Dropout whose random state is a saved counter, so a resumed run draws the masks the unbroken run drew.

MindSpore's CPU/GPU dropout kernels keep their generator inside the compiled kernel, where nothing can read
or restore it (`get_rng_state` does not cover them, and the generator-driven `DropoutExt` has no CPU kernel).
Here each dropout site owns an int32 counter Parameter, advanced once per training call, and the mask is a
pure function of (seed, site, counter, element index) — a counter-based generator: two multiply-xorshift
rounds, exact integer arithmetic modulo 2**32 on every backend. Saving the counter with the training state
is saving the generator. The counters are not weights: checkpoint files for users leave them out.
"""
from __future__ import annotations

import zlib

import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops

STATE_NAME = "rng_counter"  # the counter's attribute, so its parameter is named `<site path>.rng_counter`
_MIX_1 = 0x7FEB352D  # multipliers of the "lowbias32" integer hash, as int32 bit patterns
_MIX_2 = 0x846CA68B - (1 << 32)


def is_rng_state(name: str) -> bool:
    """Whether a parameter name is a dropout counter (training state, not a model weight)."""
    return name == STATE_NAME or name.endswith("." + STATE_NAME)


def _mix(h):
    """One round: multiply, then fold the high bits into the low ones (arithmetic shift: still a bijection)."""
    h = h * _MIX_1
    return (h ^ ops.bitwise_right_shift(h, 16)) * _MIX_2


class Dropout(nn.Cell):
    """Inverted dropout (zero with probability p, scale the rest by 1/(1-p)) in training mode; identity in eval.

    `site` names the place in the model (e.g. "h.3.attn.attn_dropout"); with the global seed at construction
    (`mindspore.set_seed`) it keys the site's stream, so sites draw independent masks and two models built
    after the same `set_seed` draw the same ones, as MindSpore's own dropout does.
    """

    def __init__(self, p: float, site: str):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = p
        if p > 0:
            seed = ms.get_seed() or 0
            self.salt = zlib.crc32(f"{seed}/{site}".encode()) - (1 << 31)  # as an int32
            self.threshold = round(p * (1 << 32)) - (1 << 31)  # P(uniform int32 < threshold) = p
            self.rng_counter = Parameter(Tensor(0, ms.int32), name=STATE_NAME, requires_grad=False)
            self.one = Tensor(1, ms.int32)

    def construct(self, x):
        if not self.training or self.p == 0:
            return x
        calls = ops.assign_add(self.rng_counter, self.one)
        key = _mix(calls ^ self.salt)
        bits = _mix(ops.arange(0, x.size, dtype=ms.int32).reshape(x.shape) + key)
        keep = bits >= self.threshold
        return x * (keep.astype(x.dtype) * (1.0 / (1.0 - self.p)))
