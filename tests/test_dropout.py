"""Counter-based dropout: the right rate and scale, fresh masks per call and per site, seeded, resumable."""
import numpy as np
import mindspore as ms
import pytest
from mindspore import Tensor

from mindgpt import GPTConfig, GPTLMHeadModel
from mindgpt.checkpoint import state_dict
from mindgpt.dropout import Dropout, is_rng_state


def masks(cell, calls, shape=(64, 128)):
    cell.set_train(True)
    x = Tensor(np.ones(shape, np.float32))
    return [cell(x).asnumpy() for _ in range(calls)]


@pytest.mark.parametrize("mode", [ms.GRAPH_MODE, ms.PYNATIVE_MODE])
def test_rate_scale_and_fresh_masks_per_call(mode):
    ms.set_context(mode=mode)
    ms.set_seed(0)
    first, second = masks(Dropout(0.25, "site"), 2)
    for y in (first, second):
        assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
        assert abs((y == 0).mean() - 0.25) < 0.01
    agree = ((first == 0) == (second == 0)).mean()
    assert abs(agree - (0.25 ** 2 + 0.75 ** 2)) < 0.01, "consecutive masks look correlated"
    # masks mix a hash of the row with one of the column: neither neighbouring columns nor rows may agree
    for a, b in ((first[:, :-1], first[:, 1:]), (first[:-1], first[1:])):
        assert abs(np.corrcoef((a == 0).ravel(), (b == 0).ravel())[0, 1]) < 0.03
    rows = (first == 0).astype(float)
    pairs = np.corrcoef(rows)[np.triu_indices(len(rows), 1)]
    assert np.abs(pairs).max() < 0.5, "two rows of one call drew nearly the same mask"


def test_same_seed_same_masks_other_seed_or_site_other_masks():
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(1)
    a, b = Dropout(0.5, "h.0.attn.attn_dropout"), Dropout(0.5, "h.1.attn.attn_dropout")
    ms.set_seed(1)
    again = Dropout(0.5, "h.0.attn.attn_dropout")
    ms.set_seed(2)
    reseeded = Dropout(0.5, "h.0.attn.attn_dropout")
    reference = masks(a, 2)
    np.testing.assert_array_equal(masks(again, 2), reference)
    for other in (b, reseeded):
        assert ((masks(other, 1)[0] == 0) != (reference[0] == 0)).mean() > 0.4


def test_counter_is_the_state_restoring_it_repeats_the_masks():
    ms.set_context(mode=ms.GRAPH_MODE)
    cell = Dropout(0.5, "site")
    masks(cell, 3)
    saved = cell.rng_counter.asnumpy().copy()
    later = masks(cell, 2)
    cell.rng_counter.set_data(Tensor(saved))
    np.testing.assert_array_equal(masks(cell, 2), later)
    assert int(cell.rng_counter.asnumpy()) == 5


def test_eval_is_identity_and_zero_rate_has_no_state():
    ms.set_context(mode=ms.GRAPH_MODE)
    cell = Dropout(0.5, "site")
    cell.set_train(False)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(cell(Tensor(x)).asnumpy(), x)
    assert not list(Dropout(0.0, "site").get_parameters())
    with pytest.raises(ValueError, match="dropout probability must be in"):
        Dropout(1.0, "site")


def test_counters_stay_out_of_the_weights_users_get():
    config = GPTConfig.from_preset("2x64", resid_pdrop=0.1, attn_pdrop=0.1, embd_pdrop=0.1)
    model = GPTLMHeadModel(config)
    counters = [name for name, _ in model.parameters_and_names() if is_rng_state(name)]
    assert len(counters) == 1 + 3 * config.n_layer
    assert not [name for name in state_dict(model) if is_rng_state(name)]
