"""mindgpt.Trainer: the course's IMDB flow with Trainer/TrainingArguments/EvalPrediction, HF's checkpoint folders,
a SIGKILL and an exact resume, few compiled graphs for many lengths, and the arguments' checks."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import mindspore
import numpy as np
import pytest

from mindgpt import (EvalPrediction, OpenAIGPTDoubleHeadsModel, OpenAIGPTForSequenceClassification,
                     OpenAIGPTTokenizer, Trainer, TrainerCallback, TrainingArguments)
from mindgpt.checkpoint import weights_digest
from test_course_flow import CHECKPOINT, context_mode, process_dataset, reviews_dataset  # noqa: F401 (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def course_model_and_data():
    """The notebook's cells before its Trainer: tokenizer with <bos>/<eos>/<pad>, classifier, datasets."""
    tokenizer = OpenAIGPTTokenizer.from_pretrained(CHECKPOINT)
    tokenizer.add_special_tokens({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"})
    model = OpenAIGPTForSequenceClassification.from_pretrained(CHECKPOINT, num_labels=2)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.resize_token_embeddings(model.config.vocab_size + 3)
    train, test = reviews_dataset().split([0.5, 0.5], randomize=False)
    return model, tokenizer, process_dataset(train, tokenizer, shuffle=True), process_dataset(test, tokenizer)


def compute_metrics(eval_pred: EvalPrediction):
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def test_course_trainer_flow(context_mode, tmp_path):  # noqa: F811 (pytest fixture)
    mindspore.set_seed(0)
    model, tokenizer, dataset_train, dataset_val = course_model_and_data()
    training_args = TrainingArguments(str(tmp_path / "gpt"), per_device_train_batch_size=1, per_device_eval_batch_size=1,
                                      learning_rate=2e-3, num_train_epochs=2, logging_steps=2,
                                      evaluation_strategy="epoch", save_strategy="epoch", disable_tqdm=True)
    trainer = Trainer(model=model, train_dataset=dataset_train, eval_dataset=dataset_val,
                      compute_metrics=compute_metrics, args=training_args, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 10 and np.isfinite(result.training_loss) and result.metrics["epoch"] == 2.0
    assert result.metrics["train_graphs"] == 1, "batches of different lengths share one bucket's graph"
    metrics = trainer.evaluate()
    assert set(metrics) >= {"eval_loss", "eval_accuracy", "eval_runtime"} and 0 <= metrics["eval_accuracy"] <= 1
    predictions = trainer.predict(dataset_val)
    assert predictions.predictions.shape == (20, 2) and predictions.label_ids.shape == (20,)
    assert predictions.metrics["test_accuracy"] == metrics["eval_accuracy"]

    checkpoint = tmp_path / "gpt" / "checkpoint-5"
    assert {"config.json", "model.safetensors", "tokenizer.json", "train_state.ckpt", "state.json"} <= set(
        os.listdir(checkpoint))
    reloaded = OpenAIGPTForSequenceClassification.from_pretrained(checkpoint)
    assert reloaded.config.vocab_size == len(tokenizer)
    logged = [json.loads(line) for line in (tmp_path / "gpt" / "metrics.jsonl").read_text().splitlines()]
    assert sum("eval_accuracy" in r for r in logged) == 2 and any("loss" in r for r in logged)
    assert (tmp_path / "gpt" / "loss.png").is_file()
    trainer.save_model(tmp_path / "final")
    assert OpenAIGPTTokenizer.from_pretrained(tmp_path / "final").pad_token == "<pad>"


def test_save_total_limit_keeps_the_best_and_load_best_model_at_end(tmp_path):
    model, _, dataset_train, dataset_val = course_model_and_data()
    seen = []

    class Record(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics, **kwargs):
            seen.append((state.global_step, metrics["eval_loss"], weights_digest(kwargs["model"])))

    args = TrainingArguments(str(tmp_path), learning_rate=3e-2, num_train_epochs=3, eval_strategy="epoch",
                             save_strategy="epoch", save_total_limit=1, load_best_model_at_end=True,
                             disable_tqdm=True)
    trainer = Trainer(model, args, train_dataset=dataset_train, eval_dataset=dataset_val, callbacks=[Record])
    trainer.train()
    best_step, _, best_digest = min(seen, key=lambda s: s[1])
    kept = sorted(p for p in os.listdir(tmp_path) if p.startswith("checkpoint-"))
    assert kept == sorted({f"checkpoint-{best_step}", "checkpoint-15"})
    assert trainer.state.best_model_checkpoint.endswith(f"checkpoint-{best_step}")
    assert weights_digest(model) == best_digest


def test_a_callback_can_stop_training(tmp_path):
    model, _, dataset_train, _ = course_model_and_data()

    class StopAtThree(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 3

    args = TrainingArguments(str(tmp_path), save_strategy="no", disable_tqdm=True)
    assert Trainer(model, args, train_dataset=dataset_train, callbacks=[StopAtThree()]).train().global_step == 3


def test_records_of_many_lengths_compile_one_graph_per_bucket(tmp_path):
    mindspore.set_seed(0)
    model, tokenizer, _, _ = course_model_and_data()
    rng = np.random.default_rng(0)
    records = [{"input_ids": rng.integers(0, 500, n).tolist(), "labels": int(n % 2)} for n in range(3, 43)]
    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=4, num_train_epochs=1, save_strategy="no",
                             disable_tqdm=True, length_buckets=[16, 32, 64])
    result = Trainer(model, args, train_dataset=records).train()
    assert result.global_step == 10 and 1 <= result.metrics["train_graphs"] <= 3, "10 lengths, 3 buckets"


def test_evaluation_runs_a_compiled_step_that_agrees_with_the_model_and_follows_config_changes(
        context_mode, tmp_path):  # noqa: F811 (pytest fixture)
    """In PyNative too (where a model call runs op by op) evaluation goes through one compiled step (`make_predict_step`):
    its logits are the model's own on each record alone, and a config change reaches it."""
    model = OpenAIGPTForSequenceClassification.from_pretrained(CHECKPOINT, num_labels=2)
    rng = np.random.default_rng(2)
    records = [{"input_ids": rng.integers(0, 500, n).tolist(), "attention_mask": [1] * n, "labels": n % 2}
               for n in (5, 9, 12, 7)]
    trainer = Trainer(model, TrainingArguments(str(tmp_path), per_device_eval_batch_size=2, disable_tqdm=True),
                      eval_dataset=records)
    predictions = trainer.predict(records).predictions
    alone = [model(mindspore.Tensor([r["input_ids"]], mindspore.int32)).logits.asnumpy()[0] for r in records]
    np.testing.assert_allclose(predictions, alone, rtol=1e-5, atol=1e-5)
    first = trainer.predictor
    task_only = trainer.evaluate()["eval_loss"]
    model.config.lm_coef = 0.5
    assert trainer.evaluate()["eval_loss"] > task_only and trainer.predictor is not first  # L3 = L2 + 0.5 L1


def test_double_heads_train_on_choices_with_the_auxiliary_lm(tmp_path):
    model = OpenAIGPTDoubleHeadsModel.from_pretrained(CHECKPOINT, lm_coef=0.5)
    rng = np.random.default_rng(1)
    records = [{"input_ids": rng.integers(0, 500, (3, 9)).tolist(), "attention_mask": np.ones((3, 9), int).tolist(),
                "labels": i % 3} for i in range(8)]

    def collate(rows):
        return {k: np.array([r[k] for r in rows]) for k in rows[0]}

    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=4, per_device_eval_batch_size=4,
                             num_train_epochs=2, learning_rate=1e-2, save_strategy="no", disable_tqdm=True)
    trainer = Trainer(model, args, train_dataset=records, eval_dataset=records, data_collator=collate,
                      compute_metrics=compute_metrics)
    assert np.isfinite(trainer.train().training_loss)
    metrics = trainer.evaluate()
    assert "eval_accuracy" in metrics and np.isfinite(metrics["eval_loss"])


def test_an_output_dir_holds_one_run_and_resume_survives_a_damaged_checkpoint(tmp_path, caplog):
    model, _, dataset_train, _ = course_model_and_data()

    def trainer(**kwargs):
        args = TrainingArguments(str(tmp_path), num_train_epochs=1, save_steps=2, disable_tqdm=True, **kwargs)
        return Trainer(model, args, train_dataset=dataset_train)

    assert trainer().train().global_step == 5
    with pytest.raises(FileExistsError, match=r"holds another run \(checkpoints up to checkpoint-4, metrics.jsonl\): "
                                              r"continue it with resume_from_checkpoint=True \(finetune: "
                                              r"resume=true\), replace it with overwrite_output_dir=True"):
        trainer().train()
    with pytest.raises(ValueError, match=r"exclude each other"):
        trainer(overwrite_output_dir=True).train(resume_from_checkpoint=True)
    with pytest.raises(ValueError, match=r"checkpoint-4 was written by a run with other settings \(learning_rate: "
                                         r"5e-05 in the checkpoint, 0.001 now\)"):
        trainer(learning_rate=1e-3).train(resume_from_checkpoint=True)

    weights = tmp_path / "checkpoint-4" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # a flipped bit in the newest checkpoint's weights
    weights.write_bytes(bytes(data))
    caplog.clear()
    resumed = trainer().train(resume_from_checkpoint=True)
    assert resumed.global_step == 5 and resumed.metrics["train_steps_per_second"] > 0
    (warning,) = [r.getMessage() for r in caplog.records if "checkpoint" in r.getMessage()]
    assert "checkpoint-4 (model.safetensors does not match its sha256" in warning
    assert warning.endswith("resuming from checkpoint-2")


@pytest.mark.parametrize("kwargs,message", [
    (dict(eval_strategy="sometimes"), "eval_strategy='sometimes'"),
    (dict(lr_scheduler_type="polynomial"), "lr_scheduler_type='polynomial'"),
    (dict(load_best_model_at_end=True, eval_strategy="epoch", save_strategy="steps"), "to match"),
    (dict(per_device_train_batch_size=0), "per_device_train_batch_size"),
    (dict(fp16=True, bf16=True), "not both"),
])
def test_training_arguments_refuse_what_cannot_work(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingArguments("out", **kwargs)


def test_old_name_of_eval_strategy_and_best_metric_defaults():
    args = TrainingArguments("out", evaluation_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True)
    assert args.eval_strategy == "epoch" and args.metric_for_best_model == "loss" and args.greater_is_better is False
    assert TrainingArguments("out", metric_for_best_model="eval_accuracy").greater_is_better is True


JOB = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import mindspore
    import numpy
    mindspore.set_context(mode=mindspore.GRAPH_MODE, device_target="CPU")
    from mindgpt import Trainer, TrainerCallback, TrainingArguments
    from mindgpt.checkpoint import weights_digest
    from test_trainer import course_model_and_data

    out, kill_at = sys.argv[1], int(sys.argv[2])
    numpy.random.seed(0)  # the resized embedding rows
    mindspore.set_seed(0)  # the new classifier's weights
    model, tokenizer, train, _ = course_model_and_data()

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    args = TrainingArguments(out, learning_rate=1e-2, num_train_epochs=2, save_strategy="steps", save_steps=3,
                             logging_steps=1, disable_tqdm=True)
    trainer = Trainer(model, args, train_dataset=train, callbacks=[Kill()])
    trainer.train(resume_from_checkpoint=kill_at < 0 and os.path.isdir(out) and any(
        p.startswith("checkpoint-") for p in os.listdir(out)))
    print("digest", weights_digest(model))
""")


def run_job(script, out, kill_at):
    return subprocess.run([sys.executable, str(script), str(out), str(kill_at)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "GLOG_v": "3"})


def test_a_killed_trainer_resumes_to_the_unbroken_runs_weights(tmp_path):
    """Dropout is on (the checkpoint's 0.1) and the course's pipeline shuffles: both must replay exactly."""
    script = tmp_path / "job.py"
    script.write_text(JOB.format(tests=os.path.join(ROOT, "tests")))
    unbroken = run_job(script, tmp_path / "unbroken", -1)
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]
    killed = run_job(script, tmp_path / "killed", 8)
    assert killed.returncode == -signal.SIGKILL
    assert sorted(p for p in os.listdir(tmp_path / "killed") if p.startswith("checkpoint-")) == [
        "checkpoint-3", "checkpoint-6"]
    resumed = run_job(script, tmp_path / "killed", -1)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    digest = [line.split()[-1] for line in unbroken.stdout.splitlines() if line.startswith("digest")]
    assert digest and digest == [line.split()[-1] for line in resumed.stdout.splitlines() if line.startswith("digest")]


def test_save_model_on_a_full_disk_is_one_clear_error(tmp_path, monkeypatch):
    import errno

    from mindgpt.train.run import DiskFull

    model, tokenizer, _, _ = course_model_and_data()

    def no_space(directory, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))

    monkeypatch.setattr(model, "save_pretrained", no_space)
    with pytest.raises(DiskFull, match="no space left on the disk holding .* one checkpoint needs about"):
        Trainer(model, TrainingArguments(str(tmp_path)), processing_class=tokenizer).save_model(tmp_path / "best")
