"""Resume checkpoints: what load_train_state refuses, and how it says so."""
import pytest

from mindgpt import GPTConfig, GPTLMHeadModel
from mindgpt.train.optim import build_optimizer
from mindgpt.train.run import checkpoints, load_train_state, save_train_state


def model_and_optimizer(**overrides):
    model = GPTLMHeadModel(GPTConfig.from_preset("tiny", **{"vocab_size": 40, "n_positions": 16, **overrides}))
    return model, build_optimizer(model, 1e-3)


def test_a_checkpoint_of_another_shape_is_a_clear_error(tmp_path):
    save_train_state(tmp_path, 3, *model_and_optimizer(), extra={"loss": 1.0}, keep=2)
    (saved,) = checkpoints(tmp_path)
    assert load_train_state(saved, *model_and_optimizer())["step"] == 3
    with pytest.raises(ValueError, match=r"positions_embed.weight' as \(16, 64\), the model as \(32, 64\)"):
        load_train_state(saved, *model_and_optimizer(n_positions=32))
