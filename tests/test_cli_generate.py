"""`python -m mindgpt generate | score | export` on a saved model + tokenizer directory, and the one-line errors
every command prints for what a user can get wrong (settings, files, paths).

MindSpore's device can be set once per process, so most tests call `main` in-process with the device set-up
stubbed out (the test process already runs graph mode on CPU) and one runs the real command.
"""
import os
import shutil
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from conftest import tensor
from mindgpt import GPTConfig, GPTLMHeadModel, GPTTokenizer
from mindgpt import cli
from mindgpt.cli import main
from mindgpt.tokenizer import document_separator, document_start

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = "to be or not to be that is the question whether tis nobler in the mind to suffer"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pretrained")
    tokenizer = GPTTokenizer.train([TEXT] * 4, vocab_size=80, min_frequency=1)
    ms.set_seed(0)
    config = GPTConfig(vocab_size=len(tokenizer), n_positions=32, n_embd=32, n_layer=2, n_head=4,
                       resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **tokenizer.special_token_ids())
    GPTLMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(autouse=True)
def device_already_set(monkeypatch):
    monkeypatch.setattr(cli, "set_up_device", lambda: None)


def test_the_module_entry_point_generates(pretrained):
    command = [sys.executable, "-m", "mindgpt", "generate", "--pretrained", pretrained, "--prompt", "to be",
               "--max-new-tokens", "4", "--seed", "0"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("to be")


def test_generate_prints_each_prompt_continued(pretrained, capsys):
    main(["generate", "--pretrained", pretrained, "--prompt", "to be", "--prompt", "the question",
          "--max-new-tokens", "5", "--top-k", "5", "--top-p", "0.9", "--temperature", "0.8", "--seed", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("to be") and lines[1].startswith("the question")
    main(["generate", "--pretrained", pretrained, "--prompt", "to be", "--greedy", "--max-new-tokens", "5"])
    greedy = capsys.readouterr().out
    main(["generate", "--pretrained", pretrained, "--prompt", "to be", "--greedy", "--max-new-tokens", "5"])
    assert capsys.readouterr().out == greedy


def test_generate_past_the_context_is_a_clear_error(pretrained):
    with pytest.raises(SystemExit, match=r"error: .* exceeds the model's context of n_positions=32"):
        main(["generate", "--pretrained", pretrained, "--prompt", "to be", "--max-new-tokens", "40"])
    with pytest.raises(SystemExit, match=r"error: top_p must be in \(0, 1\]"):
        main(["generate", "--pretrained", pretrained, "--top-p", "0", "--max-new-tokens", "5"])


def test_score_prints_log_prob_and_perplexity_per_text(pretrained, capsys):
    main(["score", "--pretrained", pretrained, "to be or not to be", "be to not or be to"])
    header, *rows = capsys.readouterr().out.strip().splitlines()
    assert header.split()[:3] == ["log", "P(U)", "tokens"] and len(rows) == 2
    log_prob, n_tokens, perplexity = rows[0].split()[:3]
    assert int(n_tokens) == 6 and float(perplexity) == pytest.approx(np.exp(-float(log_prob) / 6), rel=1e-2)


def test_export_writes_a_mindir_that_reproduces_the_lm(pretrained, tmp_path, capsys):
    out = tmp_path / "lm.mindir"
    main(["export", "--pretrained", pretrained, "--format", "MINDIR", "--output", str(out)])
    assert "GPTLMHeadModel" in capsys.readouterr().out
    ids, mask = tensor([[1, 5, 9, 12]]), tensor([[1, 1, 1, 1]])
    want = GPTLMHeadModel.from_pretrained(pretrained)(ids, mask)[0].asnumpy()
    np.testing.assert_allclose(nn.GraphCell(ms.load(str(out)))(ids, mask).asnumpy(), want, atol=1e-5)


def test_generate_stops_where_the_model_opens_a_new_document(pretrained, tmp_path, capsys):
    # Pretraining separates documents with [BOS], so a sampled [BOS] ends the text. A model whose every
    # position predicts [BOS] or "question" with even odds shows the stop: the same seeded draws without it
    # go on past the first [BOS].
    tokenizer = GPTTokenizer.from_pretrained(pretrained)
    model = GPTLMHeadModel.from_pretrained(pretrained)
    last_norm = model.transformer.h[-1].ln_2
    direction = np.random.default_rng(0).normal(size=model.config.n_embd).astype(np.float32)
    last_norm.weight.set_data(tensor(np.zeros_like(direction), ms.float32))  # every hidden state becomes `direction`
    last_norm.bias.set_data(tensor(direction, ms.float32))
    table = model.transformer.tokens_embed.weight.asnumpy() * 1e-3
    question = tokenizer.encode("question")[0]
    separator = document_separator(tokenizer)
    assert separator == tokenizer.bos_token_id
    table[[separator, question]] = 10 * direction / (direction @ direction)
    model.transformer.tokens_embed.weight.set_data(tensor(table, ms.float32))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    prompt = document_start(tokenizer, tokenizer.encode("to be"))
    unstopped = model.generate([prompt], max_new_tokens=12, do_sample=True, seed=3)[0][len(prompt):]
    assert separator in unstopped[1:-1], "seed 3 should draw [BOS] between other tokens"
    end = unstopped.index(separator)
    stopped = model.generate([prompt], max_new_tokens=12, do_sample=True, seed=3, eos_token_id=separator)[0]
    assert stopped == prompt + unstopped[:end + 1]
    main(["generate", "--pretrained", str(tmp_path), "--prompt", "to be", "--max-new-tokens", "12", "--seed", "3"])
    printed = capsys.readouterr().out.strip()
    assert printed == tokenizer.decode(prompt + unstopped[:end], skip_special_tokens=True)
    assert printed != tokenizer.decode(prompt + unstopped, skip_special_tokens=True)


def test_export_of_a_head_the_checkpoint_lacks_needs_allow_new_head(pretrained, tmp_path, capsys):
    command = ["export", "--pretrained", pretrained, "--head", "classifier", "--output", str(tmp_path / "cls")]
    with pytest.raises(SystemExit, match=r"^error: .* has no trained classifier head \(it lacks score.weight\)"):
        main(command)
    main(command + ["--allow-new-head"])
    assert "GPTForSequenceClassification" in capsys.readouterr().out and (tmp_path / "cls.mindir").is_file()


@pytest.mark.parametrize("error,message", [
    (TypeError("ids must be integers"), "error: ids must be integers"),
    (KeyError("model"), "error: missing key 'model' (a file without a field it needs?)"),
    (PermissionError(13, "Permission denied", "weights.bin"), "error: Permission denied: weights.bin"),
    (IsADirectoryError(21, "Is a directory", "config.json"), "error: Is a directory: config.json"),
    (FloatingPointError("loss became nan"), "error: loss became nan"),
    (ValueError("a library's message\n  over two lines"), "error: a library's message over two lines"),
])
def test_foreseeable_errors_print_one_line(monkeypatch, error, message):
    def fail(_):
        raise error

    monkeypatch.setattr(cli, "load_lm", fail)
    with pytest.raises(SystemExit) as exited:
        main(["score", "--pretrained", "somewhere", "text"])
    assert str(exited.value.code) == message


@pytest.mark.parametrize("argv,message", [
    (["pretrain", "max_steps=abc"], "error: setting max_steps must be an integer, got 'abc'"),
    (["pretrain", "resume=maybe"], "error: setting resume must be true or false, got 'maybe'"),
    (["pretrain", "layer_norm_epsilon=small"], "error: GPTConfig.layer_norm_epsilon must be a finite number"),
    (["finetune", "--config", os.path.join(ROOT, "configs", "finetune_mr.yaml"), "epochs=abc"],
     "error: setting epochs must be an integer, got 'abc'"),
])
def test_bad_settings_stop_before_any_work(argv, message):
    with pytest.raises(SystemExit, match=f"^{message}"):
        main(argv)


def test_a_config_json_that_is_a_list_is_one_line(pretrained, tmp_path):
    shutil.copytree(pretrained, tmp_path, dirs_exist_ok=True)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(SystemExit, match=r"^error: .*config.json holds a JSON list, not an object of config fields"):
        main(["score", "--pretrained", str(tmp_path), "text"])
