"""Behaviour of the cells: padding invariance, pooling at [EOS], L1 masking, L3 = L2 + λ·L1, training."""
import mindspore as ms
import numpy as np
import pytest

from conftest import tensor
from mindgpt import GPTConfig, GPTDoubleHeadsModel, GPTForSequenceClassification, GPTLMHeadModel
from mindgpt.checkpoint import load_state, state_dict
from mindgpt.train import build_optimizer, make_train_step

PAD, EOS = 0, 3


def config(**overrides):
    rng = np.random.default_rng(overrides.pop("seed", 0))
    n_head = int(rng.choice([2, 4]))
    values = dict(vocab_size=int(rng.integers(40, 90)), n_positions=40, n_embd=8 * n_head * int(rng.integers(1, 3)),
                  n_layer=int(rng.integers(1, 4)), n_head=n_head, pad_token_id=PAD, cls_token_id=EOS,
                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0)
    return GPTConfig(**{**values, **overrides})


def batch(rng, b, t, vocab, lengths=None):
    """Right-padded [BOS]-free rows of random tokens ending in EOS, their mask."""
    lengths = rng.integers(3, t + 1, b) if lengths is None else lengths
    ids = np.full((b, t), PAD)
    mask = np.zeros((b, t), np.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(4, vocab, n)
        ids[row, n - 1] = EOS
        mask[row, :n] = 1
    return ids, mask


@pytest.mark.parametrize("seed", [1, 2])
def test_right_padding_does_not_change_classifier_logits(seed):
    rng = np.random.default_rng(seed)
    model = GPTForSequenceClassification(config(seed=seed, num_labels=3))
    ids, mask = batch(rng, 4, 9, model.config.vocab_size)
    extra = int(rng.integers(2, 7))
    padded_ids = np.concatenate([ids, np.full((4, extra), PAD)], 1)
    padded_mask = np.concatenate([mask, np.zeros((4, extra), np.int64)], 1)
    short = model(tensor(ids), tensor(mask))[0].asnumpy()
    long = model(tensor(padded_ids), tensor(padded_mask))[0].asnumpy()
    np.testing.assert_allclose(short, long, atol=1e-5)


def test_classifier_reads_the_hidden_state_at_eos_not_the_last_column():
    rng = np.random.default_rng(3)
    model = GPTForSequenceClassification(config(seed=3, num_labels=2))
    ids, mask = batch(rng, 3, 10, model.config.vocab_size, lengths=[4, 7, 10])
    logits = model(tensor(ids), tensor(mask))[0].asnumpy()
    hidden = model.transformer(tensor(ids), tensor(mask))[0].asnumpy()
    at_eos = hidden[np.arange(3), [3, 6, 9]]
    np.testing.assert_allclose(logits, at_eos @ model.score.weight.asnumpy().T, atol=1e-5)
    # without a mask (padding attended to) the EOS position is still found from the tokens
    unmasked = model(tensor(ids))[0].asnumpy()
    hidden = model.transformer(tensor(ids))[0].asnumpy()
    np.testing.assert_allclose(unmasked, hidden[np.arange(3), [3, 6, 9]] @ model.score.weight.asnumpy().T,
                               atol=1e-5)


def numpy_lm_loss(logits, ids, mask):
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    valid = mask[:, :-1] * mask[:, 1:]
    nll = -np.take_along_axis(logp[:, :-1], ids[:, 1:, None], -1)[..., 0]
    return (nll * valid).sum() / valid.sum()


@pytest.mark.parametrize("seed", [4, 5])
def test_lm_loss_ignores_masked_positions_and_minus_100(seed):
    rng = np.random.default_rng(seed)
    model = GPTLMHeadModel(config(seed=seed))
    ids, mask = batch(rng, 3, int(rng.integers(6, 12)), model.config.vocab_size)
    loss, logits = model(tensor(ids), tensor(mask), labels=tensor(ids))
    np.testing.assert_allclose(loss.asnumpy(), numpy_lm_loss(logits.asnumpy(), ids, mask), rtol=1e-5)
    scrambled = np.where(mask == 1, ids, rng.integers(4, model.config.vocab_size, ids.shape))
    assert np.isclose(model(tensor(scrambled), tensor(mask), labels=tensor(scrambled))[0].asnumpy(),
                      loss.asnumpy(), rtol=1e-6)
    labels = np.where(mask == 1, ids, -100)  # -100 labels without a mask give the same loss
    assert np.isclose(model(tensor(ids), tensor(mask), labels=tensor(labels))[0].asnumpy(),
                      loss.asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("seed,lm_coef", [(6, 0.5), (7, 0.25), (8, 1.3)])
def test_l3_is_l2_plus_lambda_l1(seed, lm_coef):
    rng = np.random.default_rng(seed)
    cfg = config(seed=seed, num_labels=3, lm_coef=lm_coef)
    model = GPTForSequenceClassification(cfg)
    ids, mask = batch(rng, 4, int(rng.integers(5, 12)), cfg.vocab_size)
    labels = rng.integers(0, 3, 4)
    l3, logits = model(tensor(ids), tensor(mask), labels=tensor(labels))
    # Compiled graphs keep the config they were built with: same weights, new models.
    without_lm = GPTForSequenceClassification(GPTConfig.from_dict(cfg.to_dict(), lm_coef=0.0))
    load_state(without_lm, state_dict(model))
    l2 = without_lm(tensor(ids), tensor(mask), labels=tensor(labels))[0].asnumpy()
    lm = GPTLMHeadModel(cfg)
    load_state(lm, state_dict(model))
    l1 = lm(tensor(ids), tensor(mask), labels=tensor(ids))[0].asnumpy()
    np.testing.assert_allclose(l3.asnumpy(), l2 + lm_coef * l1, rtol=1e-5)
    z = logits.asnumpy()
    manual_l2 = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(4), labels])
    np.testing.assert_allclose(l2, manual_l2, rtol=1e-5)


def test_regression_with_one_label_is_mse():
    rng = np.random.default_rng(9)
    model = GPTForSequenceClassification(config(seed=9, num_labels=1, lm_coef=0.0))
    ids, mask = batch(rng, 3, 8, model.config.vocab_size)
    target = rng.normal(size=3).astype(np.float32)
    loss, logits = model(tensor(ids), tensor(mask), labels=tensor(target, dtype=ms.float32))
    np.testing.assert_allclose(loss.asnumpy(), np.mean((logits.asnumpy()[:, 0] - target) ** 2), rtol=1e-5)


def test_similarity_input_sums_both_orderings():
    rng = np.random.default_rng(10)
    model = GPTForSequenceClassification(config(seed=10, num_labels=1))
    a, ma = batch(rng, 2, 7, model.config.vocab_size)
    b, mb = batch(rng, 2, 7, model.config.vocab_size)
    pair = model(tensor(np.stack([a, b], 1)), tensor(np.stack([ma, mb], 1)))[0].asnumpy()
    at_eos = [model.transformer(tensor(x), tensor(m))[0].asnumpy()[np.arange(2), m.sum(1) - 1] for x, m in ((a, ma), (b, mb))]
    np.testing.assert_allclose(pair, (at_eos[0] + at_eos[1]) @ model.score.weight.asnumpy().T, atol=1e-5)


def test_multiple_choice_scores_each_choice(any_mode):
    rng = np.random.default_rng(11)
    model = GPTDoubleHeadsModel(config(seed=11))
    choices = [batch(rng, 2, 8, model.config.vocab_size) for _ in range(3)]
    ids = np.stack([c[0] for c in choices], 1)
    mask = np.stack([c[1] for c in choices], 1)
    out = model(tensor(ids), tensor(mask), mc_labels=tensor([2, 0]))
    assert out.mc_logits.shape == (2, 3) and np.isfinite(out.mc_loss.asnumpy()) and out.loss is None
    single = model(tensor(ids[:, 1:2]), tensor(mask[:, 1:2])).mc_logits.asnumpy()
    np.testing.assert_allclose(single[:, 0], out.mc_logits.asnumpy()[:, 1], atol=1e-5)


@pytest.mark.parametrize("head", ["lm", "classifier"])
def test_graph_mode_training_lowers_the_loss(head):
    rng = np.random.default_rng(12)
    cfg = config(seed=12, num_labels=2)
    model = GPTLMHeadModel(cfg) if head == "lm" else GPTForSequenceClassification(cfg)
    model.set_train(True)
    ids, mask = batch(rng, 8, 12, cfg.vocab_size)
    labels = ids if head == "lm" else rng.integers(0, 2, 8)
    step = make_train_step(model, build_optimizer(model, 3e-3))
    losses = [step(tensor(ids), tensor(mask), None, tensor(labels)).asnumpy() for _ in range(25)]
    assert losses[-1] < 0.6 * losses[0], losses


def test_resize_token_embeddings_keeps_old_rows():
    model = GPTLMHeadModel(config(seed=13))
    old = model.transformer.tokens_embed.weight.asnumpy().copy()
    model.resize_token_embeddings(old.shape[0] + 3)
    new = model.transformer.tokens_embed.weight.asnumpy()
    assert new.shape == (old.shape[0] + 3, old.shape[1]) and model.config.vocab_size == old.shape[0] + 3
    np.testing.assert_array_equal(new[: old.shape[0]], old)
    assert model(tensor([[1, 2, old.shape[0] + 2]]))[0].shape == (1, 3, old.shape[0] + 3)
    with pytest.raises(ValueError, match="positive"):
        model.resize_token_embeddings(0)


def test_token_nll_gives_one_value_and_weight_per_next_token_pair():
    """token_nll: -log p(label[i+1] | ids[:i+1]) for the t-1 pairs of each row, in row order, weighted 0 where the
    label is -100 or either token of the pair is padding (the last position predicts nothing)."""
    from mindgpt.model import token_nll

    rng = np.random.default_rng(6)
    b, t, v = 3, 7, 11
    logits = rng.normal(size=(b, t, v)).astype(np.float32)
    ids = rng.integers(0, v, (b, t))
    labels = ids.copy()
    labels[0, 3] = -100
    mask = np.ones((b, t), np.int64)
    mask[2, 5:] = 0
    nll, weight = token_nll(tensor(logits, ms.float32), tensor(labels), tensor(mask))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp[:, :-1], np.maximum(labels[:, 1:], 0)[..., None], -1)[..., 0]
    want_weight = ((labels[:, 1:] != -100) & (mask[:, :-1] > 0) & (mask[:, 1:] > 0)).astype(np.float32)
    assert nll.shape == (b * (t - 1),) and weight.shape == (b * (t - 1),)
    np.testing.assert_array_equal(weight.asnumpy(), want_weight.reshape(-1))
    got = nll.asnumpy().reshape(b, t - 1)
    np.testing.assert_allclose(got[want_weight > 0], want[want_weight > 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", [ms.GRAPH_MODE, ms.PYNATIVE_MODE])
def test_gelu_backward_is_the_derivative_of_its_forward(mode):
    """The GELU cell's hand-written backward (it recomputes rather than keeps) against central differences of
    the same formula in float64, across the curve's bend and both tails."""
    from mindgpt.model import GELU

    ms.set_context(mode=mode)
    x = np.linspace(-7, 7, 2001)
    upstream = np.random.default_rng(0).normal(size=x.shape)

    def gelu(v):
        return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))

    cell = GELU()

    def weighted(v):
        return (cell(v) * tensor(upstream, dtype=ms.float32)).sum()

    grad = ms.grad(weighted)(tensor(x, dtype=ms.float32)).asnumpy()
    h = 1e-6
    expected = upstream * (gelu(x + h) - gelu(x - h)) / (2 * h)
    np.testing.assert_allclose(cell(tensor(x, dtype=ms.float32)).asnumpy(), gelu(x), atol=2e-6)
    np.testing.assert_allclose(grad, expected, atol=2e-5)
