"""GPTConfig: the lecture's defaults, HF aliases, config.json round trip and validation errors."""
import json
import os

import pytest

from conftest import FIXTURES
from mindgpt import GPTConfig


def test_defaults_are_the_papers_model():
    c = GPTConfig()
    assert (c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head) == (40478, 512, 768, 12, 12)
    assert (c.afn, c.layer_norm_epsilon, c.initializer_range, c.lm_coef) == ("gelu_new", 1e-5, 0.02, 0.0)
    assert (c.resid_pdrop, c.embd_pdrop, c.attn_pdrop, c.summary_type) == (0.1, 0.1, 0.1, "cls_index")


def test_aliases_read_and_write_the_gpt1_fields():
    c = GPTConfig(hidden_size=256, num_attention_heads=8, num_hidden_layers=3, max_position_embeddings=64)
    assert (c.n_embd, c.n_head, c.n_layer, c.n_positions) == (256, 8, 3, 64)
    c.hidden_size = 128
    assert c.n_embd == 128 and c.hidden_size == 128
    assert "hidden_size" not in c.to_dict()


def test_json_round_trip_keeps_unknown_keys(tmp_path):
    c = GPTConfig.from_preset("2x64", lm_coef=0.0, eos_token_id=5, cls_token_id=5, my_note="kept")
    c.save_pretrained(tmp_path)
    on_disk = json.loads((tmp_path / "config.json").read_text())
    assert on_disk["model_type"] == "openai-gpt" and on_disk["my_note"] == "kept"
    back = GPTConfig.from_pretrained(tmp_path)
    assert back == c and back.my_note == "kept" and back.lm_coef == 0.0
    assert back.classifier_token_id == 5


def test_reads_a_transformers_config_json():
    c = GPTConfig.from_pretrained(os.path.join(FIXTURES, "hf_openai_gpt", "cls"))
    assert (c.num_labels, c.pad_token_id, c.n_embd, c.afn) == (3, 0, 32, "gelu")
    assert c.transformers_version == "5.24.0"
    assert GPTConfig.from_pretrained(os.path.join(FIXTURES, "hf_openai_gpt", "cls"), num_labels=5).num_labels == 5


@pytest.mark.parametrize("fields,message", [
    (dict(n_layer=0), "n_layer must be a positive integer"),
    (dict(vocab_size=-3), "vocab_size"),
    (dict(afn="tanh"), "afn 'tanh' is unknown"),
    (dict(attn_pdrop=1.0), r"attn_pdrop is a dropout probability in \[0, 1\)"),
    (dict(resid_pdrop=-0.1), "resid_pdrop"),
    (dict(lm_coef=-1), "lm_coef"),
    (dict(eos_token_id=40478), "eos_token_id=40478 is not a token id"),
    (dict(layer_norm_epsilon="1e-5"), r"layer_norm_epsilon must be a finite number > 0 \(e.g. 1e-5\), got '1e-5'"),
    (dict(initializer_range=-0.02), "initializer_range .* must be a finite number >= 0 .*got -0.02"),
    (dict(lm_coef=float("nan")), r"lm_coef \(λ in L3 = L2 \+ λ·L1\) must be a finite number >= 0, got nan"),
    (dict(embd_pdrop=True), "embd_pdrop is a dropout probability"),
    (dict(return_dict="yes"), "return_dict must be true or false, got 'yes'"),
])
def test_validation_names_the_bad_field(fields, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**fields)


@pytest.mark.parametrize("afn", ["gelu", "gelu_new", "relu", "silu", "swish"])
def test_known_activations_are_accepted(afn):
    assert GPTConfig(afn=afn).afn == afn


def test_presets():
    assert GPTConfig.from_preset("gpt1") == GPTConfig()
    assert GPTConfig.from_preset("6x384", n_layer=2).n_layer == 2
    with pytest.raises(ValueError, match="unknown GPTConfig preset 'huge'"):
        GPTConfig.from_preset("huge")
    with pytest.raises(ValueError, match=r"unknown GPTConfig preset 'small' \(renamed '6x384'\)"):
        GPTConfig.from_preset("small")


@pytest.mark.parametrize("field,value", [("summary_type", "mean"), ("summary_use_proj", False),
                                         ("summary_proj_to_labels", False)])
def test_summary_settings_gpt1_lacks_are_refused(field, value):
    # HF's config carries them for other models' heads; GPT-1's heads score the hidden state at the classifier token
    with pytest.raises(ValueError, match=f"GPTConfig.{field}={value!r} is not supported"):
        GPTConfig(**{field: value})


def test_truncated_config_file_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"n_embd": 64, "n_he')
    with pytest.raises(ValueError, match="not valid JSON"):
        GPTConfig.from_pretrained(tmp_path)


def test_a_config_file_that_is_no_object_or_holds_a_bad_field_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"config.json holds a JSON list, not an object of config fields"):
        GPTConfig.from_json_file(path)
    path.write_text('{"layer_norm_epsilon": "small"}')
    with pytest.raises(ValueError, match=r"config.json: GPTConfig.layer_norm_epsilon must be a finite number"):
        GPTConfig.from_pretrained(tmp_path)
