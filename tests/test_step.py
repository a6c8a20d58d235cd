"""The compiled train step: gradient clipping, accumulation is the same update, one compile per input signature
in either mode, and the host-thread priority is restored."""
import os

import numpy as np
import mindspore as ms
import pytest

from conftest import tensor
from mindgpt import GPTConfig, GPTLMHeadModel
from mindgpt.checkpoint import load_state, state_dict
from mindgpt.train import build_optimizer, make_train_step
from mindgpt.train.run import restore_host_thread, yield_host_thread
from mindgpt.train.step import clip_by_global_norm


def test_gradient_accumulation_gives_the_same_update_as_one_batch():
    config = GPTConfig.from_preset("2x64", vocab_size=60, n_positions=16, resid_pdrop=0.0, embd_pdrop=0.0,
                                   attn_pdrop=0.0)
    ids = tensor(np.random.default_rng(0).integers(0, 60, (4, 16)))
    start = state_dict(GPTLMHeadModel(config))
    results = []
    for grad_accum in (1, 2, 4):
        model = GPTLMHeadModel(config)
        load_state(model, start)
        model.set_train(True)
        step = make_train_step(model, build_optimizer(model, 1e-3), grad_accum=grad_accum)
        losses = [float(step(ids, None, None, ids).asnumpy()) for _ in range(3)]
        results.append((losses, state_dict(model)))
    for losses, weights in results[1:]:
        np.testing.assert_allclose(losses, results[0][0], rtol=1e-5)
        for name, value in weights.items():
            np.testing.assert_allclose(value, results[0][1][name], atol=1e-5, err_msg=name)
    with pytest.raises(ValueError, match="grad_accum=3"):
        make_train_step(model, build_optimizer(model, 1e-3), grad_accum=3)(ids, None, None, ids)


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clipping_scales_all_gradients_to_the_global_norm_limit(max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=shape).astype(np.float32) for shape in ((3, 4), (5,), (2, 2, 2))]
    norm = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))  # ~5: one limit above, one below
    clipped = ms.jit(clip_by_global_norm)(tuple(tensor(g, ms.float32) for g in grads), max_norm)
    factor = min(1.0, max_norm / norm)
    for got, grad in zip(clipped, grads):
        np.testing.assert_allclose(got.asnumpy(), grad * factor, rtol=1e-6)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_host_thread_priority_is_restored():
    yield_host_thread()
    assert os.sched_getscheduler(0) == os.SCHED_IDLE
    restore_host_thread()
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_the_step_compiles_once_per_input_signature_in_either_mode():
    config = GPTConfig.from_preset("2x64", vocab_size=60, n_positions=16)
    start = state_dict(GPTLMHeadModel(config))
    rng = np.random.default_rng(1)
    short, long = tensor(rng.integers(0, 60, (2, 8))), tensor(rng.integers(0, 60, (2, 16)))
    runs = []
    for mode in (ms.GRAPH_MODE, ms.PYNATIVE_MODE):
        ms.set_context(mode=mode)
        model = GPTLMHeadModel(config)
        load_state(model, start)
        model.set_train(True)
        step = make_train_step(model, build_optimizer(model, 1e-3))
        runs.append([float(step(ids, None, None, ids).asnumpy()) for ids in (short, long, short, long)])
        assert len(step.signatures) == 2
    ms.set_context(mode=ms.GRAPH_MODE)
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-6)
