"""from_pretrained / save_pretrained: checkpoint files and weight names, no mathematics.

A checkpoint is a directory in Hugging Face's layout: `config.json` plus the weights as `model.safetensors`
(what mindgpt writes; sharded `model.safetensors.index.json` too), `pytorch_model.bin` (read without torch)
or MindSpore's `mindspore_model.ckpt`. mindgpt's parameter names are HF's openai-gpt names, so the mapping is
the identity up to the `transformer.` prefix that head models add; the LM head is tied and never stored.
Files keep HF's layouts; the weights held otherwise in memory are listed once, in `TRANSPOSED`.
"""
from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

import numpy as np

from .config import CONFIG_NAME, GPTConfig
from .dropout import is_rng_state
from .io import atomic_path

logger = logging.getLogger("mindgpt")

SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
TORCH_NAME = "pytorch_model.bin"
MINDSPORE_NAME = "mindspore_model.ckpt"
WEIGHT_FILES = (SAFETENSORS_NAME, SAFETENSORS_INDEX_NAME, TORCH_NAME, MINDSPORE_NAME)

BASE_PREFIX = "transformer."
# The weights held in memory transposed from their files' layout, by their name inside a decoder block `h.<i>.`
# (as nanoGPT's `from_pretrained` lists its `transposed` weights). Files keep HF's layouts: GPT-1's Conv1D
# [in, out] for the blocks' layers, torch's Linear [out, in] for the heads (`score`, `multiple_choice_head`).
# The blocks' widening layers are held [out, in] instead (see `model.Linear`): `model` builds them from this
# list, and every reader and writer here transposes exactly these (`is_transposed`).
TRANSPOSED = ("attn.c_attn.weight", "mlp.c_fc.weight")
BLOCK_WEIGHT = re.compile(r"h\.\d+\.(.+)")  # a decoder block's weight; the group is its name inside the block
# Weights of the heads any GPT-1 class may carry: in another class's checkpoint they are reported, not errors.
HEAD_WEIGHTS = ("lm_head.weight", "score.weight", "multiple_choice_head.summary.weight",
                "multiple_choice_head.summary.bias")
# Buffers older HF versions stored (the causal mask, position ids): not weights, skipped.
BUFFER_PATTERN = re.compile(r"(h\.\d+\.attn\.(bias|masked_bias)|position_ids)$")
HF_ARCHITECTURES = {
    "GPTModel": "OpenAIGPTModel",
    "GPTLMHeadModel": "OpenAIGPTLMHeadModel",
    "GPTForSequenceClassification": "OpenAIGPTForSequenceClassification",
    "GPTDoubleHeadsModel": "OpenAIGPTDoubleHeadsModel",
}
# What a shape mismatch means, by (tensor, the first dimension that differs).
N_EMBD_HINT = "n_embd differs: build the model from the checkpoint's own config.json"
SHAPE_HINTS = {
    ("tokens_embed.weight", 0): "the vocabularies differ: load with the checkpoint's vocab_size, then "
                                "resize_token_embeddings(n)",
    ("tokens_embed.weight", 1): N_EMBD_HINT,
    ("positions_embed.weight", 0): "n_positions differs: keep the checkpoint's n_positions",
    ("positions_embed.weight", 1): N_EMBD_HINT,
    ("score.weight", 0): "num_labels differs: pass the checkpoint's num_labels, or load it as GPTLMHeadModel to "
                         "start a new classifier",
    ("score.weight", 1): N_EMBD_HINT,
}


def canonical_name(name: str) -> str:
    """The name without the head models' `transformer.` prefix: one key space for every class."""
    return name[len(BASE_PREFIX):] if name.startswith(BASE_PREFIX) else name


def is_head_weight(name: str) -> bool:
    return canonical_name(name) in HEAD_WEIGHTS


def is_transposed(name: str) -> bool:
    """Whether the weight `name` (any class's spelling, e.g. `transformer.h.3.mlp.c_fc.weight`) is held
    transposed from its file layout: a block weight listed in `TRANSPOSED`."""
    block_weight = BLOCK_WEIGHT.fullmatch(canonical_name(name))
    return block_weight is not None and block_weight.group(1) in TRANSPOSED


# --- reading ---------------------------------------------------------------------------------------
def find_weights_file(path: str | os.PathLike) -> tuple[str, str]:
    """(directory, weights file) for a checkpoint directory, a weights file inside one, or its config.json."""
    path = os.fspath(path)
    if os.path.basename(path) == CONFIG_NAME and os.path.isfile(path):
        path = os.path.dirname(path) or "."  # the weights lie beside the config
    if os.path.isfile(path):
        return os.path.dirname(path) or ".", path
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"no checkpoint directory at {path!r}. mindgpt reads local directories only: download a hub "
            "model first (e.g. `huggingface-cli download openai-community/openai-gpt --local-dir DIR`) "
            "and pass DIR"
        )
    for name in WEIGHT_FILES:
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return path, candidate
    raise FileNotFoundError(f"{path} holds no weights file; expected one of {', '.join(WEIGHT_FILES)}")


def read_weights(path: str) -> dict[str, np.ndarray]:
    """Every tensor in a weights file as a numpy array; a corrupt or truncated file is a ValueError."""
    if path.endswith(".json"):
        return _read_safetensors_index(path)
    if path.endswith(".bin") or path.endswith(".pt") or path.endswith(".pth"):
        from .torch_pickle import load_torch_state_dict

        return load_torch_state_dict(path)
    reader = _read_ckpt if path.endswith(".ckpt") else _read_safetensors
    try:
        return reader(path)
    except FileNotFoundError:
        raise
    except Exception as e:  # safetensors and MindSpore each raise their own kinds on bad bytes
        raise ValueError(f"cannot read weights from {path} (truncated or corrupt?): {e}") from e


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(path)


def _read_safetensors_index(path: str) -> dict[str, np.ndarray]:
    """The tensors of every shard a `model.safetensors.index.json` names. Shards must be .safetensors files in
    the index's folder: a name like ../../x would read any file on the machine, an index naming an index loop."""
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); is the weights index truncated?") from e
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise ValueError(f'{path} has no "weight_map" object (tensor name -> shard file): it is not a safetensors '
                         "weights index")
    folder = os.path.abspath(os.path.dirname(path))
    state: dict[str, np.ndarray] = {}
    for shard in sorted(set(map(str, index["weight_map"].values()))):
        shard_path = os.path.abspath(os.path.join(folder, shard))
        if os.path.dirname(shard_path) != folder or not shard.endswith(".safetensors"):
            raise ValueError(f"{path} names the shard {shard!r}; shards must be .safetensors files beside the "
                             "index (e.g. model-00001-of-00002.safetensors)")
        state.update(read_weights(shard_path))
    return state


def _read_ckpt(path: str) -> dict[str, np.ndarray]:
    import mindspore as ms

    return {name: param.asnumpy() for name, param in ms.load_checkpoint(path).items()}


# --- matching names and shapes ---------------------------------------------------------------------
def load_state(model, state: dict[str, np.ndarray], source: str = "checkpoint") -> dict[str, list[str]]:
    """Copy `state` into `model`'s parameters.

    Head weights the file lacks stay freshly initialized (`missing_keys`); head weights of another class
    are skipped (`unexpected_keys`). A transformer weight missing from the file, an unknown tensor name or
    a shape mismatch is a ValueError naming the tensor.
    """
    params = {canonical_name(name): p for name, p in weight_parameters(model).items()}
    tensors = {canonical_name(k): v for k, v in state.items() if not BUFFER_PATTERN.search(k)}
    if "tokens_embed.weight" not in tensors and "lm_head.weight" in tensors:  # HF's double-heads model
        tensors["tokens_embed.weight"] = tensors.pop("lm_head.weight")    # stores the tied table as lm_head
    unknown = [k for k in tensors if k not in params and k not in HEAD_WEIGHTS]
    if unknown:
        raise ValueError(
            f"{source} holds tensor {unknown[0]!r} that no {type(model).__name__} of this config has "
            f"({len(unknown)} such tensors; is n_layer or the architecture different?)"
        )
    missing = [k for k in params if k not in tensors]
    missing_base = [k for k in missing if k not in HEAD_WEIGHTS]
    if missing_base:
        raise ValueError(f"{source} lacks the transformer weight {missing_base[0]!r} "
                         f"({len(missing_base)} missing); it is not a complete GPT-1 checkpoint")
    for name, value in tensors.items():
        if name in params:
            _assign(params[name], value, name, source)
    return {
        "missing_keys": missing,
        "unexpected_keys": [k for k in tensors if k not in params and k != "lm_head.weight"],
    }


def _assign(param, value: np.ndarray, name: str, source: str) -> None:
    from mindspore import Tensor

    transposed = is_transposed(name)
    expected = tuple(param.shape)[::-1] if transposed else tuple(param.shape)
    if tuple(value.shape) != expected:
        differs = next((d for d, (a, b) in enumerate(zip(value.shape, expected)) if a != b), None)
        hint = SHAPE_HINTS.get((name, differs), "the checkpoint was made with a different config")
        raise ValueError(f"{source}: tensor {name!r} has shape {tuple(value.shape)}, the model expects "
                         f"{expected}; {hint}")
    param.set_data(Tensor(np.ascontiguousarray(value.T if transposed else value)).astype(param.dtype))


def weight_parameters(model) -> dict:
    """The model's weights by name: every parameter except the dropout counters (training state, which
    the resume checkpoints keep and the files for users leave out)."""
    return {name: p for name, p in model.parameters_dict().items() if not is_rng_state(name)}


# --- writing ---------------------------------------------------------------------------------------
def state_dict(model) -> dict[str, np.ndarray]:
    """A snapshot of the weights in the checkpoints' (HF) layout (`TRANSPOSED` turned back); copies, since
    `asnumpy` may alias memory that training keeps updating."""
    return {name: np.ascontiguousarray(p.asnumpy().T) if is_transposed(name) else p.asnumpy().copy()
            for name, p in weight_parameters(model).items()}


def weights_digest(model) -> str:
    """sha256 over every parameter's name and bytes: equal digests mean bit-identical weights (e.g. replicas)."""
    import hashlib

    digest = hashlib.sha256()
    for name, value in sorted(state_dict(model).items()):
        digest.update(name.encode() + b"\0" + np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def save_weights(state: dict[str, np.ndarray], path: str) -> None:
    """Write a weights file atomically, in the format its name says (.safetensors or .ckpt)."""
    with atomic_path(path) as tmp:
        if path.endswith(".ckpt"):
            import mindspore as ms
            from mindspore import Tensor

            ms.save_checkpoint([{"name": k, "data": Tensor(v)} for k, v in state.items()], tmp)
        else:
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, tmp, metadata={"format": "np"})


class PretrainedMixin:
    """`from_pretrained` / `save_pretrained` for the model classes (which define `config`)."""

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, config: GPTConfig | None = None,
                        output_loading_info: bool = False, **config_overrides: Any):
        """Load a checkpoint directory (mindgpt's or HF's openai-gpt) into this class.

        `config_overrides` change config fields first (e.g. `num_labels=3`, `lm_coef=0`). Weights new to
        this class are initialized and named in a warning, as are the checkpoint's unused head weights.
        """
        directory, weights_file = find_weights_file(path)
        if config is None:
            config = GPTConfig.from_pretrained(os.path.join(directory, CONFIG_NAME), **config_overrides)
        model = cls(config)
        info = load_state(model, read_weights(weights_file), source=weights_file)
        if info["missing_keys"]:
            logger.warning("%s: weights newly initialized (not in %s): %s; train them before use",
                           cls.__name__, weights_file, ", ".join(info["missing_keys"]))
        if info["unexpected_keys"]:
            logger.warning("%s: unused weights of %s (another head): %s", cls.__name__, weights_file,
                           ", ".join(info["unexpected_keys"]))
        return (model, info) if output_loading_info else model

    def save_pretrained(self, directory: str | os.PathLike, weights_format: str = "safetensors") -> str:
        """Write `config.json` and the weights (`safetensors`, or MindSpore `ckpt`); returns the weights path."""
        names = {"safetensors": SAFETENSORS_NAME, "ckpt": MINDSPORE_NAME}
        if weights_format not in names:
            raise ValueError(f"weights_format {weights_format!r} is not one of {sorted(names)}")
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        config = GPTConfig.from_dict(self.config.to_dict())
        config.architectures = [HF_ARCHITECTURES[type(self).__name__]]
        path = os.path.join(directory, names[weights_format])
        save_weights(state_dict(self), path)
        config.save_pretrained(directory)
        return path
