"""save_pretrained / from_pretrained: formats, round trips, and clear errors for bad files."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, tensor
from mindgpt import GPTConfig, GPTDoubleHeadsModel, GPTForSequenceClassification, GPTLMHeadModel, GPTModel

HF_LM = os.path.join(FIXTURES, "hf_openai_gpt", "lm")
IDS = [[5, 9, 3, 17, 2, 3]]


def tiny(**overrides):
    return GPTConfig.from_preset("2x64", **{"vocab_size": 40, "n_positions": 16, "cls_token_id": 3, **overrides})


@pytest.mark.parametrize("cls", [GPTModel, GPTLMHeadModel, GPTForSequenceClassification, GPTDoubleHeadsModel])
@pytest.mark.parametrize("weights_format", ["safetensors", "ckpt"])
def test_round_trip_gives_the_same_outputs(tmp_path, cls, weights_format):
    model = cls(tiny())
    ids = tensor([IDS, IDS]) if cls is GPTDoubleHeadsModel else tensor(IDS)
    path = model.save_pretrained(tmp_path, weights_format=weights_format)
    assert os.path.basename(path) in ("model.safetensors", "mindspore_model.ckpt")
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]
    loaded = cls.from_pretrained(tmp_path)
    np.testing.assert_array_equal(loaded(ids)[0].asnumpy(), model(ids)[0].asnumpy())
    assert loaded.config == GPTConfig.from_pretrained(tmp_path)


def test_saved_directory_has_hf_names_without_the_tied_head(tmp_path):
    from safetensors.numpy import load_file

    GPTLMHeadModel(tiny()).save_pretrained(tmp_path)
    names = set(load_file(str(tmp_path / "model.safetensors")))
    assert "transformer.h.0.attn.c_attn.weight" in names and "transformer.tokens_embed.weight" in names
    assert not any("lm_head" in n for n in names)


def test_files_keep_the_conv1d_layout_of_weights_held_transposed(tmp_path):
    """c_attn and c_fc are held [out, in] for MatMul's speed; the files, like HF's, hold every Conv1D [in, out]."""
    from safetensors.numpy import load_file, save_file

    model = GPTLMHeadModel(tiny())
    mlp = model.transformer.h[0].mlp
    assert mlp.c_fc.weight.shape == (256, 64) and mlp.c_proj.weight.shape == (256, 64)
    model.save_pretrained(tmp_path)
    saved = load_file(str(tmp_path / "model.safetensors"))
    np.testing.assert_array_equal(saved["transformer.h.0.mlp.c_fc.weight"], mlp.c_fc.weight.asnumpy().T)
    np.testing.assert_array_equal(saved["transformer.h.0.mlp.c_proj.weight"], mlp.c_proj.weight.asnumpy())
    assert saved["transformer.h.0.attn.c_attn.weight"].shape == (64, 192)
    saved["transformer.h.0.mlp.c_fc.weight"] = saved["transformer.h.0.mlp.c_fc.weight"].T.copy()
    save_file(saved, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"'h.0.mlp.c_fc.weight' has shape \(256, 64\), the model expects \(64, 256\)"):
        GPTLMHeadModel.from_pretrained(tmp_path)


def test_the_weights_held_out_in_are_the_heads_and_the_transposed_list():
    """`checkpoint.TRANSPOSED` is the one list of layout differences: the model builds its layers from it."""
    from mindgpt.checkpoint import is_transposed
    from mindgpt.model import Linear

    model = GPTForSequenceClassification(tiny(n_layer=2))
    out_in = {f"{name}.weight" for name, cell in model.cells_and_names()
              if isinstance(cell, Linear) and cell.weight_out_in}
    transposed = {name for name in model.parameters_dict() if is_transposed(name)}
    assert transposed == {f"transformer.h.{i}.{w}" for i in range(2) for w in ("attn.c_attn.weight", "mlp.c_fc.weight")}
    assert out_in == transposed | {"score.weight"}  # the head: torch's Linear [out, in], in memory as in files


def copy_fixture(tmp_path):
    target = tmp_path / "ckpt"
    shutil.copytree(HF_LM, target)
    return target


def test_truncated_weights_file_is_a_clear_error(tmp_path):
    target = copy_fixture(tmp_path)
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        GPTLMHeadModel.from_pretrained(target)


def test_garbage_weights_file_is_a_clear_error(tmp_path):
    target = copy_fixture(tmp_path)
    (target / "model.safetensors").write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        GPTLMHeadModel.from_pretrained(target)


def test_corrupt_ckpt_is_a_clear_error(tmp_path):
    GPTLMHeadModel(tiny()).save_pretrained(tmp_path, weights_format="ckpt")
    path = tmp_path / "mindspore_model.ckpt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        GPTLMHeadModel.from_pretrained(tmp_path)


def test_shape_mismatch_names_the_tensor(tmp_path):
    GPTForSequenceClassification(tiny(num_labels=3)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"'score.weight' has shape \(3, 64\).*num_labels"):
        GPTForSequenceClassification.from_pretrained(tmp_path, config=tiny(num_labels=2))
    with pytest.raises(ValueError, match=r"'tokens_embed.weight' has shape \(40, 64\).*resize_token_embeddings"):
        GPTLMHeadModel.from_pretrained(tmp_path, config=tiny(vocab_size=41))


def test_unknown_tensor_names_are_an_error(tmp_path):
    GPTLMHeadModel(tiny(n_layer=3)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"tensor 'h\.2\..*that no GPTLMHeadModel.*n_layer"):
        GPTLMHeadModel.from_pretrained(tmp_path, config=tiny(n_layer=2))


def test_missing_transformer_weight_is_an_error(tmp_path):
    GPTLMHeadModel(tiny(n_layer=2)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"lacks the transformer weight 'h.2.attn.c_attn.weight'"):
        GPTLMHeadModel.from_pretrained(tmp_path, config=tiny(n_layer=3))


def test_missing_directory_says_how_to_get_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="download"):
        GPTLMHeadModel.from_pretrained("openai-gpt")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        GPTLMHeadModel.from_pretrained(tmp_path)


def test_bad_weights_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="weights_format 'bin'"):
        GPTLMHeadModel(tiny()).save_pretrained(tmp_path, weights_format="bin")


def test_a_weights_file_path_works_too():
    model = GPTLMHeadModel.from_pretrained(os.path.join(HF_LM, "model.safetensors"))
    assert model.config.n_embd == 32


def test_a_width_mismatch_says_n_embd_not_vocabulary(tmp_path):
    from mindgpt.checkpoint import load_state, state_dict

    model = GPTLMHeadModel(tiny())
    state = state_dict(model)
    state["transformer.tokens_embed.weight"] = np.zeros((40, 65), np.float32)
    with pytest.raises(ValueError, match=r"'tokens_embed.weight' has shape \(40, 65\), the model expects \(40, 64\); "
                                         r"n_embd differs"):
        load_state(model, state)
    GPTLMHeadModel(tiny(n_embd=32)).save_pretrained(tmp_path, weights_format="ckpt")
    with pytest.raises(ValueError, match=r"\(40, 32\), the model expects \(40, 64\); n_embd differs"):
        GPTLMHeadModel.from_pretrained(tmp_path, config=tiny())


def test_a_path_to_the_config_file_loads_its_directory():
    model = GPTLMHeadModel.from_pretrained(os.path.join(HF_LM, "config.json"))
    assert model.config.n_embd == 32


def index_checkpoint(tmp_path, weight_map):
    """A sharded-layout copy of the HF fixture whose index has `weight_map`."""
    target = copy_fixture(tmp_path)
    os.rename(target / "model.safetensors", target / "model-00001-of-00001.safetensors")
    (target / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return target


def test_a_sharded_checkpoint_loads(tmp_path):
    from safetensors.numpy import load_file

    names = load_file(os.path.join(HF_LM, "model.safetensors"))
    target = index_checkpoint(tmp_path, {name: "model-00001-of-00001.safetensors" for name in names})
    np.testing.assert_array_equal(GPTLMHeadModel.from_pretrained(target)(tensor(IDS))[0].asnumpy(),
                                  GPTLMHeadModel.from_pretrained(HF_LM)(tensor(IDS))[0].asnumpy())


@pytest.mark.parametrize("weight_map,message", [
    ({"h.0.attn.c_attn.weight": "../../etc/passwd"}, r"names the shard '../../etc/passwd'; shards must be "
                                                     r".safetensors files beside the index"),
    ({"h.0.attn.c_attn.weight": "/etc/passwd.safetensors"}, "names the shard '/etc/passwd.safetensors'"),
    ({"h.0.attn.c_attn.weight": "model.safetensors.index.json"}, "names the shard 'model.safetensors.index.json'"),
    (None, r'model.safetensors.index.json has no "weight_map" object'),
])
def test_a_bad_weights_index_is_a_clear_error(tmp_path, weight_map, message):
    target = index_checkpoint(tmp_path, weight_map)
    with pytest.raises(ValueError, match=message):
        GPTLMHeadModel.from_pretrained(target)
