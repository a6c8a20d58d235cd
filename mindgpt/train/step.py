"""One compiled training step: loss and gradients, data-parallel all-reduce, loss-scale check,
global-norm clipping and the optimizer update — with gradient accumulation over micro-batches. And its
evaluation twin, `make_predict_step`: both compile through `CompiledStep`."""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable

import mindspore as ms
from mindspore import Tensor, nn, ops


_each = ops.HyperMap()


def _squared_norm(grad):
    return (grad * grad).sum()


def _scaled(factor, grad):
    return grad * factor


def clip_by_global_norm(grads: tuple, max_norm: float) -> tuple:
    """`grads` times max_norm / max(global L2 norm, max_norm): what `ops.clip_by_global_norm` returns, as one
    Mul per gradient.

    MindSpore's version computes x * max_norm / max(norm, max_norm) per gradient, and on CPU it keeps squared and
    scaled copies of every gradient alive at once, at the step's peak memory.
    """
    norm = ops.sqrt(ops.addn(_each(_squared_norm, grads)))
    return _each(ops.partial(_scaled, max_norm / ops.maximum(norm, max_norm)), grads)


def release_free_heap() -> None:
    """Hand the C heap's free pages back to the OS (glibc's `malloc_trim`); a no-op without glibc.

    Compiling a training graph frees most of what it allocates, but glibc keeps the freed pages: without this, a
    step ran its activations on top of the compiler's leftovers (benchmarks/README.md, "Memory").
    """
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if trim is not None:
        trim(0)


class CompiledStep(nn.Cell):
    """`fn(*inputs)` run as one graph in either context mode, compiled for each new input signature (shapes and
    dtypes) before that signature's first run, with the compiler's freed memory released in between
    (`release_free_heap`), so a step's peak memory holds the step and not its compilation."""

    def __init__(self, fn: Callable):
        super().__init__(auto_prefix=False)  # the parameters fn reaches keep their names
        self.fn = fn
        self.signatures = set()

    def construct(self, *inputs):
        return self.fn(*inputs)

    def __call__(self, *inputs):
        signature = tuple((x.shape, x.dtype) if isinstance(x, Tensor) else x for x in inputs)
        if signature not in self.signatures:
            self.compile(*inputs)
            release_free_heap()
            self.signatures.add(signature)
        return self.compile_and_run(*inputs)


def _data_parallel() -> bool:
    return ms.get_auto_parallel_context("parallel_mode") == ms.ParallelMode.DATA_PARALLEL


def model_loss(model: nn.Cell, input_ids, attention_mask, token_type_ids, labels):
    """The loss a model returns first when given labels (every mindgpt model does)."""
    return model(input_ids, attention_mask, token_type_ids, labels=labels)[0]


def make_train_step(model: nn.Cell, optimizer: nn.Optimizer, max_grad_norm: float = 1.0, grad_accum: int = 1,
                    loss_scaler: ms.amp.LossScaler | None = None, loss_fn: Callable = model_loss) -> Callable:
    """Return `step(input_ids, attention_mask, token_type_ids, labels) -> loss`, a `CompiledStep`.

    `loss_fn(model, input_ids, attention_mask, token_type_ids, labels)` is the objective, by default the
    model's own loss; it runs inside the compiled graph, where a model returns its fixed-length tuple
    (`mindgpt.outputs`). Pass None for inputs a batch does not have. With `grad_accum` > 1 the batch is cut into
    that many micro-batches along axis 0 and their mean gradient makes one update. Under DATA_PARALLEL the
    gradients are averaged over ranks; with a `loss_scaler` (fp16) an overflowing step is skipped.
    """
    if grad_accum < 1:
        raise ValueError(f"grad_accum must be >= 1, got {grad_accum}")
    params = optimizer.parameters
    reducer = nn.DistributedGradReducer(params) if _data_parallel() else None

    def forward(input_ids, attention_mask, token_type_ids, labels):
        loss = loss_fn(model, input_ids, attention_mask, token_type_ids, labels)
        return loss if loss_scaler is None else loss_scaler.scale(loss)

    grad_fn = ms.value_and_grad(forward, None, params)

    def update(grads):
        if reducer is not None:
            grads = reducer(grads)
        finite = True
        if loss_scaler is not None:
            grads = loss_scaler.unscale(grads)
            finite = ms.amp.all_finite(grads)
            loss_scaler.adjust(finite)
        if max_grad_norm > 0:
            grads = clip_by_global_norm(grads, max_grad_norm)
        if finite:
            optimizer(grads)

    def unscaled(loss):
        return loss if loss_scaler is None else loss_scaler.unscale(loss)

    def fused_step(input_ids, attention_mask, token_type_ids, labels):
        loss, grads = grad_fn(input_ids, attention_mask, token_type_ids, labels)
        update(grads)
        return unscaled(loss)

    if grad_accum == 1:
        return CompiledStep(fused_step)

    accumulated = params.clone(prefix="grad_accum", init="zeros")

    def accumulate(input_ids, attention_mask, token_type_ids, labels):
        loss, grads = grad_fn(input_ids, attention_mask, token_type_ids, labels)
        for total, grad in zip(accumulated, grads):
            ops.assign_add(total, grad / grad_accum)
        return unscaled(loss)

    def apply():
        update(tuple(total * 1.0 for total in accumulated))
        for total in accumulated:
            ops.assign(total, ops.zeros_like(total))
        return True

    accumulate_step, apply_accumulated = CompiledStep(accumulate), CompiledStep(apply)

    def step(input_ids, attention_mask, token_type_ids, labels):
        rows = input_ids.shape[0]
        if rows % grad_accum:
            raise ValueError(f"batch of {rows} rows does not split into grad_accum={grad_accum} micro-batches")
        size = rows // grad_accum
        losses = []
        for i in range(grad_accum):
            part = [None if x is None else x[i * size:(i + 1) * size]
                    for x in (input_ids, attention_mask, token_type_ids, labels)]
            losses.append(accumulate_step(*part))
        apply_accumulated()
        return sum(losses[1:], losses[0]) / grad_accum

    return step


def make_predict_step(model: nn.Cell, multiple_choice: bool) -> CompiledStep:
    """Return `predict(input_ids, attention_mask, token_type_ids, labels) -> (loss, scores)`, a `CompiledStep`:
    evaluation is compiled whatever the context's mode, because a model called in PyNative (the course's context)
    runs op by op, which made the course flow's evaluation more than twice as slow on CPU. Scores are the logits, or
    the choices' scores (mc_logits) of a multiple-choice model, whose loss is then its mc_loss."""

    def predict(input_ids, attention_mask, token_type_ids, labels):
        if multiple_choice:
            out = model(input_ids, attention_mask, token_type_ids, mc_labels=labels)
            return out[1], out[3]
        out = model(input_ids, attention_mask, token_type_ids, labels=labels)
        return out[0], out[1]

    return CompiledStep(predict)
