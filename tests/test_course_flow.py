"""The MindSpore course's IMDB fine-tuning notebook (step_into_llm, lecture 3.GPT) on mindgpt with only the
imports, the checkpoint path and the device changed: `load_dataset('imdb', split=[...])`, a `mindspore.dataset`
pipeline that tokenizes in `map` and pads in `padded_batch`, HF's `add_special_tokens` and
`resize_token_embeddings`, `Trainer`/`TrainingArguments`/`EvalPrediction`, and `model(**batch).logits`. The
checkpoint is an `openai-gpt`-like directory written by transformers (tests/fixtures/make_hf_fixture.py)."""
import os

import mindspore
import numpy as np
import pytest
from mindspore.dataset import GeneratorDataset, transforms

from conftest import FIXTURES
from mindgpt import EvalPrediction, OpenAIGPTForSequenceClassification, OpenAIGPTTokenizer, Trainer, TrainingArguments
from mindgpt.data import load_dataset

CHECKPOINT = os.path.join(FIXTURES, "hf_openai_gpt", "course")
REVIEWS = [
    ("a gripping, funny and moving film with a great cast", 1),
    ("dull, far too long and the plot makes no sense at all", 0),
    ("one of the best films of the year", 1),
    ("i want those two hours of my life back", 0),
    ("the music is wonderful and the story is told with care", 1),
    ("badly written, badly acted, badly shot", 0),
    ("a quiet film that stays with you", 1),
    ("the jokes fall flat and the ending is a mess", 0),
] * 5


def reviews_dataset():
    """What the course gets from `load_dataset('imdb', split=...)`: columns text and label."""
    return GeneratorDataset(REVIEWS, column_names=["text", "label"], shuffle=False)


def process_dataset(dataset, tokenizer, max_seq_len=512, batch_size=4, shuffle=False):
    """The notebook's pipeline on a CPU: tokenize each text in `map`, labels to int32, pad per batch."""
    def tokenize(text):
        tokenized = tokenizer(text, truncation=True, max_length=max_seq_len)
        return tokenized["input_ids"], tokenized["attention_mask"]

    if shuffle:
        dataset = dataset.shuffle(batch_size)
    dataset = dataset.map(operations=[tokenize], input_columns="text", output_columns=["input_ids", "attention_mask"])
    dataset = dataset.map(operations=transforms.TypeCast(mindspore.int32), input_columns="label",
                          output_columns="labels")
    return dataset.padded_batch(batch_size, pad_info={"input_ids": (None, tokenizer.pad_token_id),
                                                      "attention_mask": (None, 0)})


@pytest.fixture(params=["pynative", "graph"])
def context_mode(request):
    """The notebook runs in MindSpore's default (PyNative) context; graph mode must give the same flow."""
    mindspore.set_context(mode=mindspore.PYNATIVE_MODE if request.param == "pynative" else mindspore.GRAPH_MODE)
    yield request.param
    mindspore.set_context(mode=mindspore.GRAPH_MODE)


def test_course_notebook_runs_up_to_the_trainer(context_mode):
    train, test = reviews_dataset().split([0.5, 0.5], randomize=False)
    assert train.get_dataset_size() == len(REVIEWS) // 2

    gpt_tokenizer = OpenAIGPTTokenizer.from_pretrained(CHECKPOINT)
    special_tokens_dict = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    assert gpt_tokenizer.add_special_tokens(special_tokens_dict) == 3

    train, val = train.split([0.7, 0.3], randomize=False)
    dataset_train = process_dataset(train, gpt_tokenizer, shuffle=True)
    dataset_val = process_dataset(val, gpt_tokenizer)
    first = next(dataset_train.create_tuple_iterator())
    assert [t.shape[0] for t in first] == [4, 4, 4]

    model = OpenAIGPTForSequenceClassification.from_pretrained(CHECKPOINT, num_labels=2)
    model.config.pad_token_id = gpt_tokenizer.pad_token_id
    model.resize_token_embeddings(model.config.vocab_size + 3)
    assert model.config.vocab_size == len(gpt_tokenizer)

    model.set_train(False)
    seen = 0
    for batch in dataset_val.create_dict_iterator():
        label = batch.pop("labels")
        logits = model(**batch).logits
        assert logits.shape == (label.shape[0], 2)
        predictions = np.argmax(logits.asnumpy(), axis=-1)
        assert set(predictions.tolist()) <= {0, 1}
        seen += label.shape[0]
        # each padded row is read at its last real token: the same logits as the row alone
        for row, (ids, mask) in enumerate(zip(batch["input_ids"].asnumpy(), batch["attention_mask"].asnumpy())):
            alone = model(input_ids=mindspore.Tensor(ids[mask > 0][None])).logits.asnumpy()
            np.testing.assert_allclose(alone[0], logits.asnumpy()[row], atol=1e-5)
    assert seen == val.get_dataset_size()


class Accuracy:
    """Stands in for `evaluate.load("accuracy")` (Hugging Face's metrics library, not part of mindgpt)."""

    def compute(self, predictions, references):
        return {"accuracy": float(np.mean(np.asarray(predictions) == np.asarray(references)))}


def test_course_notebook_end_to_end(context_mode, tmp_path):
    """Every cell, on 0.5% of IMDB's training reviews and one epoch."""
    imdb_ds = load_dataset('imdb', split=['train', 'test'])
    imdb_train = imdb_ds['train']
    imdb_test = imdb_ds['test']
    imdb_train, _ = imdb_train.split([0.005, 0.995])
    imdb_test, _ = imdb_test.split([0.01, 0.99])
    assert imdb_train.get_dataset_size() == 99

    gpt_tokenizer = OpenAIGPTTokenizer.from_pretrained(CHECKPOINT)
    special_tokens_dict = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
    num_added_toks = gpt_tokenizer.add_special_tokens(special_tokens_dict)
    imdb_train, imdb_val = imdb_train.split([0.7, 0.3])
    dataset_train = process_dataset(imdb_train, gpt_tokenizer, shuffle=True)
    dataset_val = process_dataset(imdb_val, gpt_tokenizer)
    dataset_test = process_dataset(imdb_test, gpt_tokenizer)
    next(dataset_train.create_tuple_iterator())

    metric = Accuracy()

    def compute_metrics(eval_pred: EvalPrediction):
        logits, labels = eval_pred
        predictions = np.argmax(logits, axis=-1)
        return metric.compute(predictions=predictions, references=labels)

    model = OpenAIGPTForSequenceClassification.from_pretrained(CHECKPOINT, num_labels=2)
    model.config.pad_token_id = gpt_tokenizer.pad_token_id
    model.resize_token_embeddings(model.config.vocab_size + num_added_toks)
    training_args = TrainingArguments(str(tmp_path / "output" / "gpt"), per_device_train_batch_size=1,
                                      per_device_eval_batch_size=1, learning_rate=2e-5, num_train_epochs=1,
                                      logging_steps=200, evaluation_strategy='epoch', save_strategy='epoch')
    trainer = Trainer(model=model, train_dataset=dataset_train, eval_dataset=dataset_val,
                      compute_metrics=compute_metrics, args=training_args)
    result = trainer.train()
    assert result.global_step == dataset_train.get_dataset_size() and result.metrics["train_graphs"] <= 3

    def evaluate_fn(model, test_dataset):
        epoch_acc, step_total = 0, 0
        model.set_train(False)
        for batch in test_dataset.create_dict_iterator():
            label = batch.pop('labels')
            logits = model(**batch).logits
            epoch_acc += metric.compute(predictions=np.argmax(logits.asnumpy(), axis=-1),
                                        references=label.asnumpy())['accuracy']
            step_total += 1
        return epoch_acc / step_total

    acc = evaluate_fn(model, dataset_test)
    assert 0.0 <= acc <= 1.0 and (tmp_path / "output" / "gpt" / f"checkpoint-{result.global_step}").is_dir()
