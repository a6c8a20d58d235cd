"""build_task_dataset: batches per task, shuffling per epoch, per-rank shards, drop_remainder, early errors."""
import numpy as np
import pytest

from mindgpt.data.pipeline import build_task_dataset
from mindgpt.tokenizer import GPTTokenizer

WORDS = "the cat sat on a mat and dog ran far away from home".split()


@pytest.fixture(scope="module")
def tok():
    return GPTTokenizer.train([" ".join(WORDS)] * 10, vocab_size=100, min_frequency=1)


def records(n):
    """Record i has label i, so the labels tell which records a batch holds."""
    return [{"text": " ".join(WORDS[: 1 + i % 10]), "text_pair": "the dog", "label": i} for i in range(n)]


def epochs(dataset, num_epochs=1):
    iterator = dataset.create_dict_iterator(num_epochs=num_epochs, output_numpy=True)
    return [list(iterator) for _ in range(num_epochs)]  # each pass stops at the end of an epoch


def test_batches_have_the_task_columns(tok):
    data = build_task_dataset(records(10), tok, "entailment", max_length=16, batch_size=4, shuffle=False)
    assert data.get_dataset_size() == 3
    (batches,) = epochs(data)
    assert set(batches[0]) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert [b["labels"].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(b["input_ids"].dtype == np.int32 for b in batches)
    assert batches[0]["input_ids"].shape[1] != batches[2]["input_ids"].shape[1]  # padded per batch


def test_static_shapes_for_graph_mode(tok):
    data = build_task_dataset(records(10), tok, "entailment", max_length=16, batch_size=4, padding="max_length",
                              drop_remainder=True, shuffle=False)
    (batches,) = epochs(data)
    assert [b["input_ids"].shape for b in batches] == [(4, 16), (4, 16)]


def test_shuffle_is_seeded_and_changes_each_epoch(tok):
    def labels(seed):
        data = build_task_dataset(records(12), tok, "classification", 16, batch_size=12, seed=seed)
        return [batch[0]["labels"].tolist() for batch in epochs(data, num_epochs=2)]

    first, second = labels(seed=3)
    assert sorted(first) == list(range(12)) and first != second
    assert labels(seed=3) == [first, second]


def test_shards_split_the_records_evenly(tok):
    seen = []
    for shard_id in range(3):
        data = build_task_dataset(records(10), tok, "classification", 16, batch_size=2, num_shards=3,
                                  shard_id=shard_id, seed=1)
        (batches,) = epochs(data)
        assert len(batches) == 2  # ceil(10 / 3) = 4 records per rank, wrapped around
        seen.append([y for b in batches for y in b["labels"].tolist()])
    assert set().union(*map(set, seen)) == set(range(10))
    assert sum(map(len, seen)) == 12


def test_multiple_choice_and_similarity_shapes(tok):
    mc = [("the cat sat", ["on a mat", "far away", "home"], i % 3) for i in range(5)]
    (batches,) = epochs(build_task_dataset(mc, tok, "multiple_choice", 16, batch_size=2, drop_remainder=True))
    assert len(batches) == 2 and all(b["input_ids"].shape[:2] == (2, 3) for b in batches)
    sim = [("the cat", "the dog")] * 3  # no labels: no labels column
    (batches,) = epochs(build_task_dataset(sim, tok, "similarity", 16, batch_size=3))
    assert set(batches[0]) == {"input_ids", "attention_mask", "token_type_ids"}
    assert batches[0]["input_ids"].shape[:2] == (3, 2)


def test_records_that_write_special_tokens_are_text(tok):
    """Dataset text is plain text: a record that writes "[EOS]" builds, and each row has the one [EOS] framed."""
    data = [{"text": "the cat [EOS] sat", "text_pair": "[SEP] the dog [PAD]", "label": 0}] * 2
    (batches,) = epochs(build_task_dataset(data, tok, "entailment", 16, batch_size=2))
    ids = batches[0]["input_ids"]
    assert (ids == tok.eos_token_id).sum(1).tolist() == [1, 1] and (ids == tok.sep_token_id).sum(1).tolist() == [1, 1]


@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        (records(3) + [{"text": "", "text_pair": "a", "label": 0}], {}, r"records\[0:4\].*texts\[3\]"),
        (records(3), {"num_labels": 2}, r"labels\[2\]=2 is out of range"),
        ([], {}, "records is empty"),
        (records(3), {"batch_size": 0}, "batch_size"),
        (records(3), {"num_shards": 2}, "together"),
        (records(3), {"num_shards": 2, "shard_id": 2}, "shard_id=2"),
    ],
)
def test_bad_input_fails_when_building(tok, data, kwargs, message):
    kwargs = {"batch_size": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        build_task_dataset(data, tok, "entailment", 16, **kwargs)
