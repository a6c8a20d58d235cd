"""Task transforms (the paper's Figure 1): row layout, the [EOS] the classifier pools at, shapes, plain text,
bad input."""
import os

import numpy as np
import pytest

from conftest import FIXTURES
from mindgpt import tasks
from mindgpt.config import GPTConfig
from mindgpt.tokenizer import GPTTokenizer

CORPUS = [
    "the movie was great and the actors were good.",
    "a man is playing a guitar on the stage; a woman sings.",
    "the cat sat on the mat. the dog did not.",
    "which answer is right? the first one, or the second one!",
] * 20


@pytest.fixture(scope="module")
def tok():
    return GPTTokenizer.train(CORPUS, vocab_size=120, min_frequency=1)


@pytest.fixture(scope="module")
def config(tok):
    return GPTConfig.from_preset("2x64", vocab_size=len(tok), **tok.special_token_ids())


def pooled_positions(input_ids, token_id):
    """Where the model pools: the last occurrence of config.classifier_token_id in each row."""
    rows = input_ids.reshape(-1, input_ids.shape[-1])
    last = rows.shape[1] - 1 - np.argmax(rows[:, ::-1] == token_id, axis=1)
    assert (rows[np.arange(len(rows)), last] == token_id).all()
    return last.reshape(input_ids.shape[:-1])


def plain(tok, text):
    """A text's ids as plain text: the framing never reads a special token out of a text."""
    return tok.encode_batch([text])[0]


def check_rows(tok, config, batch, expected_rows):
    """Every row is exactly [BOS] a ([SEP] b) [EOS] + padding, and the head pools at the [EOS] written."""
    ids = batch["input_ids"].reshape(-1, batch["input_ids"].shape[-1])
    mask = batch["attention_mask"].reshape(ids.shape)
    types = batch["token_type_ids"].reshape(ids.shape)
    assert len(ids) == len(expected_rows)
    for row, ids_row, mask_row, type_row in zip(expected_rows, ids, mask, types):
        first, second = row
        want = [tok.bos_token_id, *plain(tok, first)]
        if second is None:
            want_types = [0] * (len(want) + 1)
        else:
            want_types = [0] * (len(want) + 1) + [1] * (len(plain(tok, second)) + 1)
            want += [tok.sep_token_id, *plain(tok, second)]
        want.append(tok.eos_token_id)
        n = len(want)
        assert ids_row[:n].tolist() == want and (ids_row[n:] == tok.pad_token_id).all()
        assert mask_row.tolist() == [1] * n + [0] * (len(ids_row) - n)
        assert type_row.tolist() == want_types + [0] * (len(ids_row) - n)
    pooled = pooled_positions(batch["input_ids"], config.classifier_token_id).reshape(-1)
    assert pooled.tolist() == (mask.sum(axis=1) - 1).tolist()  # the [EOS] the transform wrote


def test_classification(tok, config):
    texts = ["the movie was great", "the cat sat on the mat and the dog did not sit"]
    batch = tasks.classification(tok, texts, labels=[1, 0], num_labels=2)
    assert batch["input_ids"].shape[0] == 2 and batch["input_ids"].ndim == 2
    assert batch["labels"].tolist() == [1, 0] and batch["labels"].dtype == np.int32
    check_rows(tok, config, batch, [(t, None) for t in texts])


def test_entailment(tok, config):
    premises, hypotheses = ["a man is playing a guitar", "the cat sat"], ["a man sings", "the dog sat on the mat"]
    batch = tasks.entailment(tok, premises, hypotheses, labels=[2, 0], num_labels=3)
    assert batch["input_ids"].ndim == 2
    check_rows(tok, config, batch, list(zip(premises, hypotheses)))


def test_similarity_has_both_orders(tok, config):
    a, b = ["the movie was great", "a woman sings"], ["the actors were good", "a man is playing"]
    batch = tasks.similarity(tok, a, b, labels=[1, 0])
    assert batch["input_ids"].shape[:2] == (2, 2)
    check_rows(tok, config, batch, [(a[0], b[0]), (b[0], a[0]), (a[1], b[1]), (b[1], a[1])])
    scores = tasks.similarity(tok, a, b, labels=[4.2, 0.5], num_labels=1)["labels"]  # STS-B regression
    assert scores.dtype == np.float32 and scores.tolist() == pytest.approx([4.2, 0.5])


def test_multiple_choice(tok, config):
    contexts = ["which answer is right?", "the cat sat on the mat."]
    choices = [["the first one", "the second one", "neither"], ["the dog did not", "the cat did", "a man"]]
    batch = tasks.multiple_choice(tok, contexts, choices, labels=[1, 2])
    assert batch["input_ids"].shape[:2] == (2, 3) and batch["labels"].tolist() == [1, 2]
    check_rows(tok, config, batch, [(c, a) for c, answers in zip(contexts, choices) for a in answers])


def test_truncation_shortens_texts_never_specials(tok, config):
    long = " ".join(["the movie was great and the actors were good"] * 10)
    for batch in (
        tasks.classification(tok, [long, "the cat"], max_length=16),
        tasks.entailment(tok, [long], ["the dog did not"], max_length=16),
        tasks.similarity(tok, [long], ["the dog"], max_length=16),
        tasks.multiple_choice(tok, [long], [["the first one", long]], max_length=16),
    ):
        ids = batch["input_ids"].reshape(-1, batch["input_ids"].shape[-1])
        mask = batch["attention_mask"].reshape(ids.shape)
        assert ids.shape[1] <= 16
        assert (ids[:, 0] == tok.bos_token_id).all()
        assert (ids[np.arange(len(ids)), mask.sum(1) - 1] == tok.eos_token_id).all()
        pooled = pooled_positions(batch["input_ids"], config.classifier_token_id).reshape(-1)
        assert pooled.tolist() == (mask.sum(1) - 1).tolist()


def test_static_shapes_and_buckets(tok):
    assert tasks.classification(tok, ["the cat"], max_length=32, padding="max_length")["input_ids"].shape == (1, 32)
    shape = tasks.multiple_choice(tok, ["the cat"], [["a", "b"]], max_length=32, padding=[8, 16, 32])
    assert shape["input_ids"].shape == (1, 2, 8)
    assert tasks.frame(tok, ["the cat"], padding=[8, 32])["input_ids"].shape == (1, 8)


def test_frame_is_the_papers_layout(tok):
    """`frame`: [BOS] a [SEP] b [EOS], int32, token types 0 then 1, padded right; the short segment kept whole."""
    batch = tasks.frame(tok, ["the cat", "a man is playing a guitar on the stage"], ["a dog", "the cat"])
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(v.dtype == np.int32 and v.shape == batch["input_ids"].shape for v in batch.values())
    cat, dog = plain(tok, "the cat"), plain(tok, "a dog")
    row = [tok.bos_token_id, *cat, tok.sep_token_id, *dog, tok.eos_token_id]
    assert batch["input_ids"][0, : len(row)].tolist() == row
    assert (batch["input_ids"][0, len(row):] == tok.pad_token_id).all()
    assert batch["token_type_ids"][0, : len(row)].tolist() == [0] * (len(cat) + 2) + [1] * (len(dog) + 1)
    long = " ".join(["the movie was great"] * 10)
    ids = tasks.frame(tok, [long], ["a dog"], max_length=12)["input_ids"][0].tolist()
    assert len(ids) == 12 and ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert ids[-len(dog) - 2] == tok.sep_token_id


@pytest.mark.parametrize("eos", ["[EOS]", "<eos>"])
def test_special_token_spellings_in_records_are_text(eos):
    """A review that writes "[EOS]" or "<eos>" is framed as text: one [EOS] per row, where the transform put it."""
    tok = GPTTokenizer.train(CORPUS, vocab_size=120, min_frequency=1,
                             special_tokens={"bos_token": "<bos>", "sep_token": "<sep>", "eos_token": eos,
                                             "pad_token": "<pad>"})
    texts = [f"the movie was great {eos} the end", f"<bos> the cat [SEP] <sep> sat <pad> {eos}"]
    batch = tasks.encode_records("entailment", tok, [{"text": t, "text_pair": t, "label": 0} for t in texts])
    config = GPTConfig.from_preset("2x64", vocab_size=len(tok), **tok.special_token_ids())
    check_rows(tok, config, batch, [(t, t) for t in texts])
    specials = set(tok.all_special_ids) - {tok.unk_token_id}
    assert [sorted(set(row[m == 1]) & specials) for row, m in zip(batch["input_ids"], batch["attention_mask"])] == [
        sorted({tok.bos_token_id, tok.sep_token_id, tok.eos_token_id})] * 2
    assert (batch["input_ids"] == tok.eos_token_id).sum(1).tolist() == [1, 1]


def test_framing_needs_the_special_tokens():
    """The tokenizer itself encodes without bos/eos/pad (as HF); the paper's framing names what is missing."""
    tok = GPTTokenizer.from_pretrained(os.path.join(FIXTURES, "tokenizer", "gpt1"))
    assert tok(["fox"])["input_ids"] == [tok.encode_batch(["fox"])[0]]
    with pytest.raises(ValueError, match="no bos_token.*add_special_tokens"):
        tasks.frame(tok, ["fox"])


def test_records_as_dicts_or_tuples(tok):
    by_dict = tasks.encode_records("entailment", tok, [{"text": "the cat", "text_pair": "the dog", "label": 1}])
    by_tuple = tasks.encode_records("entailment", tok, [("the cat", "the dog", 1)])
    assert all((by_dict[k] == by_tuple[k]).all() for k in by_dict)
    unlabelled = tasks.encode_records("multiple_choice", tok, [("the cat", ["a", "b"])])
    assert "labels" not in unlabelled and unlabelled["input_ids"].shape[:2] == (1, 2)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda t: tasks.classification(t, ["the cat"], labels=[2], num_labels=2), ValueError, r"labels\[0\]=2 is out of range \[0, 2\)"),
        (lambda t: tasks.classification(t, ["the cat"], labels=[-1]), ValueError, "out of range"),
        (lambda t: tasks.classification(t, ["the cat"], labels=[True]), TypeError, "not a class index"),
        (lambda t: tasks.classification(t, ["the cat"], labels=[0.5], num_labels=2), TypeError, "num_labels=1"),
        (lambda t: tasks.similarity(t, ["a"], ["b"], labels=[float("nan")], num_labels=1), ValueError, "finite"),
        (lambda t: tasks.classification(t, ["the cat"], labels=[0, 1]), ValueError, "2 labels for 1 examples"),
        (lambda t: tasks.multiple_choice(t, ["the cat"], [["a", "b"]], labels=[2]), ValueError, r"\[0, 2\)"),
        (lambda t: tasks.multiple_choice(t, ["c", "d"], [["a", "b"], ["a"]]), ValueError, r"choices\[1\]"),
        (lambda t: tasks.multiple_choice(t, ["c"], ["ab"]), ValueError, r"choices\[0\]"),
        (lambda t: tasks.entailment(t, ["a", "b"], ["c"]), ValueError, "pair up"),
        (lambda t: tasks.entailment(t, ["the cat"], [""]), ValueError, "has no tokens"),
        (lambda t: tasks.classification(t, [None]), TypeError, r"texts\[0\] is a NoneType"),
        (lambda t: tasks.classification(t, []), ValueError, "empty"),
        (lambda t: tasks.classification(t, ["the cat", "\x00 "]), ValueError, r"texts\[1\]='\\x00 ' has no tokens"),
        (lambda t: tasks.classification(t, ["the cat"], max_length=2), ValueError, "no room for text"),
        (lambda t: tasks.classification(t, ["the cat sat on the mat"], padding=[2]), ValueError, "every bucket"),
        (lambda t: tasks.classification(t, ["the cat"], padding="max_length"), ValueError, "needs max_length"),
        (lambda t: tasks.classification(t, ["the cat"], padding="short"), ValueError, "padding='short'"),
        (lambda t: tasks.classification(t, ["the cat sat on the mat"], max_length=5, truncation=False), ValueError,
         "truncation=True"),
        (lambda t: tasks.frame(t, "the cat"), TypeError, "pass a list"),
        (lambda t: tasks.frame(t, ["the cat"], [3]), TypeError, r"text_pairs\[0\] is a int"),
        (lambda t: tasks.encode_records("summarization", t, [("a",)]), ValueError, "unknown task"),
        (lambda t: tasks.encode_records("entailment", t, [{"text": "a"}]), ValueError, "lacks"),
        (lambda t: tasks.encode_records("entailment", t, [("a", "b", 1), ("a", "b")]), ValueError, "label all"),
    ],
)
def test_bad_input_is_named(tok, call, error, message):
    with pytest.raises(error, match=message):
        call(tok)
