"""Resume checkpoints and output folders: what a run refuses, what damage it survives, and how it says so."""
import errno
import json
import logging
import subprocess
import sys
import textwrap

import pytest
from safetensors import SafetensorError

from mindgpt import GPTConfig, GPTLMHeadModel
from mindgpt.cli import FORESEEABLE, describe
from mindgpt.train import run
from mindgpt.train.optim import build_optimizer
from mindgpt.train.pretrain import LAYOUT
from mindgpt.train.run import (DiskFull, MetricsLog, OutputDirInUse, checkpoints, claim_output_dir,
                               disk_full_reported, load_train_state, resume_train_state, save_train_state)
from mindgpt.train.trainer import LAYOUT as TRAINER_LAYOUT

RUN = {"model": {"n_layer": 2, "n_embd": 64}, "lr": 1e-3}


def model_and_optimizer(**overrides):
    model = GPTLMHeadModel(GPTConfig.from_preset("2x64", **{"vocab_size": 40, "n_positions": 16, **overrides}))
    return model, build_optimizer(model, 1e-3)


def save(out, step, model_optimizer, keep=None):
    """A pretraining checkpoint of `RUN` in output folder `out`."""
    return save_train_state(out / LAYOUT.checkpoints, step, *model_optimizer, extra={"loss": 1.0, "run": RUN},
                            keep=keep)


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_checkpoint_of_another_shape_is_a_clear_error(tmp_path):
    save_train_state(tmp_path, 3, *model_and_optimizer(), extra={"loss": 1.0}, keep=2)
    (saved,) = checkpoints(tmp_path)
    assert load_train_state(saved, *model_and_optimizer())["step"] == 3
    with pytest.raises(ValueError, match=r"positions_embed.weight' as \(16, 64\), the model as \(32, 64\)"):
        load_train_state(saved, *model_and_optimizer(n_positions=32))


HOLDER = textwrap.dedent("""
    import sys, time
    from mindgpt.train.pretrain import LAYOUT
    from mindgpt.train.run import claim_output_dir
    with claim_output_dir(sys.argv[1], LAYOUT, resume=False, overwrite=False, writer=True):
        print("holding", flush=True)
        time.sleep(600)
""")


def test_a_folder_in_use_is_refused_and_a_killed_holder_leaves_no_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        with pytest.raises(OutputDirInUse, match=rf"{tmp_path} is in use by another run \(process {holder.pid} on "):
            with claim_output_dir(tmp_path, LAYOUT, resume=False, overwrite=False, writer=True):
                pass
    finally:
        holder.kill()  # SIGKILL: the process cannot release anything itself
        holder.wait()
    with claim_output_dir(tmp_path, LAYOUT, resume=False, overwrite=False, writer=True):
        with pytest.raises(OutputDirInUse):  # held within one process too
            with claim_output_dir(tmp_path, LAYOUT, resume=True, overwrite=False, writer=True):
                pass
    with claim_output_dir(tmp_path, LAYOUT, resume=False, overwrite=False, writer=False):
        pass  # a rank that does not write takes no lock


def test_a_folder_holding_another_run_needs_resume_or_overwrite(tmp_path):
    save(tmp_path, 4, model_and_optimizer())
    (tmp_path / "metrics.jsonl").write_text('{"step": 4}\n')
    (tmp_path / "final").mkdir()
    (tmp_path / "notes.txt").write_text("the user's")

    def claim(resume=False, overwrite=False):
        with claim_output_dir(tmp_path, LAYOUT, resume=resume, overwrite=overwrite, writer=True):
            pass

    with pytest.raises(FileExistsError, match=r"holds another run \(checkpoints up to step_00000004, metrics.jsonl\)"
                                              ": continue it with resume=true, replace it with overwrite=true"):
        claim()
    claim(resume=True)
    assert checkpoints(tmp_path / "checkpoints") and (tmp_path / "metrics.jsonl").is_file()
    with pytest.raises(ValueError, match="resume=true and overwrite=true exclude each other"):
        claim(resume=True, overwrite=True)
    claim(overwrite=True)
    assert not checkpoints(tmp_path / "checkpoints")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "checkpoints", "notes.txt"]
    claim()  # nothing of a run left: a new one may start


@pytest.mark.parametrize("layout,stale", [(LAYOUT, "checkpoints/.step_00000008.tmp-4242"),
                                          (TRAINER_LAYOUT, ".checkpoint-8.tmp-4242")])
def test_half_written_checkpoints_are_removed_at_start(tmp_path, layout, stale):
    (tmp_path / stale).mkdir(parents=True)
    (tmp_path / stale / "train_state.ckpt").write_bytes(b"\0" * 1000)
    with claim_output_dir(tmp_path, layout, resume=True, overwrite=False, writer=True):
        assert not (tmp_path / stale).exists()


def test_resume_falls_back_past_a_damaged_checkpoint_and_says_so(tmp_path, caplog):
    pair = model_and_optimizer()
    save(tmp_path, 3, pair)
    newest = save(tmp_path, 6, pair)
    flip_a_byte(newest / "train_state.ckpt")
    with caplog.at_level(logging.WARNING, logger="mindgpt"):
        assert resume_train_state(tmp_path, LAYOUT, *pair, RUN, max_steps=10)["step"] == 3
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "step_00000006 (train_state.ckpt does not match its sha256 in state.json)" in warning
    assert warning.endswith("resuming from step_00000003")
    with pytest.raises(ValueError, match=r"checkpoint .*step_00000006 is damaged: train_state.ckpt does not match"):
        resume_train_state(tmp_path, LAYOUT, *pair, RUN, max_steps=10, checkpoint=newest)

    state = tmp_path / "checkpoints" / "step_00000003" / "state.json"
    state.write_text(state.read_text()[:40])  # cut short
    with pytest.raises(ValueError, match=r"no intact checkpoint in .*checkpoints to resume from: .*step_00000006 "
                                         r"\(train_state.ckpt does not match.*step_00000003 \(.*state.json is not "
                                         r"valid JSON"):
        resume_train_state(tmp_path, LAYOUT, *pair, RUN, max_steps=10)


def test_resume_refuses_another_runs_checkpoint_and_says_which_setting_differs(tmp_path):
    pair = model_and_optimizer()
    save(tmp_path, 6, pair)
    with pytest.raises(ValueError, match=r"written by a run with other settings \(lr: 0.001 in the checkpoint, 0.002 "
                                         r"now; model.n_layer: 2 in the checkpoint, 3 now\)"):
        resume_train_state(tmp_path, LAYOUT, *pair, {"model": {"n_layer": 3, "n_embd": 64}, "lr": 2e-3}, 10)
    with pytest.raises(ValueError, match=r"step_00000006 is at step 6, past the 4 steps this run trains: it belongs "
                                         r"to a longer run; train at least 6 steps to continue it, or start a new "
                                         r"run: another output folder, or overwrite=true"):
        resume_train_state(tmp_path, LAYOUT, *pair, RUN, max_steps=4)
    assert resume_train_state(tmp_path, LAYOUT, *pair, RUN, max_steps=6)["step"] == 6
    assert resume_train_state(tmp_path / "empty", LAYOUT, *pair, RUN, max_steps=6) is None


def test_a_torn_last_metrics_line_is_dropped_and_an_earlier_one_is_an_error(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    records = "".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3))
    path.write_text(records + '{"step": 4, "lo')  # the disk filled mid-line
    with caplog.at_level(logging.WARNING, logger="mindgpt"):
        assert [r["step"] for r in MetricsLog(path, 3, enabled=True).records] == [1, 2, 3]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(path) in warning and "last line 4" in warning
    assert path.read_text() == records

    path.write_text('{"step": 1}\n{"step": 2, "lo\n{"step": 3}\n')
    with pytest.raises(ValueError, match=rf"{path} line 2 is not a JSON record"):
        MetricsLog(path, 3, enabled=True)


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_naming_the_folder_and_a_checkpoints_size(tmp_path, monkeypatch):
    pair = model_and_optimizer()
    parameters = sum(p.nbytes for p in run._parameters(*pair))
    with monkeypatch.context() as patch:
        patch.setattr(run.ms, "save_checkpoint", no_space)
        with pytest.raises(DiskFull) as caught, disk_full_reported(tmp_path, LAYOUT, *pair):
            save(tmp_path, 2, pair)
    message = str(caught.value)
    assert message.startswith(f"no space left on the disk holding {tmp_path} (")
    assert f"one checkpoint needs about {parameters / 1e6:.1f} MB (the model's and optimizer's parameters)" in message
    assert isinstance(caught.value, FORESEEABLE) and describe(caught.value) == message and caught.value.errno == 28
    assert list((tmp_path / "checkpoints").iterdir()) == [], "the half-written checkpoint is removed"

    last = save(tmp_path, 2, pair)
    size = sum(f.stat().st_size for f in last.iterdir())

    def safetensors_full(folder):  # what safetensors raises when the disk fills
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    with pytest.raises(DiskFull, match=rf"about {size / 1e6:.1f} MB \(the size of the last one, step_00000002\)"):
        with disk_full_reported(tmp_path, LAYOUT, *pair):
            save_train_state(tmp_path / "checkpoints", 4, *pair, {}, keep=None, write_files=safetensors_full)
    with pytest.raises(OSError, match="Permission denied"), disk_full_reported(tmp_path, LAYOUT, *pair):
        raise PermissionError(errno.EACCES, "Permission denied")  # other errors pass unchanged
