"""mindgpt loads checkpoints that transformers 5.24 wrote and reproduces HF's outputs (fixture made by
tests/fixtures/make_hf_fixture.py)."""
import logging
import os

import numpy as np
import pytest

from conftest import FIXTURES, tensor
from mindgpt import GPTDoubleHeadsModel, GPTForSequenceClassification, GPTLMHeadModel, GPTModel

HF = os.path.join(FIXTURES, "hf_openai_gpt")
TOL = 2e-5


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(os.path.join(HF, "expected.npz")))


def close(actual, want):
    np.testing.assert_allclose(actual.asnumpy(), want, atol=TOL, rtol=0)


@pytest.mark.parametrize("mask", ["nomask", "right", "left"])
def test_lm_logits_and_hidden_states_match_hf(any_mode, expected, mask):
    model = GPTLMHeadModel.from_pretrained(os.path.join(HF, "lm"))
    attention_mask = None if mask == "nomask" else tensor(expected[f"{mask}_mask"])
    logits, hidden = model(tensor(expected["input_ids"]), attention_mask, output_hidden_states=True)
    close(logits, expected[f"logits_{mask}"])
    assert len(hidden) == len(expected[f"hidden_{mask}"])
    for ours, theirs in zip(hidden, expected[f"hidden_{mask}"]):
        close(ours, theirs)


def test_left_padding_with_shifted_position_ids_matches_hf(expected):
    model = GPTLMHeadModel.from_pretrained(os.path.join(HF, "lm"))
    logits = model(tensor(expected["input_ids"]), tensor(expected["left_mask"]),
                   position_ids=tensor(expected["left_position_ids"]))[0]
    close(logits, expected["logits_left_positions"])


def test_token_type_ids_and_lm_loss_match_hf(expected):
    model = GPTLMHeadModel.from_pretrained(os.path.join(HF, "lm"))
    loss, logits = model(tensor(expected["input_ids"]), token_type_ids=tensor(expected["token_type_ids"]),
                         labels=tensor(expected["labels"]))
    close(logits, expected["logits_token_type"])
    np.testing.assert_allclose(loss.asnumpy(), expected["loss_token_type"], atol=TOL)


def test_pytorch_bin_loads_like_safetensors(expected):
    model = GPTLMHeadModel.from_pretrained(os.path.join(HF, "bin"))
    close(model(tensor(expected["input_ids"]))[0], expected["logits_nomask"])


def test_base_model_last_hidden_state_matches_hf(expected):
    model = GPTModel.from_pretrained(os.path.join(HF, "lm"))
    close(model(tensor(expected["input_ids"]), tensor(expected["right_mask"]))[0], expected["hidden_right"][-1])


def test_sequence_classifier_matches_hf(any_mode, expected):
    # HF pools at the last non-pad token; the fixture puts the classifier token (id 7) exactly there.
    model = GPTForSequenceClassification.from_pretrained(os.path.join(HF, "cls"), cls_token_id=7, lm_coef=0.0)
    assert model.config.num_labels == 3
    loss, logits = model(tensor(expected["cls_input_ids"]), tensor(expected["right_mask"]),
                         labels=tensor(expected["cls_labels"]))
    close(logits, expected["cls_logits"])
    np.testing.assert_allclose(loss.asnumpy(), expected["cls_loss"], atol=TOL)


def test_multiple_choice_matches_hf(expected):
    model = GPTDoubleHeadsModel.from_pretrained(os.path.join(HF, "mc"), cls_token_id=7, lm_coef=0.0)
    mc_mask = np.stack([expected["right_mask"], expected["right_mask"][::-1]], 1)
    out = model(tensor(expected["mc_input_ids"]), tensor(mc_mask), mc_labels=tensor(expected["mc_labels"]))
    close(out.mc_logits, expected["mc_logits"])
    np.testing.assert_allclose(out.mc_loss.asnumpy(), expected["mc_loss"], atol=TOL)


def test_base_checkpoint_into_classifier_reports_new_head(expected, caplog):
    with caplog.at_level(logging.WARNING, logger="mindgpt"):
        model, info = GPTForSequenceClassification.from_pretrained(
            os.path.join(HF, "lm"), num_labels=4, output_loading_info=True)
    assert info["missing_keys"] == ["score.weight"]
    assert "score.weight" in caplog.text and "newly initialized" in caplog.text
    assert model(tensor(expected["input_ids"]))[0].shape == (3, 4)


def test_classifier_checkpoint_into_lm_reports_unused_head(expected, caplog):
    with caplog.at_level(logging.WARNING, logger="mindgpt"):
        model, info = GPTLMHeadModel.from_pretrained(os.path.join(HF, "cls"), output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": ["score.weight"]}
    assert "unused" in caplog.text and "score.weight" in caplog.text
    close(model(tensor(expected["input_ids"]))[0], expected["logits_nomask"])
