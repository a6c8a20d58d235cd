"""Fine-tuning end to end on small slices of the real datasets: every task type trains, evaluates and writes
its metrics; the HF-directory path adds the special tokens; the scripts and the evaluate command agree."""
import dataclasses
import json
import os
import subprocess
import sys

import mindspore
import numpy as np
import pytest

from mindgpt import GPTForSequenceClassification
from mindgpt.config import GPTConfig
from mindgpt.data.datasets import load_labelled
from mindgpt.model import GPTLMHeadModel
from mindgpt.tokenizer import GPTTokenizer, pretrained_tokenizer
from mindgpt.train import finetune as ft
from mindgpt.train import trainer as trainer_module
from mindgpt.train.settings import FinetuneSettings, load_settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "data_cache")  # the download cache real runs use; fetched once
SMALL = dict(data_dir=DATA_DIR, max_train_examples=48, max_eval_examples=24, batch_size=16, eval_batch_size=16,
             max_length=32, buckets=[32], epochs=1, warmup_fraction=0.1, lr=1e-3, metric=None)
# the MR config's recipe (its model fields: λ = 0.5, classifier dropout 0.1), shrunk by SMALL
RECIPE, RECIPE_MODEL = load_settings(os.path.join(ROOT, "configs", "finetune_mr.yaml"), settings_class=FinetuneSettings)


def mr_settings(**changes) -> FinetuneSettings:
    return dataclasses.replace(RECIPE, **{**SMALL, **changes})


def save_backbone(directory, tokenizer, **config):
    """A tiny untrained GPTLMHeadModel with `tokenizer`, saved as a pretraining run saves it."""
    config = GPTConfig.from_preset("2x64", vocab_size=len(tokenizer), n_positions=64, **config)
    mindspore.set_seed(1234)  # not fine-tuning's seed: a model built "from scratch" must differ from it
    GPTLMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def texts():
    return [r["text"] for r in load_labelled("mr", DATA_DIR).splits["train"][:2000]]


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory, texts):
    """A mindgpt pretraining output: the tokenizer has [BOS] [SEP] [EOS] [PAD]."""
    tokenizer = GPTTokenizer.train(texts, vocab_size=512)
    return save_backbone(tmp_path_factory.mktemp("pretrained"), tokenizer, **tokenizer.special_token_ids())


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory, texts):
    """Like HF's openai-gpt: vocab.json + merges.txt without the fine-tuning tokens, no ids in config.json."""
    directory = tmp_path_factory.mktemp("hf")
    save_backbone(directory, GPTTokenizer.train(texts, vocab_size=500, special_tokens={}))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        os.remove(directory / name)
    return str(directory)


@pytest.fixture
def run(monkeypatch, tmp_path):
    """finetune() in this process (the host thread keeps its priority: pytest goes on after it)."""
    monkeypatch.setattr(trainer_module, "yield_host_thread", lambda: None)

    def finetune(model=None, **settings):
        return ft.finetune(mr_settings(output_dir=str(tmp_path / "out"), **settings), {**RECIPE_MODEL, **(model or {})}
                           ), tmp_path / "out"
    return finetune


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_classification_through_the_scripts(pretrained, tmp_path):
    out = tmp_path / "mr"
    overrides = [f"{k}={json.dumps(v)}" for k, v in {**SMALL, "epochs": 2}.items()]
    env = {**os.environ, "PYTHON": sys.executable, "GLOG_v": "3"}
    result = subprocess.run(["bash", "scripts/run_finetune.sh", "configs/finetune_mr.yaml", f"pretrained={pretrained}",
                             f"output_dir={out}", *overrides], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "f1", "mcc"} and metrics["lm_coef"] == 0.5
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and metrics["best_epoch"] in (1, 2)
    assert metrics["epochs"][0]["train_loss"] > 2.0, "L3 includes 0.5·L1 (about 0.5·ln 512) beside L2"
    predictions = read_jsonl(out / "test_predictions.jsonl")
    assert len(predictions) == 24 and {p["prediction"] for p in predictions} <= {"rotten", "fresh"}
    logged = read_jsonl(out / "metrics.jsonl")
    assert sum("eval_accuracy" in r for r in logged) == 2
    model = GPTForSequenceClassification.from_pretrained(out / "best")
    assert model.config.id2label == {0: "rotten", 1: "fresh"}

    eval_args = ["max_eval_examples=24", "eval_batch_size=16", "max_length=32", "buckets=[32]", f"data_dir={DATA_DIR}"]
    result = subprocess.run(["bash", "scripts/run_eval.sh", str(out), "configs/finetune_mr.yaml", *eval_args], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    again = json.loads((out / "evaluation" / "metrics.json").read_text())
    assert again["test"] == pytest.approx(metrics["test"]), "the kept best model scores as it did in training"


def test_similarity_from_an_hf_directory(run, hf_dir):
    summary, out = run(pretrained=hf_dir, dataset="lee", model={"lm_coef": 0.0})
    assert set(summary["test"]) == {"pearson", "spearman", "mse"} and summary["label_type"] == "regression"
    assert summary["epochs"][0]["train_loss"] < 1.0, "λ = 0: the regression loss alone"
    config = json.loads((out / "best" / "config.json").read_text())
    tokenizer = GPTTokenizer.from_pretrained(out / "best")
    assert config["vocab_size"] == len(tokenizer) == 504 and len(config["id2label"]) == 1
    assert config["eos_token_id"] == tokenizer.eos_token_id == tokenizer.backend.token_to_id("[EOS]")
    assert all(isinstance(p["prediction"], float) for p in read_jsonl(out / "test_predictions.jsonl"))


def test_multiple_choice(run, pretrained):
    summary, out = run(pretrained=pretrained, dataset="shakespeare_next_line", n_choices=3)
    assert set(summary["test"]) == {"accuracy"} and summary["task"] == summary["label_type"] == "multiple_choice"
    assert json.loads((out / "best" / "config.json").read_text())["architectures"] == ["OpenAIGPTDoubleHeadsModel"]
    assert {p["prediction"] for p in read_jsonl(out / "test_predictions.jsonl")} <= {0, 1, 2}


def test_entailment_on_a_users_csv(run, pretrained, tmp_path):
    words = ("good", "bad", "long", "short", "dull", "fun", "odd", "new")
    rows = [f"the film is {w},the film is {v},{'same' if w == v else 'different'}" for w in words for v in words[:4]]
    (tmp_path / "pairs.csv").write_text("text,text_pair,label\n" + "\n".join(rows) + "\n")
    summary, out = run(pretrained=pretrained, dataset="custom", data_path=str(tmp_path / "pairs.csv"),
                       data_dir=str(tmp_path / "data"), batch_size=8, max_eval_examples=0)
    assert (summary["task"], summary["label_type"]) == ("entailment", "classification")
    assert summary["sizes"] == {"validation": 3, "test": 3}
    assert json.loads((out / "best" / "config.json").read_text())["id2label"] == {"0": "different", "1": "same"}


def test_hf_directory_gets_the_special_tokens_and_keeps_its_rows(hf_dir):
    data = ft.load_data(mr_settings())
    model, tokenizer = ft.build_task_model(mr_settings(pretrained=hf_dir), data, RECIPE_MODEL)
    assert len(tokenizer) == 504 and model.config.vocab_size == 504
    assert model.config.classifier_token_id == tokenizer.eos_token_id == 502
    original = GPTLMHeadModel.from_pretrained(hf_dir).transformer.tokens_embed.weight.asnumpy()
    table = model.transformer.tokens_embed.weight.asnumpy()
    np.testing.assert_array_equal(table[:500], original)


def test_from_scratch_keeps_shapes_not_weights(pretrained):
    data = ft.load_data(mr_settings())
    loaded, _ = ft.build_task_model(mr_settings(pretrained=pretrained), data, RECIPE_MODEL)
    scratch, _ = ft.build_task_model(mr_settings(pretrained=pretrained, from_scratch=True), data, RECIPE_MODEL)
    a, b = (m.transformer.h[0].attn.c_attn.weight.asnumpy() for m in (loaded, scratch))
    assert a.shape == b.shape and not np.allclose(a, b)
    assert (loaded.config.lm_coef, loaded.config.classifier_dropout, loaded.config.num_labels) == (0.5, 0.1, 2)


def test_batches_pad_to_the_bucket_lengths(pretrained):
    settings = mr_settings(buckets=[16, 32], batch_size=4)
    data = ft.load_data(settings)
    collate = ft.collator(pretrained_tokenizer(pretrained), data, settings)
    records = data.splits["train"][:10]
    widths = {collate(records[i:i + 4])["input_ids"].shape[1] for i in range(0, 10, 4)}
    assert widths <= {16, 32}


def test_settings_errors_name_the_fix(pretrained):
    data = ft.load_data(mr_settings())
    with pytest.raises(ValueError, match="set pretrained=<dir>"):
        ft.build_task_model(mr_settings(), data, {})
    with pytest.raises(ValueError, match="max_length=100 exceeds the model's n_positions=64"):
        ft.build_task_model(mr_settings(max_length=100, buckets=None, pretrained=pretrained), data, {})
    with pytest.raises(ValueError, match="metric='pearson' cannot pick the best epoch of a classification"):
        ft.selection_metric(mr_settings(metric="pearson"), data)
    with pytest.raises(ValueError, match="task='similarity' does not fit dataset 'mr'"):
        ft.load_data(mr_settings(task="similarity"))
    with pytest.raises(ValueError, match="buckets=\\[16\\] must include a length >= max_length=32"):
        ft.buckets_for(mr_settings(buckets=[16]))
    with pytest.raises(ValueError, match="problem_type='multi_label_classification' cannot be fine-tuned here"):
        ft.load_data(mr_settings(), "multi_label_classification")


def test_overwrite_reaches_the_trainer():
    settings, _ = load_settings(os.path.join(ROOT, "configs", "finetune_mr.yaml"), ["overwrite=true"],
                                settings_class=FinetuneSettings)
    assert ft.training_arguments(settings, "accuracy").overwrite_output_dir is True
    assert ft.training_arguments(RECIPE, "accuracy").overwrite_output_dir is False


def test_two_msrun_workers_match_one_process_on_the_combined_batch(pretrained, tmp_path):
    """Each rank trains on its half of every batch; dropout off, whose masks depend on a row's place in its batch,
    and λ = 0: the auxiliary LM loss is a mean over each rank's tokens, and the halves hold different numbers.

    Adam's first updates are ±lr wherever a gradient is about 0, and there the two orders of summing (two
    half-batch means averaged, or one mean) differ in their last bits: such weights may differ by ~2·lr, so the
    two models are compared by what they compute, which those directions do not move."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = {**SMALL, "max_train_examples": 32, "lr": 6.25e-5, "lm_coef": 0.0, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
                "classifier_dropout": 0.0, "pretrained": pretrained}
    overrides = [f"{k}={json.dumps(v)}" for k, v in settings.items()]
    env = {**os.environ, "DEVICE_TARGET": "CPU", "PYTHON": sys.executable, "LOG_DIR": str(tmp_path / "logs"),
           "MASTER_PORT": str(port), "GLOG_v": "3"}
    result = subprocess.run(["bash", "scripts/run_distributed_finetune.sh", "2", "configs/finetune_mr.yaml",
                             f"output_dir={tmp_path / 'dp'}", *overrides], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    logs = {r: (tmp_path / "logs" / f"worker_{r}.log").read_text() for r in (0, 1)}
    assert result.returncode == 0, result.stdout[-2000:] + logs[0][-2000:] + logs[1][-2000:]
    digests = [line.split()[-1] for r in (0, 1) for line in logs[r].splitlines() if f"rank {r}: weights" in line]
    assert len(digests) == 2 and digests[0] == digests[1]

    single = subprocess.run([sys.executable, "-m", "mindgpt", "finetune", "--config", "configs/finetune_mr.yaml",
                             f"output_dir={tmp_path / 'single'}", *overrides], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    ids = ft.collator(GPTTokenizer.from_pretrained(tmp_path / "dp" / "best"), ft.load_data(mr_settings()),
                      mr_settings())(load_labelled("mr", DATA_DIR).splits["test"][:16])
    logits = [GPTForSequenceClassification.from_pretrained(tmp_path / run / "best")(
        mindspore.Tensor(ids["input_ids"]), mindspore.Tensor(ids["attention_mask"])).logits.asnumpy()
        for run in ("single", "dp")]
    np.testing.assert_allclose(logits[1], logits[0], atol=1e-5)
