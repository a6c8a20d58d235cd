"""Inputs at the model boundary: ids outside what they index, wrong types, dtypes and shapes are refused on the
host, naming the input, the bad value and the limit, before the graph runs (where a negative id would wrap
silently and one past the end would break every later call of that shape in graph mode)."""
import mindspore as ms
import numpy as np
import pytest

from conftest import tensor
from mindgpt import GPTConfig, GPTDoubleHeadsModel, GPTForSequenceClassification, GPTLMHeadModel, GPTModel

V, N = 50, 12  # vocab_size, n_positions


def config(**overrides):
    return GPTConfig(vocab_size=V, n_positions=N, n_embd=16, n_layer=1, n_head=2, resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, summary_first_dropout=0.0, **overrides)


def ids(*shape, seed=0):
    return tensor(np.random.default_rng(seed).integers(4, V, shape))


def test_out_of_range_token_ids_are_refused_and_the_next_call_works(any_mode):
    model = GPTLMHeadModel(config())
    x = ids(2, 5).asnumpy()
    for bad, message in [(-1, r"input_ids holds -1 at index \(1, 3\), outside the vocabulary \[0, vocab_size=50\)"),
                         (V, r"input_ids holds 50 at index \(1, 3\), outside the vocabulary .*resize_token_"
                             r"embeddings")]:
        broken = x.copy()
        broken[1, 3] = bad
        with pytest.raises(ValueError, match=message):
            model(tensor(broken))
        assert model(tensor(x)).logits.shape == (2, 5, V)  # graph mode is not left broken by the refusal


def lm(_):
    return GPTLMHeadModel(config()), {"input_ids": ids(2, 5)}


def classifier(problem_type=None):
    return GPTForSequenceClassification(config(num_labels=3, problem_type=problem_type)), {"input_ids": ids(2, 5)}


def double_heads(_):
    return GPTDoubleHeadsModel(config()), {"input_ids": ids(2, 3, 5)}


@pytest.mark.parametrize("build,name,value,message", [
    (lm, "token_type_ids", np.full((2, 5), V), r"token_type_ids holds 50 .*vocab_size=50\).*segment ids"),
    (lm, "position_ids", [[0, 1, 2, 3, N]], r"position_ids holds 12 at index \(0, 4\), outside the positions "
                                            r"\[0, n_positions=12\)"),
    (lm, "position_ids", [[-1, 0, 1, 2, 3]], r"position_ids holds -1"),
    (lm, "labels", [[1, 2, -5, 3, 4]] * 2, r"labels holds -5 at index \(0, 2\), outside the vocabulary "
                                           r"\[0, vocab_size=50\); .* or -100"),
    (lm, "labels", [[1, 2, 3, 4, V]] * 2, r"labels holds 50"),
    (classifier, "labels", [0, 3], r"labels holds 3 at index \(1,\), outside the classes \[0, num_labels=3\)"),
    (classifier, "labels", [-5, 1], r"labels holds -5 .*num_labels=3\); .*-100"),
    (double_heads, "mc_labels", [0, 3], r"mc_labels holds 3 .*outside the choices \[0, n_choices=3\)"),
    (double_heads, "mc_token_ids", np.full((2, 3), 5), r"mc_token_ids holds 5 .*positions \[0, 5\)"),
    (double_heads, "labels", np.full((2, 3, 5), -2), r"labels holds -2 .*vocab_size=50"),
])
def test_ids_outside_what_they_index_are_refused(any_mode, build, name, value, message):
    model, inputs = build(None)
    with pytest.raises(ValueError, match=message):
        model(**inputs, **{name: tensor(value)})


def test_ignored_labels_are_left_out_of_the_loss(any_mode):
    model, inputs = classifier()
    x = inputs["input_ids"]
    both = model(x, labels=tensor([-100, 1])).loss.asnumpy()
    np.testing.assert_allclose(both, model(x[1:], labels=tensor([1])).loss.asnumpy(), rtol=1e-6)
    model, inputs = double_heads(None)
    x = inputs["input_ids"]
    both = model(x, mc_labels=tensor([2, -100])).mc_loss.asnumpy()
    np.testing.assert_allclose(both, model(x[:1], mc_labels=tensor([2])).mc_loss.asnumpy(), rtol=1e-6)


def test_float_labels_of_regression_and_multi_label_are_accepted(any_mode):
    multi, inputs = classifier("multi_label_classification")
    assert multi(**inputs, labels=tensor([[1, 0, 1], [0, 1, 0]], ms.float32)).loss.shape == ()
    regression = GPTForSequenceClassification(config(num_labels=1))
    assert regression(**inputs, labels=tensor([0.25, -1.5], ms.float32)).loss.shape == ()


def test_a_sequence_longer_than_the_context_names_n_positions():
    with pytest.raises(ValueError, match=r"input_ids holds sequences of 13 tokens, more than the model's context "
                                         r"of n_positions=12; truncate them to 12 tokens"):
        GPTLMHeadModel(config())(ids(1, N + 1))
    with pytest.raises(ValueError, match="inputs_embeds holds sequences of 13 tokens"):
        GPTModel(config())(inputs_embeds=tensor(np.zeros((1, N + 1, 16)), ms.float32))


def test_wrong_types_and_dtypes_say_how_to_fix_them():
    model = GPTLMHeadModel(config())
    with pytest.raises(TypeError, match=r"input_ids must be a mindspore.Tensor, got a list; wrap it: "
                                        r"mindspore.Tensor\(input_ids\)"):
        model([[5, 6, 7]])
    with pytest.raises(TypeError, match="attention_mask must be a mindspore.Tensor, got a ndarray"):
        model(ids(1, 3), np.ones((1, 3)))
    with pytest.raises(TypeError, match=r"input_ids must hold integers, got dtype Float32; cast it: "
                                        r"input_ids.astype\(mindspore.int32\)"):
        model(tensor([[5.0, 6.0]], ms.float32))
    with pytest.raises(TypeError, match="labels must hold integers, got dtype Float32"):
        classifier()[0](ids(2, 5), labels=tensor([0.0, 1.0], ms.float32))  # class indices as floats


@pytest.mark.parametrize("name,value,message", [
    ("input_ids", np.zeros((0, 5)), r"input_ids has shape \(0, 5\): no tokens to run"),
    ("input_ids", np.zeros((2, 0)), r"input_ids has shape \(2, 0\): no tokens to run"),
    ("attention_mask", np.ones((2, 4)), r"attention_mask has shape \(2, 4\); to fit input_ids of shape \(2, 5\) "
                                        r"it must be \(2, 5\)"),
    ("token_type_ids", np.zeros((3, 5)), r"token_type_ids has shape \(3, 5\); .* must be \(2, 5\) or \(1, 5\) or "
                                         r"\(5,\)"),
    ("position_ids", np.zeros((2, 4)), r"position_ids has shape \(2, 4\)"),
    ("labels", np.zeros((2, 4)), r"labels has shape \(2, 4\)"),
])
def test_shapes_that_do_not_fit_input_ids_are_refused(name, value, message):
    inputs = {"input_ids": ids(2, 5), name: tensor(value)}
    with pytest.raises(ValueError, match=message):
        GPTLMHeadModel(config())(**inputs)


def test_one_row_of_position_ids_serves_the_batch(any_mode):
    model = GPTLMHeadModel(config())
    x = ids(2, 5)
    shared = model(x, position_ids=tensor([[0, 1, 2, 3, 4]])).logits.asnumpy()
    np.testing.assert_allclose(shared, model(x).logits.asnumpy(), atol=1e-6)
