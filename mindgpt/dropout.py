"""Dropout whose random state is a saved counter, so a resumed run draws the masks the unbroken run drew.

MindSpore's CPU/GPU dropout kernels keep their generator inside the compiled kernel, where nothing can read
or restore it (`get_rng_state` does not cover them, and the generator-driven `DropoutExt` has no CPU kernel).
Here each dropout site owns an int32 counter Parameter, advanced once per training call, and the mask is a
pure function of (seed, site, counter, element) — a counter-based generator. Saving the counter with the
training state is saving the generator. The counters are not weights: checkpoint files for users leave them out.

The integer hashing (multiply-xorshift rounds, exact modulo 2**32) runs on the rows and the columns of the
input only; one float32 product per element mixes them (`Dropout.dropped`). MindSpore's CPU runtime never
reuses an integer kernel's output within a step, so hashing every element in int32 held over a gigabyte at `gpt1`'s
size; this way the integer tensors are a row and a column, and the backward keeps a bool mask, as torch's does.
"""
from __future__ import annotations

import zlib

import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops

STATE_NAME = "rng_counter"  # the counter's attribute, so its parameter is named `<site path>.rng_counter`
_MIX_1 = 0x7FEB352D  # multipliers of the "lowbias32" integer hash, as int32 bit patterns
_MIX_2 = 0x846CA68B - (1 << 32)
_SECOND = 0x2C1B3C6D  # a second feature of each row and column: the hash times this odd number
_FRACTION = 2.0 ** -52  # the product of a row feature (|h| < 2**31) and a column feature as A·B, |A| < 1024, |B| < 1


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
            self.rng_counter = Parameter(Tensor(0, ms.int32), name=STATE_NAME, requires_grad=False)
            self.one = Tensor(1, ms.int32)

    def construct(self, x):
        if not self.training or self.p == 0:
            return x
        # the mask takes no gradient, yet without stop_gradient autodiff still built the backward of the hashing
        # behind it, and kept what that allocated (benchmarks/README.md, change log)
        return ops.masked_fill(x * (1.0 / (1.0 - self.p)), ops.stop_gradient(self.dropped(x)), 0.0)

    def dropped(self, x):
        """The next mask, True where an element of x is dropped.

        Rows (every axis but the last) and columns get two hashed features each, A_r, C_r in (-1024, 1024) and
        B_c, D_c in (-1, 1); an element drops when frac(A_r·B_c + C_r·D_c) < p. Two rows (or columns) draw
        alike only when both their features nearly coincide (about 1e-6 of pairs), so masks are independent
        across rows, columns and calls for all practical purposes; float32 leaves 12+ bits of the fraction.
        One [rows, 2] × [2, columns] MatMul forms the products: a broadcasting Mul would hold several times its
        output for the rest of the step. A bool mask is what the backward keeps (a quarter of a float one).
        Deterministic on one backend, so a resumed run repeats the masks; another backend's MatMul may round
        the products differently.
        """
        cols = x.shape[-1]
        rows = x.size // cols
        key = _mix(ops.assign_add(self.rng_counter, self.one) ^ self.salt)
        by_row = _mix(ops.arange(0, rows, dtype=ms.int32) + key)
        by_col = _mix(ops.arange(0, cols, dtype=ms.int32) ^ key)
        row_features = ops.stack((by_row.astype(ms.float32), (by_row * _SECOND).astype(ms.float32)), 1)
        col_features = ops.stack((by_col.astype(ms.float32), (by_col * _SECOND).astype(ms.float32)), 0)
        mixed = ops.matmul(row_features, col_features) * _FRACTION
        return ((mixed - ops.floor(mixed)) < self.p).reshape(x.shape)
