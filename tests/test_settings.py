"""Run settings are checked when they load, before any data or model work: each value against its dataclass
annotation and range, model fields by GPTConfig, the file itself for being a YAML mapping."""
import glob
import os

import pytest

from mindgpt.train.settings import FinetuneSettings, PretrainSettings, load_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "pretrain_tiny.yaml")
MR = os.path.join(ROOT, "configs", "finetune_mr.yaml")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))))
def test_every_shipped_config_passes_the_checks(path):
    settings_class = FinetuneSettings if os.path.basename(path).startswith("finetune") else PretrainSettings
    assert isinstance(load_settings(path, settings_class=settings_class)[0], settings_class)


@pytest.mark.parametrize("override,message", [
    ("max_steps=abc", "setting max_steps must be an integer, got 'abc'"),
    ("max_steps=2.5", "setting max_steps must be an integer, got 2.5"),
    ("batch_size=0", "setting batch_size must be >= 1, got 0"),
    ("save_every=0", "setting save_every must be >= 1, got 0"),
    ("eval_every=0", "setting eval_every must be >= 1, got 0"),
    ("log_every=-1", "setting log_every must be >= 1, got -1"),
    ("resume=maybe", "setting resume must be true or false, got 'maybe'"),
    ("resume=1", "setting resume must be true or false, got 1"),
    ("lr=.nan", "setting lr must be a finite number, got nan"),
    ("lr=0", "setting lr must be > 0, got 0"),
    ("val_fraction=1", r"setting val_fraction must be in \(0, 1\), got 1"),
    ("precision=fp64", "setting precision='fp64' is not one of auto, fp32, fp16, bf16; did you mean 'fp16'"),
    ("model=huge", "setting model='huge' is not one of gpt1, 6x384, 4x256, 2x64"),
    ("vocab_size=4096", "setting 'vocab_size' is not a PretrainSettings field: the BPE vocabulary's size is "
                        "bpe_vocab_size"),
    ("eos_token_id=3", "unknown setting 'eos_token_id'"),  # the tokenizer names its special ids
    ("output_dir=2024", "setting output_dir must be a string, got 2024; quote it to keep it text: output_dir: '2024'"),
    ("tokenizer=[a]", r"setting tokenizer must be a string or null, got \['a'\]"),
    ("layer_norm_epsilon=small", "GPTConfig.layer_norm_epsilon must be a finite number > 0"),
    ("initializer_range=-1", "GPTConfig.initializer_range .* must be a finite number >= 0"),
    ("n_layer=two", "GPTConfig.n_layer must be a positive integer, got 'two'"),
])
def test_bad_pretrain_settings_are_refused_at_load(override, message):
    with pytest.raises(ValueError, match=message):
        load_settings(TINY, [override])


@pytest.mark.parametrize("override,message", [
    ("epochs=abc", "setting epochs must be an integer, got 'abc'"),
    ("epochs=0", "setting epochs must be >= 1, got 0"),
    ("lm_coef=.nan", r"GPTConfig.lm_coef \(λ in L3 = L2 \+ λ·L1\) must be a finite number >= 0, got nan"),
    ("kind=regression", "setting 'kind' is not a FinetuneSettings field: a classifier's loss is the model field "
                        "problem_type"),
    ("summary_type=mean", "GPTConfig.summary_type='mean' is not supported; use summary_type='cls_index'"),
    ("from_scratch=yes please", "setting from_scratch must be true or false"),
    ("buckets=[32, 0]", r"setting buckets must be a list of positive integers or null, got \[32, 0\]"),
    ("warmup_fraction=2", r"setting warmup_fraction must be in \[0, 1\], got 2"),
])
def test_bad_finetune_settings_are_refused_at_load(override, message):
    with pytest.raises(ValueError, match=message):
        load_settings(MR, [override], settings_class=FinetuneSettings)


def test_good_values_load_with_their_types():
    settings, model = load_settings(TINY, ["resume=true", "lr=1e-3", "lr_decay=linear", "grad_clip=0",
                                           "tokenizer=null", "resid_pdrop=0.1"])
    assert (settings.resume, settings.lr, settings.lr_decay, settings.grad_clip) == (True, 1e-3, "linear", 0)
    assert settings.tokenizer is None and model["resid_pdrop"] == 0.1
    settings, _ = load_settings(MR, ["buckets=[32, 64, 128]", "lr=1"], settings_class=FinetuneSettings)  # an int for a float
    assert settings.buckets == [32, 64, 128] and settings.lr == 1


def test_a_settings_file_that_is_no_mapping_or_no_yaml_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("- max_steps: 3\n")
    with pytest.raises(ValueError, match=r"run.yaml holds a YAML list, not a mapping of setting: value"):
        load_settings(str(path))
    path.write_text("max_steps: [3\n")
    with pytest.raises(ValueError, match=r"run.yaml is not valid YAML"):
        load_settings(str(path))
    with pytest.raises(ValueError, match=r"override 'corpus=\[a': the value is not valid YAML \(expected .* at "
                                         r"line 1, column 3\)"):
        load_settings(TINY, ["corpus=[a"])


def test_a_run_yaml_names_every_setting_and_a_shipped_config_is_found_by_name(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: 2x64\ncorpus: shakespeare\n")
    with pytest.raises(ValueError, match=r"run.yaml lack\(s\) bpe_vocab_size, val_fraction, .*: a run's YAML names "
                                         r"every setting \(copy them from the shipped configs/pretrain_small.yaml\)"):
        load_settings(str(path))
    by_name, _ = load_settings("pretrain_tiny.yaml")
    assert by_name == load_settings(TINY)[0]
    with pytest.raises(FileNotFoundError, match=r"config file 'pretrain_huge.yaml' does not exist; mindgpt ships "
                                                r".*pretrain_tiny.yaml"):
        load_settings("pretrain_huge.yaml")


def test_the_model_fields_of_a_run_are_gptconfigs_own():
    _, model = load_settings(MR, ["hidden_size=128", "problem_type=regression"], settings_class=FinetuneSettings)
    assert model == {"lm_coef": 0.5, "classifier_dropout": 0.1, "hidden_size": 128, "problem_type": "regression"}
