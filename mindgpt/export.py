"""Export a model for inference outside Python's mindgpt: a MINDIR graph of logits(input_ids, attention_mask).

The file holds the weights and the compiled graph; `nn.GraphCell(mindspore.load(path))` runs it. Batch and
sequence length stay dynamic unless fixed (`batch_size`, `seq_len`), so one file serves every input shape
up to n_positions. The LM's graph returns logits [B, T, vocab]; a classifier's, logits [B, num_labels].
"""
from __future__ import annotations

import os

import mindspore as ms
from mindspore import Tensor, nn

from .checkpoint import find_weights_file
from .config import CONFIG_NAME, GPTConfig
from .model import GPTForSequenceClassification, GPTLMHeadModel

FORMATS = ("MINDIR",)
HEADS = ("lm", "classifier")


class Logits(nn.Cell):
    """The model's logits (a multiple-choice model's choice scores) as the graph's one output.
    auto_prefix=False keeps the model's parameter names."""

    def __init__(self, model: nn.Cell):
        super().__init__(auto_prefix=False)
        self.model = model
        fields = model.output_class.fields
        self.at = model.output_class.index("mc_logits" if "mc_logits" in fields else "logits")

    def construct(self, input_ids, attention_mask):
        return self.model(input_ids, attention_mask)[self.at]


def load_for_export(path: str | os.PathLike, head: str | None = None, allow_new_head: bool = False) -> nn.Cell:
    """The model of a pretrained directory with the `head` to export (`lm` or `classifier`; default: the class
    it was saved as). A head the checkpoint lacks would be exported with random weights: the export would
    succeed and the model answer noise, so it is refused unless `allow_new_head`."""
    if head is None:
        config = GPTConfig.from_pretrained(os.path.join(find_weights_file(path)[0], CONFIG_NAME))
        head = "classifier" if "OpenAIGPTForSequenceClassification" in (config.architectures or []) else "lm"
    if head not in HEADS:
        raise ValueError(f"head {head!r} is not one of {HEADS}")
    cls = GPTForSequenceClassification if head == "classifier" else GPTLMHeadModel
    model, info = cls.from_pretrained(path, output_loading_info=True)
    if info["missing_keys"] and not allow_new_head:
        raise ValueError(f"{os.fspath(path)} has no trained {head} head (it lacks {', '.join(info['missing_keys'])}):"
                         " the export would score with random weights. Export a fine-tuned checkpoint, or pass "
                         "--allow-new-head (allow_new_head=True) to export the untrained head anyway")
    return model


def export(model: nn.Cell, path: str | os.PathLike, batch_size: int | None = None, seq_len: int | None = None,
           file_format: str = "MINDIR") -> str:
    """Write `model`'s inference graph (int32 input_ids and attention_mask) to `path`; returns the path.

    `path` gets the `.mindir` suffix if it lacks one (MindSpore adds it regardless).
    """
    if file_format not in FORMATS:
        raise ValueError(f"export format {file_format!r} is not supported; use one of {FORMATS}")
    if seq_len is not None and not 0 < seq_len <= model.config.n_positions:
        raise ValueError(f"seq_len={seq_len} must be in [1, n_positions={model.config.n_positions}]")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    path = os.fspath(path)
    stem = path[: -len(".mindir")] if path.endswith(".mindir") else path
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    model.set_train(False)
    example = Tensor(shape=[batch_size, seq_len], dtype=ms.int32)  # None = a dynamic dimension
    ms.export(Logits(model), example, example, file_name=stem, file_format=file_format)
    return stem + ".mindir"
