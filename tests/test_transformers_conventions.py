"""transformers' openai model and config tests, restated for mindgpt: the model tester's shapes for the four
classes, named outputs and HF's flags, inputs_embeds, the embedding accessors, resizing and the config's common
behaviour; numbers against transformers' outputs on the same weights (tests/fixtures/make_hf_fixture.py)."""
import json
import os

import mindspore as ms
import numpy as np
import pytest

from conftest import FIXTURES, tensor
from mindgpt import (GPTConfig, OpenAIGPTConfig, OpenAIGPTDoubleHeadsModel, OpenAIGPTForSequenceClassification,
                     OpenAIGPTLMHeadModel, OpenAIGPTModel)
from mindgpt.model import Embedding

HF = os.path.join(FIXTURES, "hf_openai_gpt")
TOL = 2e-5
BATCH, SEQ, VOCAB, WIDTH, LAYERS, HEADS = 13, 7, 99, 32, 2, 4
NUM_LABELS, NUM_CHOICES = 3, 4


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(os.path.join(HF, "expected.npz")))


def close(actual, want):
    np.testing.assert_allclose(actual.asnumpy(), want, atol=TOL, rtol=0)


def hf_tester_config(**overrides):
    """The model tester's config: pad_token_id is the last id, so random ids contain it now and then."""
    return OpenAIGPTConfig(**{"vocab_size": VOCAB, "n_embd": WIDTH, "n_layer": LAYERS, "n_head": HEADS,
                              "n_positions": 512, "pad_token_id": VOCAB - 1, **overrides})


def ids(*shape, high=VOCAB, seed=0):
    return tensor(np.random.default_rng(seed).integers(0, high, shape))


# --- the model tester --------------------------------------------------------------------------------
def test_base_model_output_shape(any_mode):
    model = OpenAIGPTModel(hf_tester_config())
    model.set_train(False)
    model(ids(BATCH, SEQ), token_type_ids=ids(BATCH, SEQ, high=16, seed=1))
    result = model(ids(BATCH, SEQ))
    assert result.last_hidden_state.shape == (BATCH, SEQ, WIDTH)
    assert result[0] is result.last_hidden_state and len(result) == 1


def test_lm_head_loss_and_logits(any_mode):
    model = OpenAIGPTLMHeadModel(hf_tester_config())
    x = ids(BATCH, SEQ)
    result = model(x, token_type_ids=ids(BATCH, SEQ, high=16, seed=1), labels=x)
    assert result.loss.shape == () and result.logits.shape == (BATCH, SEQ, VOCAB)
    loss, logits = result  # a tuple too, loss first
    assert loss is result.loss and logits is result.logits


def test_double_heads_on_plain_sequences(any_mode):
    model = OpenAIGPTDoubleHeadsModel(hf_tester_config())
    x = ids(BATCH, SEQ)
    result = model(x, token_type_ids=ids(BATCH, SEQ, high=16, seed=1), labels=x)
    assert result.loss.shape == () and result.logits.shape == (BATCH, SEQ, VOCAB)
    assert result.mc_logits.shape == (BATCH,) and result.mc_loss is None


def test_double_heads_with_choices_and_both_labels(any_mode):
    model = OpenAIGPTDoubleHeadsModel(hf_tester_config())
    choices = ids(BATCH, NUM_CHOICES, SEQ)
    result = model(choices, token_type_ids=choices, mc_token_ids=tensor(np.zeros((BATCH, NUM_CHOICES))),
                   labels=choices, mc_labels=ids(BATCH, high=NUM_CHOICES))
    assert result.logits.shape == (BATCH, NUM_CHOICES, SEQ, VOCAB) and result.mc_logits.shape == (BATCH, NUM_CHOICES)
    assert result.loss.shape == () and result.mc_loss.shape == ()
    assert [type(v) for v in result] == [ms.Tensor] * 4  # HF's order: loss, mc_loss, logits, mc_logits


def test_sequence_classifier_shape(any_mode):
    config = hf_tester_config()
    config.num_labels = NUM_LABELS
    model = OpenAIGPTForSequenceClassification(config)
    result = model(ids(BATCH, SEQ), token_type_ids=ids(BATCH, SEQ, high=16, seed=1), labels=ids(BATCH, high=2))
    assert result.logits.shape == (BATCH, NUM_LABELS) and result.loss.shape == ()


def test_initializer_range_zero_gives_zero_conv1d_weights():
    model = OpenAIGPTModel(hf_tester_config(initializer_range=0.0))
    conv1d = [p for name, p in model.parameters_and_names() if name.endswith(("c_attn.weight", "c_fc.weight",
                                                                             "c_proj.weight"))]
    assert len(conv1d) == 4 * LAYERS and all(not p.asnumpy().any() for p in conv1d)


# --- HF's flags and accessors -----------------------------------------------------------------------
def test_output_attentions_match_hf(any_mode, expected):
    model = OpenAIGPTLMHeadModel.from_pretrained(os.path.join(HF, "lm"))
    out = model(tensor(expected["input_ids"]), tensor(expected["right_mask"]), output_attentions=True)
    assert len(out.attentions) == len(expected["attentions_right"]) and out.hidden_states is None
    for ours, theirs in zip(out.attentions, expected["attentions_right"]):
        close(ours, theirs)
    model.config.output_attentions = True  # the config's default, as in HF
    assert len(model(tensor(expected["input_ids"])).attentions) == 2


def test_return_dict_false_gives_hf_tuple(any_mode):
    model = OpenAIGPTLMHeadModel(hf_tester_config())
    x = ids(2, SEQ)
    out = model(x, labels=x, output_hidden_states=True, return_dict=False)
    assert type(out) is tuple and len(out) == 3 and len(out[2]) == LAYERS + 1
    model.config.return_dict = False
    assert type(model(x)) is tuple


def test_inputs_embeds_give_the_ids_outputs(any_mode, expected):
    model = OpenAIGPTLMHeadModel.from_pretrained(os.path.join(HF, "lm"))
    x = tensor(expected["input_ids"])
    embeds = model.get_input_embeddings()(x)
    close(model(inputs_embeds=embeds).logits, expected["logits_nomask"])
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        model(x, inputs_embeds=embeds)
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        model()


def test_get_and_set_input_embeddings():
    model = OpenAIGPTLMHeadModel(hf_tester_config())
    assert isinstance(model.get_input_embeddings(), Embedding)
    assert model.get_input_embeddings() is model.transformer.get_input_embeddings()
    replacement = Embedding(10, WIDTH, model.config)
    model.set_input_embeddings(replacement)
    assert model.get_input_embeddings() is replacement and model.config.vocab_size == 10
    assert model(ids(2, SEQ, high=10)).logits.shape == (2, SEQ, 10)  # the tied head follows the table
    with pytest.raises(ValueError, match="n_embd is 32"):
        model.set_input_embeddings(Embedding(10, 16, model.config))


# --- the sequence classifier reads where HF reads ----------------------------------------------------
def test_padded_batch_without_mask_pools_at_last_non_pad_token(any_mode, expected):
    model = OpenAIGPTForSequenceClassification.from_pretrained(os.path.join(HF, "cls"))
    out = model(tensor(expected["pad_input_ids"]), labels=tensor(expected["cls_labels"]))
    close(out.logits, expected["pad_logits_nomask"])
    np.testing.assert_allclose(out.loss.asnumpy(), expected["pad_loss_nomask"], atol=TOL)
    masked = model(tensor(expected["pad_input_ids"]), tensor(expected["right_mask"]))
    close(masked.logits, expected["pad_logits_mask"])


def test_default_loss_is_hf_task_loss_and_lambda_adds_l1():
    model = OpenAIGPTForSequenceClassification.from_pretrained(os.path.join(HF, "cls"))
    x, labels = tensor(np.load(os.path.join(HF, "expected.npz"))["pad_input_ids"]), tensor([0, 2, 1])
    task = model(x, labels=labels)
    assert task.task_loss is None and task.lm_loss is None and model.config.lm_coef == 0
    model.config.lm_coef = 0.5  # read by the graph: takes effect at the next call
    full = model(x, labels=labels)
    np.testing.assert_allclose(full.task_loss.asnumpy(), task.loss.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(full.loss.asnumpy(), (full.task_loss + 0.5 * full.lm_loss).asnumpy(), rtol=1e-6)
    assert len(full) == 2  # L2 and L1 are attributes, the tuple stays HF's


def test_changing_the_classifier_token_after_a_forward_takes_effect(any_mode):
    config = hf_tester_config(num_labels=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = OpenAIGPTForSequenceClassification(config)
    x = np.random.default_rng(3).integers(5, 90, (2, SEQ))
    x[:, 2] = 4
    at_last = model(tensor(x)).logits.asnumpy()
    model.config.eos_token_id = 4  # the classifier token now: rows are read at column 2
    at_token = model(tensor(x)).logits.asnumpy()
    assert not np.allclose(at_last, at_token)
    np.testing.assert_allclose(at_token, model(tensor(x[:, :3])).logits.asnumpy(), atol=1e-5)


def test_changing_a_built_from_field_is_a_clear_error():
    model = OpenAIGPTLMHeadModel(hf_tester_config())
    model.config.vocab_size = VOCAB + 5
    with pytest.raises(ValueError, match=r"vocab_size changed .*resize_token_embeddings"):
        model(ids(1, SEQ))


def test_multiple_choice_matches_hf_with_mc_token_ids_and_lm_labels(expected):
    model = OpenAIGPTDoubleHeadsModel.from_pretrained(os.path.join(HF, "mc"))
    out = model(tensor(expected["mc_input_ids"]), mc_token_ids=tensor(expected["mc_token_ids"]),
                labels=tensor(expected["mc_lm_labels"]), mc_labels=tensor(expected["mc_labels"]))
    close(out.mc_logits, expected["mc_logits"])
    close(out.logits, expected["mc_lm_logits"])
    np.testing.assert_allclose(out.mc_loss.asnumpy(), expected["mc_loss"], atol=TOL)
    np.testing.assert_allclose(out.loss.asnumpy(), expected["mc_lm_loss"], atol=TOL)


# --- resizing ----------------------------------------------------------------------------------------
def test_resize_after_a_forward_keeps_rows_and_starts_new_ones_at_the_mean(any_mode):
    np.random.seed(0)
    model = OpenAIGPTLMHeadModel(hf_tester_config())
    before = model(ids(2, SEQ)).logits.asnumpy()
    old = model.get_input_embeddings().weight.asnumpy().copy()
    table = model.resize_token_embeddings(VOCAB + 3)
    assert table is model.get_input_embeddings() and model.config.vocab_size == VOCAB + 3
    new = table.weight.asnumpy()
    np.testing.assert_array_equal(new[:VOCAB], old)
    np.testing.assert_allclose(new[VOCAB:], np.tile(old.mean(0), (3, 1)), atol=1e-4)  # covariance scaled by 1e-9
    after = model(tensor([[1, 2, VOCAB + 2]])).logits
    assert after.shape == (1, 3, VOCAB + 3)
    np.testing.assert_allclose(model(ids(2, SEQ)).logits.asnumpy()[..., :VOCAB], before, atol=1e-5)


def test_resize_without_mean_resizing_draws_from_the_initializer():
    np.random.seed(0)
    model = OpenAIGPTModel(hf_tester_config(initializer_range=0.5))
    new = model.resize_token_embeddings(VOCAB + 200, mean_resizing=False).weight.asnumpy()[VOCAB:]
    assert abs(new.std() - 0.5) < 0.02
    assert model.resize_token_embeddings(101, pad_to_multiple_of=8).weight.shape[0] == 104
    assert model.resize_token_embeddings().weight.shape[0] == 104
    with pytest.raises(ValueError, match="positive"):
        model.resize_token_embeddings(0)


# --- the config tester --------------------------------------------------------------------------------
def test_config_common_properties_and_aliases():
    config = OpenAIGPTConfig(n_embd=37)  # HF's tester: heads need not divide the width until a model is built
    for name in ("vocab_size", "hidden_size", "num_attention_heads", "num_hidden_layers"):
        assert hasattr(config, name)
    with pytest.raises(ValueError, match="divisible by n_head"):
        OpenAIGPTModel(config)
    assert OpenAIGPTConfig(hidden_size=64, num_attention_heads=8).n_head == 8


def test_config_json_string_file_and_pretrained_round_trips(tmp_path):
    config = OpenAIGPTConfig(n_embd=37)
    assert json.loads(config.to_json_string())["n_embd"] == 37
    config.to_json_file(tmp_path / "c.json")
    assert OpenAIGPTConfig.from_json_file(tmp_path / "c.json").to_dict() == config.to_dict()
    config.save_pretrained(tmp_path / "dir")
    assert OpenAIGPTConfig.from_pretrained(tmp_path / "dir").to_dict() == config.to_dict()


def test_config_num_labels_follows_id2label():
    config = OpenAIGPTConfig(num_labels=5)
    assert len(config.id2label) == 5 and len(config.label2id) == 5
    config.num_labels = 3
    assert len(config.id2label) == 3 and len(config.label2id) == 3
    named = OpenAIGPTConfig(id2label={"0": "neg", "1": "pos"})
    assert named.num_labels == 2 and named.id2label == {0: "neg", 1: "pos"}
    assert GPTConfig.from_dict(named.to_dict()).id2label == {0: "neg", 1: "pos"}


def test_config_takes_hf_common_arguments():
    common = dict(return_dict=False, output_hidden_states=True, output_attentions=True, tie_word_embeddings=False,
                  architectures=["OpenAIGPTModel"], id2label={0: "label"}, label2id={"label": "0"},
                  problem_type="regression", bos_token_id=6, pad_token_id=7, eos_token_id=8, sep_token_id=9,
                  dtype="float16", chunk_size_feed_forward=5, finetuning_task="translation")
    config = OpenAIGPTConfig(**common)
    for name, value in common.items():
        assert getattr(config, name) == value, name
    assert config.num_labels == 1 and config.use_return_dict is False
    assert OpenAIGPTConfig() == GPTConfig()  # can be built without arguments


def test_config_refuses_a_single_label_problem_with_one_label():
    with pytest.raises(ValueError, match="single_label_classification"):
        OpenAIGPTConfig(num_labels=1, problem_type="single_label_classification")
