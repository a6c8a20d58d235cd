"""MINDIR export: the file, loaded with mindspore.load + nn.GraphCell, reproduces the model's logits."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from conftest import tensor
from mindgpt import GPTConfig, GPTForSequenceClassification, GPTLMHeadModel
from mindgpt.export import export, load_for_export

EOS = 3


def config():
    return GPTConfig(vocab_size=50, n_positions=20, n_embd=32, n_layer=2, n_head=4, num_labels=3, cls_token_id=EOS,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, summary_first_dropout=0.0)


def inputs(rng, b, t):
    ids = rng.integers(4, 50, (b, t))
    mask = np.ones((b, t), np.int32)
    ids[0, t - 3], mask[0, t - 2:] = EOS, 0  # row 0 right-padded after its [EOS]
    return tensor(ids), tensor(mask)


@pytest.mark.parametrize("cls", [GPTLMHeadModel, GPTForSequenceClassification])
def test_mindir_round_trip_matches_for_every_shape(tmp_path, cls):
    model = cls(config())
    path = export(model, tmp_path / "model")
    assert path == str(tmp_path / "model.mindir")
    graph = nn.GraphCell(ms.load(path))
    rng = np.random.default_rng(0)
    for b, t in [(2, 7), (3, 20)]:  # batch and length are dynamic
        ids, mask = inputs(rng, b, t)
        np.testing.assert_allclose(graph(ids, mask).asnumpy(), model(ids, mask)[0].asnumpy(), atol=1e-5)


def test_fixed_shape_export_and_bad_options(tmp_path):
    model = GPTLMHeadModel(config())
    graph = nn.GraphCell(ms.load(export(model, tmp_path / "fixed.mindir", batch_size=2, seq_len=7)))
    ids, mask = inputs(np.random.default_rng(1), 2, 7)
    np.testing.assert_allclose(graph(ids, mask).asnumpy(), model(ids, mask)[0].asnumpy(), atol=1e-5)
    with pytest.raises(ValueError, match=r"seq_len=21 must be in \[1, n_positions=20\]"):
        export(model, tmp_path / "x", seq_len=21)
    with pytest.raises(ValueError, match="format 'ONNX' is not supported"):
        export(model, tmp_path / "x", file_format="ONNX")


def test_a_head_the_checkpoint_lacks_is_refused_unless_allowed(tmp_path):
    GPTLMHeadModel(config()).save_pretrained(tmp_path / "lm")
    with pytest.raises(ValueError, match=r"has no trained classifier head \(it lacks score.weight\).*--allow-new-head"):
        load_for_export(tmp_path / "lm", "classifier")
    assert isinstance(load_for_export(tmp_path / "lm", "classifier", allow_new_head=True),
                      GPTForSequenceClassification)
    assert type(load_for_export(tmp_path / "lm")) is GPTLMHeadModel
    GPTForSequenceClassification(config()).save_pretrained(tmp_path / "cls")
    assert isinstance(load_for_export(tmp_path / "cls"), GPTForSequenceClassification)  # the class it was saved as
