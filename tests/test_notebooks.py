"""The course notebooks (notebooks/*.ipynb) run top to bottom on CPU and show what they claim.

They are committed executed, so a reader on the web sees their outputs and pictures; `python
tests/test_notebooks.py` re-executes and saves them. Here the three run again, without saving: once, in order, in one temporary output folder (03 fine-tunes the model 02 pretrained),
each in a fresh python3 kernel with the notebooks folder as working directory. After its last cell a probe
cell prints the notebook's key results as JSON, which the tests below check. About 2-3 minutes in all.
Data comes from PyPI packages cached in data_cache/ (downloaded on first use), as for the other tests.
"""
import json
import math
import os
from pathlib import Path

import nbclient  # these three come with the `test` extra: pip install -e .[test]
import nbformat
import ipykernel  # noqa: F401  (the python3 kernel the notebooks run in)
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("01_gpt_architecture", "02_language_modeling", "03_finetuning")
REWRITE = "python tests/test_notebooks.py"  # executes the notebooks and saves them with their outputs
CELL_TIMEOUT_S = 300

PROBES = {
    "01_gpt_architecture": """{
        "table": single["input_ids"][0].tolist(), "pair_types": pair["token_type_ids"][0].tolist(),
        "sep_id": tokenizer.sep_token_id, "future_weight": float(ops.triu(weights[0, 0], diagonal=1).sum()),
        "block_error": float(ops.abs(h - block(x)[0]).max()), "changed_before_last": float(difference[:-2].max()),
        "gpt1_parameters": n_parameters(gpt1)}""",
    "02_language_modeling": """{
        "loss_start": loss_start, "loss_end": loss_end, "val_before": val_before, "val_after": val_after,
        "unigram_ppl": shards.unigram_perplexity(), "gaps_before": [float(g) for g in gaps_before],
        "gaps_after": [float(g) for g in gaps_after], "chain_sum": total,
        "score": score(model, tokenizer, [sentences[0]])[0]["log_prob"], "sample": tokenizer.decode(sample),
        "saved": sorted(p.name for p in pretrained_dir.iterdir())}""",
    "03_finetuning": """{
        "pretrained_dir": str(pretrained_dir), "added": added, "vocab": len(tokenizer),
        "table_rows": int(model.transformer.tokens_embed.weight.shape[0]),
        "cls_token": tokenizer.decode([model.config.classifier_token_id]),
        "L3": float(L3.asnumpy()), "L2": float(L2.asnumpy()), "L1": float(L1.asnumpy()), "lam": LAMBDA,
        "accuracy_before": float(accuracy_before), "accuracy_after": float(accuracy_after),
        "loss_first": float(np.mean([l for _, l in history[:10]])),
        "loss_last": float(np.mean([l for _, l in history[-10:]]))}""",
}


def execute(nb) -> None:
    """Run every cell in a fresh python3 kernel in notebooks/; CellExecutionError (with the cell and its
    traceback) if one fails."""
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()


def run_notebook(name: str) -> tuple[dict, dict]:
    """Execute a notebook plus its probe cell; return (probe results, the executed notebook)."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import json as _json\nprint('PROBE' + _json.dumps(" + PROBES[name] + "))"))
    execute(nb)
    probe = next(line for line in stream_text(nb.cells[-1]).splitlines() if line.startswith("PROBE"))
    return json.loads(probe[len("PROBE"):]), nb


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def all_text(nb) -> str:
    return "".join(stream_text(c) for c in nb.cells if c.cell_type == "code")


def images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("notebook_outputs")
    saved = os.environ.get("MINDGPT_NOTEBOOK_OUT")
    os.environ["MINDGPT_NOTEBOOK_OUT"] = str(out)  # the kernels inherit it
    try:
        yield {name: run_notebook(name) for name in NAMES}, out
    finally:
        if saved is None:
            os.environ.pop("MINDGPT_NOTEBOOK_OUT", None)
        else:
            os.environ["MINDGPT_NOTEBOOK_OUT"] = saved


def test_committed_notebooks_are_executed_with_their_pictures():
    # read on the web (GitHub, the course site), a notebook shows its outputs and pictures without running
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), f"{name}: run it top to bottom: {REWRITE}"
        assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert images(nb) >= 1, f"{name}: its pictures are missing"
        saved = NOTEBOOKS.joinpath(f"{name}.ipynb").read_text(encoding="utf-8")
        for machine_path in (str(NOTEBOOKS.parent), "/tmp/", "site-packages"):
            assert machine_path not in saved, f"{name}: an output names {machine_path!r}"
        headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
        assert any("/" in h.splitlines()[0] and h.startswith("# ") for h in headings), f"{name}: bilingual title"


def test_architecture_notebook(executed):
    (results, nb), out = executed[0]["01_gpt_architecture"], executed[1]
    text = all_text(nb)
    for row in ("token type ids", "position ids", "token ids", "model input", "[BOS]", "[EOS]", "[SEP]"):
        assert row in text
    assert results["pair_types"][-1] == 1 and results["pair_types"][0] == 0
    assert results["future_weight"] == 0.0  # the causal mask leaves nothing on future positions
    assert results["block_error"] < 1e-5  # the step-by-step block equals the block
    assert results["changed_before_last"] == 0.0  # earlier positions cannot see a later change
    assert results["gpt1_parameters"] == 116_534_784
    assert images(nb) >= 2 and (out / "causal_mask.png").is_file()


def test_language_modeling_notebook(executed):
    results, nb = executed[0]["02_language_modeling"]
    assert results["loss_end"] < results["loss_start"] - 0.5  # the loss decreased
    assert results["val_after"] < results["val_before"]
    assert results["val_after"] < math.log(results["unigram_ppl"])  # past the unigram plateau
    assert all(gap > 0 for gap in results["gaps_after"])  # p(real) > p(scrambled), every sentence
    assert sum(results["gaps_after"]) > 2 * sum(results["gaps_before"])
    assert abs(results["chain_sum"] - results["score"]) < 1e-3  # chain rule terms add up to log p(U)
    assert results["sample"].startswith("[BOS]") and len(results["sample"]) > 20
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(results["saved"])
    assert images(nb) >= 1 and "p(real) > p(scrambled)" in all_text(nb)


def test_finetuning_notebook(executed):
    (results, nb), out = executed[0]["03_finetuning"], executed[1]
    assert (NOTEBOOKS / results["pretrained_dir"]).resolve() == (out / "02_pretrained").resolve()  # 02's model
    assert results["added"] == 3 and results["table_rows"] == results["vocab"]
    assert results["cls_token"] == "<eos>"
    assert abs(results["L3"] - (results["L2"] + results["lam"] * results["L1"])) < 1e-4
    assert 0.0 <= results["accuracy_before"] <= 1.0 and 0.0 <= results["accuracy_after"] <= 1.0
    assert results["loss_last"] < results["loss_first"]  # L3 went down
    text = all_text(nb)
    assert "test accuracy" in text
    for task in ("classification", "entailment", "similarity", "multiple choice"):
        assert f"== {task}" in text
    assert images(nb) >= 1


if __name__ == "__main__":  # REWRITE: save each notebook executed, in order (03 reads the model 02 saves)
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        execute(notebook)
        nbformat.write(notebook, NOTEBOOKS / f"{name}.ipynb")
        print("executed", name)
