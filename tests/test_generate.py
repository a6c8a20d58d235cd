"""Generation: the key/value cache reproduces the full forward, padding and EOS per row, sampling, errors."""
import numpy as np
import pytest

from conftest import tensor
from mindgpt import GPTConfig, GPTLMHeadModel
from mindgpt.generate import CachedDecoder, Recompute, generate, left_padded, next_token, penalize_repeats

PROMPTS = [[5, 17, 3, 9, 44, 2], [7, 8], [30, 1, 1, 60]]


@pytest.fixture(scope="module")
def model():
    import mindspore as ms

    ms.set_seed(0)
    config = GPTConfig(vocab_size=97, n_positions=48, n_embd=32, n_layer=2, n_head=4, initializer_range=0.3,
                       resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPTLMHeadModel(config)


def test_cached_logits_match_the_full_forward_at_every_step(model):
    ids, mask, positions = left_padded(PROMPTS, model.config.n_positions)
    width = 6 + 10
    ids[:, 6:width] = np.random.default_rng(0).integers(0, 97, (3, 10))
    cached = CachedDecoder(model.decoding_step(len(PROMPTS)), mask, positions)
    full = Recompute(model, mask, positions, width)
    np.testing.assert_allclose(cached.next_logits(ids, 0, 6), full.next_logits(ids, 0, 6), atol=1e-5)
    for column in range(6, width):
        np.testing.assert_allclose(cached.next_logits(ids, column, column + 1),
                                   full.next_logits(ids, column, column + 1), atol=1e-5)


def test_cached_greedy_equals_uncached_token_for_token(any_mode, model):
    cached = model.generate(PROMPTS, max_new_tokens=30)
    assert cached == generate(model, PROMPTS, max_new_tokens=30, use_cache=False)
    assert [len(row) for row in cached] == [len(p) + 30 for p in PROMPTS]
    assert len({tuple(row[-30:]) for row in cached}) == 3  # the rows really differ


def test_the_cache_is_no_part_of_the_model(model, tmp_path):
    names = list(model.parameters_dict())
    model.generate(PROMPTS, max_new_tokens=3)
    assert list(model.parameters_dict()) == names  # same names, no cache Parameters among them
    model.save_pretrained(tmp_path)
    assert GPTLMHeadModel.from_pretrained(tmp_path).generate(PROMPTS, 3) == model.generate(PROMPTS, 3)
    step = model.decoding_step(len(PROMPTS))  # the one owner of the cache: [B·n_head·n_positions, head_dim] rows
    assert step is model.decoding_step(len(PROMPTS))  # kept, so its compiled graphs are reused
    assert {tuple(p.shape) for p in step.cache.get_parameters()} == {(3 * 4 * 48, 8)}
    model.recompile()
    assert model.decoding_step(len(PROMPTS)) is not step  # compiled for the old weights: dropped


def test_a_padded_prompt_continues_as_it_would_alone(model):
    together = generate(model, PROMPTS, max_new_tokens=8)
    assert together == [generate(model, [p], max_new_tokens=8)[0] for p in PROMPTS]


def test_padded_array_with_attention_mask_is_the_same_request(model):
    ids = np.zeros((3, 6), np.int32)
    mask = np.zeros((3, 6), np.int32)
    for row, prompt in enumerate(PROMPTS):  # right-padded this time
        ids[row, : len(prompt)], mask[row, : len(prompt)] = prompt, 1
    assert generate(model, tensor(ids), 5, attention_mask=tensor(mask)) == generate(model, PROMPTS, 5)


def test_each_row_stops_after_eos(model):
    free = generate(model, PROMPTS, max_new_tokens=10)
    eos = free[0][len(PROMPTS[0]) + 3]  # the fourth token row 0 makes
    stopped = generate(model, PROMPTS, max_new_tokens=10, eos_token_id=eos)
    for row, short, prompt in zip(free, stopped, PROMPTS):
        new = row[len(prompt):]
        assert short == prompt + (new[: new.index(eos) + 1] if eos in new else new)


def test_sampling_repeats_with_a_seed_and_narrows_to_greedy(model):
    first = generate(model, PROMPTS, 12, do_sample=True, seed=3)
    assert first == generate(model, PROMPTS, 12, do_sample=True, seed=3)
    assert first != generate(model, PROMPTS, 12, do_sample=True, seed=4)
    greedy = generate(model, PROMPTS, 12)
    assert generate(model, PROMPTS, 12, do_sample=True, top_k=1, seed=5) == greedy
    assert generate(model, PROMPTS, 12, do_sample=True, top_p=1e-6, seed=5) == greedy


def test_top_k_and_top_p_only_sample_allowed_tokens():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 2000))
    rng = np.random.default_rng(0)
    assert set(next_token(logits, rng, top_k=2)) == {0, 1}
    assert set(next_token(logits, rng, top_p=0.7)) == {0, 1}  # 0.5 < 0.7 <= 0.5 + 0.3
    counts = np.bincount(next_token(logits, rng), minlength=4) / 2000
    np.testing.assert_allclose(counts, [0.5, 0.3, 0.15, 0.05], atol=0.04)


def test_repetition_penalty_is_ctrls_rule():
    logits = np.array([[2.0, -2.0, 2.0, -2.0]])
    ids, mask = np.array([[0, 1, 3]]), np.array([[1, 1, 0]])  # token 3 is padding: not seen
    np.testing.assert_allclose(penalize_repeats(logits, ids, mask, 2.0), [[1.0, -4.0, 2.0, -2.0]])


@pytest.mark.parametrize("prompts, options, message", [
    ([[1, 2], []], {}, "prompt 1 is empty"),
    ([], {}, "at least one prompt"),
    ([[1] * 40], {"max_new_tokens": 9}, r"40 tokens\) \+ max_new_tokens \(9\) = 49 exceeds .* n_positions=48"),
    ([[1] * 40], {"max_new_tokens": 9}, "use max_new_tokens <= 8 or only the prompt's last 39 tokens"),
    ([[1]], {"max_new_tokens": 48}, "use max_new_tokens <= 47$"),
    ([[1]], {"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ([[1]], {"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ([[1]], {"temperature": 0.0}, "temperature must be > 0"),
    ([[1]], {"top_k": -1}, "top_k must be an integer >= 0"),
    ([[1]], {"repetition_penalty": 0.0}, "repetition_penalty must be > 0"),
    ([[1, 97]], {}, r"token id 97, outside the vocabulary \[0, 97\)"),
    (np.array([1, 2, 3]), {}, "wrap a single prompt as"),
])
def test_bad_requests_are_clear_errors(model, prompts, options, message):
    with pytest.raises(ValueError, match=message):
        generate(model, prompts, **options)
