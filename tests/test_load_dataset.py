"""`mindgpt.data.load_dataset`: the course's `load_dataset('imdb', split=[...])` and its pipeline, offline."""
import os

import mindspore
import numpy as np
import pytest
from mindspore.dataset import transforms

from conftest import FIXTURES
from mindgpt import OpenAIGPTTokenizer
from mindgpt.data import load_dataset
from offline_data import linked_data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return linked_data_dir(tmp_path_factory.mktemp("data"))


def rows(dataset, n=None):
    iterator = dataset.create_dict_iterator(num_epochs=1, output_numpy=True)
    return [row for _, row in zip(range(n or dataset.get_dataset_size()), iterator)]


def test_imdb_as_the_course_loads_it(data_dir):
    imdb_ds = load_dataset("imdb", split=["train", "test"], data_dir=data_dir)
    imdb_train, imdb_test = imdb_ds["train"], imdb_ds["test"]
    assert sorted(imdb_ds) == ["test", "train"]
    assert (imdb_train.get_dataset_size(), imdb_test.get_dataset_size()) == (19839, 2511)
    assert imdb_test.get_col_names() == ["text", "label"]
    labels = [int(row["label"]) for row in rows(imdb_test)]
    assert set(labels) == {0, 1} and 1150 < sum(labels) < 1350, "both classes, about half each"

    imdb_train, _ = imdb_train.split([0.1, 0.9])
    assert imdb_train.get_dataset_size() == 1984

    tokenizer = OpenAIGPTTokenizer.from_pretrained(os.path.join(FIXTURES, "hf_openai_gpt", "course"))
    tokenizer.add_special_tokens({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"})

    def tokenize(text):
        tokenized = tokenizer(text, truncation=True, max_length=64)
        return tokenized["input_ids"], tokenized["attention_mask"]

    dataset = imdb_train.shuffle(4)
    dataset = dataset.map(operations=[tokenize], input_columns="text", output_columns=["input_ids", "attention_mask"])
    dataset = dataset.map(operations=transforms.TypeCast(mindspore.int32), input_columns="label",
                          output_columns="labels")
    dataset = dataset.padded_batch(4, pad_info={"input_ids": (None, tokenizer.pad_token_id),
                                                "attention_mask": (None, 0)})
    batch = rows(dataset, 1)[0]
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (4, 64)
    assert batch["labels"].dtype == np.int32 and set(batch["labels"].tolist()) <= {0, 1}


def test_split_names_a_dataset_a_list_or_all(data_dir):
    test = load_dataset("lee", split="test", data_dir=data_dir)
    assert test.get_col_names() == ["text", "text_pair", "label"]
    row = rows(test, 1)[0]
    assert row["text"].dtype.kind == "U" and row["label"].dtype == np.float32 and 0 <= row["label"] <= 1
    assert sorted(load_dataset("lee", data_dir=data_dir)) == ["test", "train", "validation"]
    with pytest.raises(ValueError, match=r"split='dev': choose from \['train', 'validation', 'test'\]"):
        load_dataset("lee", split="dev", data_dir=data_dir)
    with pytest.raises(ValueError, match="unknown dataset 'sst2'.*path of a .csv or .jsonl file"):
        load_dataset("sst2", data_dir=data_dir)


def test_multiple_choice_gives_the_choices_as_one_column(data_dir):
    train = load_dataset("shakespeare_next_line", split="train", data_dir=data_dir, n_choices=3)
    assert train.get_col_names() == ["text", "choices", "label"]
    row = rows(train, 1)[0]
    assert row["choices"].shape == (3,) and row["label"].dtype == np.int64 and 0 <= row["label"] < 3


def test_a_users_csv_by_its_path(tmp_path):
    (tmp_path / "reviews.csv").write_text("text,label\n" + "".join(
        f"review {i},{'pos' if i % 2 else 'neg'}\n" for i in range(30)))
    data = load_dataset(str(tmp_path / "reviews.csv"), data_dir=tmp_path / "cache")
    assert {name: d.get_dataset_size() for name, d in data.items()} == {"train": 24, "validation": 3, "test": 3}
    assert all(int(row["label"]) == int(row["text"].item().split()[1]) % 2 for row in rows(data["train"]))
