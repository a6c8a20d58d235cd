"""The mathematics of GPT-1: masked self-attention decoder blocks and the task heads.

Cells and weights carry Hugging Face's openai-gpt names (`h.0.attn.c_attn.weight`) and, in memory, HF's layouts
(the blocks' Conv1D [in, out], the heads' torch Linear [out, in]) except the weights `checkpoint.TRANSPOSED`
lists (the blocks' widening layers, held [out, in]: see `Linear`); checkpoint files keep HF's layouts, so they
map one to one. Every cell compiles in GRAPH_MODE and runs in PyNative. Forward signatures and outputs are
transformers' (named outputs that are also tuples, the loss first when labels are given; see `outputs.py`).

The losses are the paper's: L1 the language-model loss, L2 the task loss, L3 = L2 + lm_coef * L1.
"""
from __future__ import annotations

import functools
import inspect
import math
import time
from typing import NamedTuple

import numpy as np
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import Normal, initializer

from .checkpoint import TRANSPOSED, PretrainedMixin
from .config import GPTConfig
from .dropout import Dropout
from .outputs import (BaseModelOutput, CausalLMOutput, DoubleHeadsModelOutput, ModelOutput,
                      SequenceClassifierOutput)

IGNORE_INDEX = -100  # label value the losses skip, as in HF and PyTorch
CAUSAL_FILL = -1e4  # what GPT-1 writes over future positions before the softmax
MASK_FILL = float(np.finfo(np.float32).min)  # what HF adds at padding positions


# --- building blocks ------------------------------------------------------------------------------
class Linear(nn.Cell):
    """y = x W (+ b) on the flattened leading axes, as one 2-D MatMul (no weight broadcast) and a BiasAdd.

    With `weight_out_in` the weight is held [out, in] and multiplied with MatMul(transpose_b), else [in, out].
    The heads (torch's Linear in HF) and the blocks' widening layers (`checkpoint.TRANSPOSED`) hold [out, in]:
    on CPU, MindSpore's MatMul runs a widening layer's forward and weight gradient faster in that orientation.
    The other block layers hold GPT-1's Conv1D [in, out] (see `conv1d`).
    BiasAdd rather than `y + b`: on CPU a broadcasting Add keeps several times its output alive for the rest of
    the step; BiasAdd, like a same-shape Add, does not.
    """

    def __init__(self, n_in: int, n_out: int, config: GPTConfig, bias: bool = True, weight_out_in: bool = False):
        super().__init__()
        shape = (n_out, n_in) if weight_out_in else (n_in, n_out)
        self.weight = Parameter(initializer(Normal(config.initializer_range), shape, ms.float32))
        self.bias = Parameter(initializer("zeros", (n_out,), ms.float32)) if bias else None
        self.matmul = ops.MatMul(transpose_b=weight_out_in)
        self.weight_out_in = weight_out_in
        self.n_out = n_out

    def construct(self, x):
        y = self.matmul(x.reshape(-1, x.shape[-1]), self.weight)
        if self.bias is not None:
            y = ops.bias_add(y, self.bias.astype(y.dtype))  # fp16 training (`to_float`) casts y, not the bias
        return y.reshape(x.shape[:-1] + (self.n_out,))


def conv1d(n_in: int, n_out: int, config: GPTConfig, name: str) -> Linear:
    """The decoder-block layer `name` (e.g. "mlp.c_fc"), a Conv1D in GPT-1 and HF: held [in, out] as its files
    store it, or [out, in] where `checkpoint.TRANSPOSED` lists it."""
    return Linear(n_in, n_out, config, weight_out_in=f"{name}.weight" in TRANSPOSED)


class Embedding(nn.Cell):
    """A lookup table named `weight`, as in HF; the LM head reuses it (tied weights)."""

    def __init__(self, n_rows: int, n_embd: int, config: GPTConfig):
        super().__init__()
        self.weight = Parameter(initializer(Normal(config.initializer_range), (n_rows, n_embd), ms.float32))

    def construct(self, ids):
        return ops.gather(self.weight, ids, 0)


class LayerNorm(nn.Cell):
    """LayerNorm over the last axis with HF's parameter names (`weight`, `bias`)."""

    def __init__(self, n_embd: int, eps: float):
        super().__init__()
        self.weight = Parameter(initializer("ones", (n_embd,), ms.float32))
        self.bias = Parameter(initializer("zeros", (n_embd,), ms.float32))
        self.norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x):
        return self.norm(x, self.weight, self.bias)[0]


_GELU_A = 2 * 0.7978845608028654  # 2·sqrt(2/pi)
_GELU_B = _GELU_A * 0.044715


def gelu_tanh(x):
    """GPT-1's GELU, 0.5·x·(1 + tanh(u)) with u = sqrt(2/pi)·(x + 0.044715·x³), written as x·sigmoid(2u): the
    same function, exact on CPU (ops.tanh is not). 2u = x·(A + B·x²) with the constants folded: four Muls
    instead of six, and fewer in the backward."""
    return x * ops.sigmoid(x * (_GELU_A + _GELU_B * (x * x)))


def silu(x):
    return x * ops.sigmoid(x)


ACTIVATION_FUNCTIONS = {"gelu": gelu_tanh, "gelu_new": gelu_tanh, "relu": ops.relu, "silu": silu, "swish": silu}


class GELU(nn.Cell):
    """`gelu_tanh` for training: its backward recomputes the sigmoid from x rather than keeping the forward's
    intermediates. Differentiated automatically, each layer would hold three more [tokens, 4·n_embd] tensors
    until its backward ran; MindSpore's fused GeLU kernel keeps as little but is far slower on CPU (measured in
    benchmarks/README.md, change log). Only training uses the cell: in the compiled graph a cell with its own
    backward is a sub-graph call, which slowed cached decoding.
    """

    def construct(self, x):
        return gelu_tanh(x)

    def bprop(self, x, out, dout):
        """d/dx x·σ(z) = σ + x·z'·σ(1 − σ), with z = x·(A + B·x²) and z' = A + 3B·x²."""
        squared = x * x
        s = ops.sigmoid(x * (_GELU_A + _GELU_B * squared))
        slope = x * (_GELU_A + (3 * _GELU_B) * squared)
        return (dout * (s + slope * (s - s * s)),)


# --- the decoder block ---------------------------------------------------------------------------
class Attention(nn.Cell):
    """Masked multi-head self-attention: position t attends to positions <= t that are not padding."""

    def __init__(self, config: GPTConfig, site: str = "attn"):
        super().__init__()
        n_embd, n_pos = config.n_embd, config.n_positions
        self.n_head = config.n_head
        self.head_dim = n_embd // config.n_head
        self.c_attn = conv1d(n_embd, 3 * n_embd, config, "attn.c_attn")
        self.c_proj = conv1d(n_embd, n_embd, config, "attn.c_proj")
        self.attn_dropout = Dropout(config.attn_pdrop, f"{site}.attn_dropout")
        self.resid_dropout = Dropout(config.resid_pdrop, f"{site}.resid_dropout")
        self.future = future_mask(n_pos)
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def split_heads(self, x, one_position=False):
        """[B, t, C] -> [B, n_head, t, head_dim], by a Split and a Stack rather than a reshape and a Transpose:
        MindSpore's CPU Transpose keeps an 8-byte index per element for the rest of the run (eight such kernels a
        layer with the backward); Split, Stack and Concat copy blocks with none.
        `one_position`: t is 1 (a decoding step, whose shapes are static), so a reshape does it; a graph exported
        with a dynamic length must not take that path, hence a flag rather than a test of t."""
        if one_position:
            return x.reshape(x.shape[0], self.n_head, 1, self.head_dim)
        return ops.stack(ops.split(x, self.head_dim, axis=2), 1)

    def merge_heads(self, a, one_position=False):
        """[B, n_head, t, head_dim] -> [B, t, C], the inverse of `split_heads` (by Unstack and Concat, for the
        same reason)."""
        if one_position:
            return a.reshape(a.shape[0], 1, self.n_head * self.head_dim)
        return ops.concat(ops.unstack(a, 1), 2)

    def heads(self, x, one_position=False):
        """Queries, keys and values of x [B, t, C], each [B, n_head, t, head_dim]."""
        q, k, v = ops.split(self.c_attn(x), x.shape[-1], axis=2)
        return (self.split_heads(q, one_position), self.split_heads(k, one_position),
                self.split_heads(v, one_position))

    def attend(self, q, k, v, future, mask_bias, one_position=False):
        """Mix the values v by the queries' softmax scores over the keys k; `future` [t, keys] marks the
        keys each query must not see (None: `mask_bias` already hides them). The one attention computation of
        the full pass and of decoding (`one_position`: see `split_heads`). Returns (output, attention weights
        after dropout, as HF's output_attentions gives them)."""
        # scale q [.., t, head_dim] rather than the scores [.., t, keys]: less work whenever head_dim < keys, and
        # bit-identical for a power-of-two head_dim (GPT-1's 64)
        w = self.scores(q * (1.0 / math.sqrt(self.head_dim)), k)
        if future is not None:
            w = ops.masked_fill(w, future, CAUSAL_FILL)
        if mask_bias is not None:
            w = w + mask_bias
        # in training, exp(log_softmax): LogSoftmax has a backward kernel of its own, while Softmax's backward is
        # composed of broadcasting kernels that keep an index of every element of the scores; without a backward,
        # one Softmax kernel is the cheaper
        w = ops.exp(ops.log_softmax(w, -1)) if self.training else ops.softmax(w, -1)
        w = self.attn_dropout(w)
        return self.resid_dropout(self.c_proj(self.merge_heads(self.mix(w, v), one_position))), w

    def construct(self, x, future=None, mask_bias=None):
        """`future` and `mask_bias` come from the model (`GPTModel.attention_masks`); alone, the layer is causal."""
        if future is None:
            future = self.future[:x.shape[1], :x.shape[1]]
        q, k, v = self.heads(x)
        return self.attend(q, k, v, future, mask_bias)

    def extend(self, x, cache, layer, index, mask_bias):
        """Attention of t new positions x [B, t, C] over everything decoded so far: their keys and values are
        written into `cache` (a `KVCache`, this being its `layer`) at columns index..index+t-1, then the queries
        attend over all n_positions columns, `mask_bias` hiding the padding and the unwritten ones."""
        one_position = x.shape[1] == 1  # a decoding step's shapes are static
        q, k, v = self.heads(x, one_position)
        keys, values = cache.write(layer, k, v, index)
        return self.attend(q, keys, values, None, mask_bias, one_position)


class MLP(nn.Cell):
    def __init__(self, config: GPTConfig, site: str = "mlp"):
        super().__init__()
        self.c_fc = conv1d(config.n_embd, 4 * config.n_embd, config, "mlp.c_fc")
        self.c_proj = conv1d(4 * config.n_embd, config.n_embd, config, "mlp.c_proj")
        self.act = ACTIVATION_FUNCTIONS[config.afn]
        self.training_act = GELU() if self.act is gelu_tanh else None
        self.dropout = Dropout(config.resid_pdrop, f"{site}.dropout")

    def construct(self, x):
        h = self.c_fc(x)
        h = self.training_act(h) if self.training and self.training_act is not None else self.act(h)
        return self.dropout(self.c_proj(h))


class Block(nn.Cell):
    """Post-LayerNorm decoder block, as in GPT-1: h = LN(n + MLP(n)), n = LN(x + Attn(x))."""

    def __init__(self, config: GPTConfig, site: str = "block"):
        super().__init__()
        self.attn = Attention(config, f"{site}.attn")
        self.ln_1 = LayerNorm(config.n_embd, config.layer_norm_epsilon)
        self.mlp = MLP(config, f"{site}.mlp")
        self.ln_2 = LayerNorm(config.n_embd, config.layer_norm_epsilon)

    def construct(self, x, future=None, mask_bias=None):
        """(the block's output, its attention weights)."""
        a, w = self.attn(x, future, mask_bias)
        return self.feed_forward(x, a), w

    def extend(self, x, cache, layer, index, mask_bias):
        """The block over new positions only, reading and updating `layer`'s keys and values in `cache`."""
        return self.feed_forward(x, self.attn.extend(x, cache, layer, index, mask_bias)[0])

    def feed_forward(self, x, a):
        """The rest of the block once the attention output `a` of `x` is known."""
        n = self.ln_1(x + a)
        return self.ln_2(n + self.mlp(n))


# --- models --------------------------------------------------------------------------------------
class GPTPreTrainedModel(PretrainedMixin, nn.Cell):
    """The config, HF's calling conventions and the embedding accessors shared by every model class.

    A Python call `model(...)` resolves HF's output flags (`output_attentions`, `output_hidden_states`,
    `return_dict`) from the config, checks the inputs, makes config changes take effect, runs the compiled
    graph and returns the named output (`output_class`). Graphs calling a model (the train step, export, a
    head calling its transformer) see `construct`'s fixed-length tuple instead (see `outputs.py`).
    """

    output_class: type[ModelOutput] = BaseModelOutput
    # Config fields the cells are built from: a later change cannot take effect, so it is an error.
    built_from = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "afn", "resid_pdrop", "embd_pdrop",
                  "attn_pdrop", "layer_norm_epsilon")
    # Config fields the compiled graph reads as constants: a change compiles the graph again at the next call.
    read_by_graph = ("pad_token_id", "cls_token_id", "eos_token_id", "lm_coef", "problem_type")

    def __init__(self, config: GPTConfig):
        super().__init__()
        config.check_buildable()
        self.config = config
        self.config_seen = self.config_values()

    @property
    def base_model(self) -> "GPTModel":
        return self if isinstance(self, GPTModel) else self.transformer

    # --- HF's call -------------------------------------------------------------------------------
    def __call__(self, *args, return_dict: bool | None = None, **kwargs):
        if _nested_calls:  # a head's transformer in PyNative: the raw tuple, as in a graph
            return super().__call__(*args, **kwargs)
        arguments = inspect.signature(self.construct).bind(*args, **kwargs).arguments
        for flag in ("output_attentions", "output_hidden_states"):
            if arguments.get(flag) is None:
                arguments[flag] = bool(getattr(self.config, flag))
        self.check_inputs(arguments)
        self.apply_config_changes()
        _nested_calls.append(self)
        try:
            items = super().__call__(**arguments)
        finally:
            _nested_calls.pop()
        output = self.output_class.from_graph(items)
        return output if (self.config.return_dict if return_dict is None else return_dict) else output.to_tuple()

    def check_inputs(self, arguments: dict) -> None:
        """Refuse, on the host and before the graph runs, what the graph would misread or fail on.

        The token table's Gather reads a negative id as a row from the end (id -1 is id V-1, silently) and fails
        on one past the end, after which graph mode refuses every later call of that shape until the process
        restarts; the losses would score a negative label as another class. So each id-like input is checked
        against what it indexes (min and max of a numpy copy) and every shape against input_ids'. The compiled
        train step calls `construct` and skips this, so training pays nothing for it.
        """
        given = {name: value for name, value in arguments.items()
                 if value is not None and name not in ("output_attentions", "output_hidden_states")}
        for name, value in given.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"{name} must be a mindspore.Tensor, got a {type(value).__name__}; wrap it: "
                                f"mindspore.Tensor({name})")
        if ("input_ids" in given) == ("inputs_embeds" in given):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        source = "input_ids" if "input_ids" in given else "inputs_embeds"
        shape = self.input_shape(source, given[source])
        against = f"{source} of shape {tuple(given[source].shape)}"
        for name, (shapes, limit) in self.input_rules(shape, given).items():
            if name in given:
                check_input(name, given[name], against, shapes, limit)

    def input_shape(self, name: str, value: Tensor) -> tuple:
        """The [..., T] shape of the call (inputs_embeds' without its width), refused when empty or longer than
        the context: past n_positions the position table has no row."""
        n_embd, n = self.config.n_embd, self.config.n_positions
        shape = tuple(value.shape)
        if name == "inputs_embeds":
            if len(shape) < 2 or shape[-1] != n_embd:
                raise ValueError(f"inputs_embeds must end in n_embd={n_embd}, got shape {shape}")
            shape = shape[:-1]
        if not shape or 0 in shape:
            raise ValueError(f"{name} has shape {tuple(value.shape)}: no tokens to run; pass at least one "
                             "sequence of at least one token, shaped [batch, length]")
        if shape[-1] > n:
            raise ValueError(f"{name} holds sequences of {shape[-1]} tokens, more than the model's context of "
                             f"n_positions={n}; truncate them to {n} tokens (e.g. tokenizer(texts, "
                             f"truncation=True, max_length={n}))")
        return shape

    def input_rules(self, shape: tuple, given: dict) -> dict[str, tuple[tuple, IdRange | None]]:
        """Per input: the shapes that fit a call of [..., T] `shape` and, for ids, the range of what they index.
        Segment and position ids may be one row shared by the batch, as in HF."""
        config, t = self.config, shape[-1]
        tokens = IdRange(config.vocab_size, "the vocabulary [0, vocab_size={})", False,
                         "ids from another tokenizer, or one with added tokens? model.resize_token_embeddings("
                         "len(tokenizer)) grows the table; padding takes a real id (pad_token_id) and "
                         "attention_mask 0")
        row = (shape, (1, t), (t,))
        rules = {
            "input_ids": ((shape,), tokens),
            "attention_mask": ((shape,), None),
            "token_type_ids": (row, tokens._replace(fix="GPT-1 looks segment ids up in the token table, so they "
                                                        "are token ids too (mindgpt.tasks writes 0 and 1)")),
            "position_ids": (row, IdRange(config.n_positions, "the positions [0, n_positions={})", False,
                                          "positions count from 0 within each sequence")),
            "mc_token_ids": ((shape[:-1],), IdRange(t, "the sequence's positions [0, {})", False,
                                                    "each choice is read at one of its own positions, e.g. its "
                                                    "[EOS]")),
            "mc_labels": ((shape[:-2], (math.prod(shape[:-2]),)),
                          IdRange(shape[-2] if len(shape) > 1 else 1, "the choices [0, n_choices={})", True,
                                  "a label is the index of the right choice, or -100 to leave the example out")),
            "labels": ((shape,), IdRange(config.vocab_size, "the vocabulary [0, vocab_size={})", True,
                                         "labels are the token ids to predict, or -100 to leave a position out")),
        }
        return rules

    def config_values(self) -> tuple[tuple, tuple]:
        config = self.config
        return (tuple(getattr(config, f) for f in self.built_from),
                tuple(getattr(config, f) for f in self.read_by_graph))

    def apply_config_changes(self) -> None:
        """A config field changed since the last call: recompile for a graph-read one, refuse a built-from one."""
        built, read = self.config_values()
        if built != self.config_seen[0]:
            name, old, new = next(c for c in zip(self.built_from, self.config_seen[0], built) if c[1] != c[2])
            hint = "call model.resize_token_embeddings(n)" if name == "vocab_size" else \
                f"build a new model from the config (e.g. {type(self).__name__}(config))"
            raise ValueError(f"config.{name} changed from {old!r} to {new!r} after the model was built; the model's "
                             f"cells are built from it, so the change cannot take effect: {hint}")
        if read != self.config_seen[1]:
            self.config.validate()
            self.config_seen = (built, read)
            self.recompile()

    def recompile(self) -> None:
        """Make the next call compile the graph again (new weight shapes or config constants).

        MindSpore caches a cell's compiled graph under its creation time (and the inputs' shapes), so a new
        creation time is a new graph.
        """
        for _, cell in self.cells_and_names():
            if isinstance(cell, GPTPreTrainedModel):
                object.__setattr__(cell, "_create_time", time.time_ns())

    # --- embeddings ------------------------------------------------------------------------------
    def get_input_embeddings(self) -> "Embedding":
        return self.base_model.tokens_embed

    def set_input_embeddings(self, embeddings: "Embedding") -> None:
        """Use another token table (a cell with a `weight` [vocab, n_embd]); the LM head stays tied to it."""
        rows, width = embeddings.weight.shape
        if width != self.config.n_embd:
            raise ValueError(f"the new embeddings are {width} wide; this model's n_embd is {self.config.n_embd}")
        self.base_model.tokens_embed = embeddings
        self.set_vocab_size(rows)

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> "Embedding":
        """Grow (or shrink) the token table to `new_num_tokens` rows, e.g. after adding [BOS]/[SEP]/[EOS], and
        return it, as transformers does. Old rows are kept. New rows, as transformers initializes them: drawn
        from a normal with the old rows' mean and 1e-9 times their covariance (the mean alone when that is not
        positive definite), or from N(0, initializer_range) with `mean_resizing=False`."""
        table = self.get_input_embeddings()
        if new_num_tokens is None:
            return table
        if not isinstance(new_num_tokens, int) or isinstance(new_num_tokens, bool) or new_num_tokens <= 0:
            raise ValueError(f"resize_token_embeddings needs a positive token count, got {new_num_tokens!r}")
        if pad_to_multiple_of is not None:
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        old = table.weight.asnumpy()
        added = new_num_tokens - old.shape[0]
        rows = old[:new_num_tokens]
        if added > 0:
            rows = np.concatenate([rows, new_rows(old, added, mean_resizing, self.config.initializer_range)])
        table.weight.set_data(Tensor(rows.astype(old.dtype)))
        self.set_vocab_size(new_num_tokens)
        return table

    def set_vocab_size(self, rows: int) -> None:
        self.config.vocab_size = rows
        self.config_seen = ((rows,) + self.config_seen[0][1:], self.config_seen[1])
        self.recompile()


INTEGER_DTYPES = (ms.int8, ms.int16, ms.int32, ms.int64, ms.uint8, ms.uint16, ms.uint32, ms.uint64)


class IdRange(NamedTuple):
    """What an id-like model input indexes (see `GPTPreTrainedModel.check_inputs`)."""

    high: int  # ids lie in [0, high)
    what: str  # the range in words, formatted with `high`
    ignore: bool  # -100 is allowed too: the losses skip it
    fix: str


def check_input(name: str, value: Tensor, against: str, shapes: tuple, limit: IdRange | None) -> None:
    """Refuse an input whose shape is none of `shapes` or, for ids, a value outside `limit`: a ValueError naming
    the input, the bad shape or value (and where it is), the limit and the fix; a TypeError for float ids."""
    if tuple(value.shape) not in shapes:
        allowed = " or ".join(str(s) for s in dict.fromkeys(shapes))
        raise ValueError(f"{name} has shape {tuple(value.shape)}; to fit {against} it must be {allowed}")
    if limit is None:
        return
    if value.dtype not in INTEGER_DTYPES:
        raise TypeError(f"{name} must hold integers, got dtype {value.dtype}; cast it: "
                        f"{name}.astype(mindspore.int32)")
    ids = value.asnumpy()
    counted = ids[ids != IGNORE_INDEX] if limit.ignore else ids
    if counted.size == 0 or (counted.min() >= 0 and counted.max() < limit.high):
        return
    bad = counted.min() if counted.min() < 0 else counted.max()
    at = tuple(int(i) for i in np.argwhere(ids == bad)[0])
    where = f" at index {at}" if at else ""
    raise ValueError(f"{name} holds {bad}{where}, outside {limit.what.format(limit.high)}; {limit.fix}")


def new_rows(old: np.ndarray, n: int, mean_resizing: bool, initializer_range: float) -> np.ndarray:
    """Rows for `n` new tokens of a table whose rows are `old` (see `resize_token_embeddings`)."""
    if not mean_resizing:
        return np.random.normal(0.0, initializer_range, (n, old.shape[1]))
    table = old.astype(np.float64)
    mean = table.mean(0)
    covariance = (table - mean).T @ (table - mean) / len(table)
    try:
        scale = np.linalg.cholesky(1e-9 * covariance)
    except np.linalg.LinAlgError:  # not positive definite: HF falls back to the mean
        return np.tile(mean, (n, 1))
    return mean + np.random.standard_normal((n, old.shape[1])) @ scale.T


_nested_calls: list = []  # models whose Python call is running (see GPTPreTrainedModel.__call__)


class GPTModel(GPTPreTrainedModel):
    """The transformer: token + position + segment embeddings, then n_layer decoder blocks.

    Segment (token-type) ids are looked up in the token table, as in GPT-1's code and HF. Returns
    (last_hidden_state [..., T, C], hidden_states, attentions): with output_hidden_states the input of every
    block and the output, with output_attentions every layer's attention weights [N, n_head, T, T].
    """

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.tokens_embed = Embedding(config.vocab_size, config.n_embd, config)
        self.positions_embed = Embedding(config.n_positions, config.n_embd, config)
        self.drop = Dropout(config.embd_pdrop, "drop")
        self.h = nn.CellList([Block(config, f"h.{i}") for i in range(config.n_layer)])
        self.future = future_mask(config.n_positions)

    def construct(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                  inputs_embeds=None, output_attentions=False, output_hidden_states=False):
        shape = input_ids.shape if inputs_embeds is None else inputs_embeds.shape[:-1]
        t = shape[-1]
        if position_ids is None:
            position_ids = ops.arange(t, dtype=ms.int32).reshape(1, t)
        x = self.embed(input_ids, position_ids, token_type_ids, inputs_embeds)
        future, mask_bias = self.attention_masks(x.shape[0], t, attention_mask)
        all_hidden, all_attentions = (), ()
        for block in self.h:
            all_hidden = all_hidden + (x,)
            x, weights = block(x, future, mask_bias)
            if output_attentions:
                all_attentions = all_attentions + (weights,)
        x = x.reshape(shape + (x.shape[-1],))
        all_hidden = all_hidden + (x,)
        return x, all_hidden if output_hidden_states else None, all_attentions if output_attentions else None

    def attention_masks(self, n, t, attention_mask):
        """The causal mask and the padding bias at the scores' shape [N, n_head, t, t], broadcast once per forward
        so every layer applies them with same-shape kernels: MindSpore's CPU runtime keeps what each broadcasting
        kernel allocates alive for the rest of the step."""
        shape = (n, self.config.n_head, t, t)
        future = ops.broadcast_to(self.future[:t, :t], shape)
        mask_bias = None if attention_mask is None else ops.broadcast_to(padding_bias(attention_mask), shape)
        return future, mask_bias

    def embed(self, input_ids, position_ids, token_type_ids=None, inputs_embeds=None):
        """Token (or given) + position (+ segment) embeddings, [N, t, C] for ids of shape [..., t]."""
        if inputs_embeds is None:
            t = input_ids.shape[-1]
            x = self.tokens_embed(input_ids.reshape(-1, t))
        else:
            t = inputs_embeds.shape[-2]
            x = inputs_embeds.reshape(-1, t, inputs_embeds.shape[-1])
        x = x + self.positions_embed(position_ids.reshape(-1, t))
        if token_type_ids is not None:
            x = x + self.tokens_embed(token_type_ids.reshape(-1, t))
        return self.drop(x)

    def extend(self, input_ids, position_ids, key_mask, index, cache):
        """Hidden states [B, t, C] of t new tokens [B, t] at columns index..index+t-1, every layer's keys and
        values written into `cache` (a `KVCache` of B rows) there.

        `key_mask` [B, n_positions] is the attention mask of the whole cache (1 = a real token). The new
        tokens see the columns up to their own, exactly as in the full pass, so the results agree with it.
        """
        t, n = input_ids.shape[-1], key_mask.shape[-1]
        x = self.embed(input_ids, position_ids)
        query_columns = (index + ops.arange(t, dtype=ms.int32)).reshape(t, 1)
        future = ops.arange(n, dtype=ms.int32).reshape(1, n) > query_columns
        # one bias for every layer: the padding's, and CAUSAL_FILL over the columns not yet written. Either way a
        # hidden key's softmax weight is exactly 0, as with the full pass's masked_fill, and each layer saves a
        # MaskedFill kernel
        mask_bias = padding_bias(key_mask) + ops.masked_fill(ops.zeros((t, n), ms.float32), future, CAUSAL_FILL)
        for layer, block in enumerate(self.h):
            x = block.extend(x, cache, layer, index, mask_bias)
        return x


# --- incremental decoding ------------------------------------------------------------------------
class KVCache(nn.Cell):
    """The key/value cache of incremental decoding: every layer's keys and values of the positions decoded so
    far, for `batch_size` rows. The one place that knows the cache's shape and how it is written.

    A layer's keys (and values) are [batch_size, n_head, n_positions, head_dim], held as a Parameter of rows
    [batch_size·n_head·n_positions, head_dim] and written in place: the compiled step passes no cache in or out,
    and writing t new columns is a row ScatterUpdate that touches only their rows (on CPU a 4-D scatter copies
    the whole cache). Not a weight of the model: `GPTLMHeadModel.decoding_step` keeps it outside the model.
    """

    def __init__(self, config: GPTConfig, batch_size: int):
        super().__init__()
        self.batch_size = batch_size
        rows = (batch_size * config.n_head * config.n_positions, config.n_embd // config.n_head)
        self.keys, self.values = (ms.ParameterTuple(
            Parameter(ops.zeros(rows, ms.float32), name=f"cache.{i}.{which}", requires_grad=False)
            for i in range(config.n_layer)) for which in ("keys", "values"))

    def write(self, layer: int, k, v, index):
        """Write the keys k and values v [B, n_head, t, head_dim] of t new positions into `layer`'s cache at
        columns index..index+t-1; return that layer's whole keys and values, [B, n_head, n_positions, head_dim].
        `index` is a Tensor, so one compiled step serves every position."""
        return self.write_rows(self.keys[layer], k, index), self.write_rows(self.values[layer], v, index)

    @staticmethod
    def write_rows(cache, new, index):
        """`new` [B, H, t, D] into the rows of `cache` [B·H·N, D] at columns index..index+t-1 of each (batch row,
        head), in place; returns the updated cache viewed as [B, H, N, D] (on CPU the view is a copy)."""
        b, h, t, d = new.shape
        n = cache.shape[0] // (b * h)
        rows = ops.arange(b * h, dtype=ms.int32).reshape(b * h, 1) * n + index + ops.arange(t, dtype=ms.int32)
        return ops.scatter_update(cache, rows.reshape(-1), new.reshape(b * h * t, d)).reshape(b, h, n, d)


class DecodingStep(nn.Cell):
    """One step of incremental decoding: next-token logits [B, vocab_size] after t new tokens [B, t] at columns
    index..index+t-1, through the LM `model` and its `cache` (a `KVCache` of B rows, updated in place).

    Compiled once per shape of `input_ids`: the prompt once (t = its length), then t = 1 for every new token.
    """

    def __init__(self, model: "GPTLMHeadModel", batch_size: int):
        super().__init__(auto_prefix=False)  # the model's parameters keep their names
        self.model = model
        self.cache = KVCache(model.config, batch_size)

    def construct(self, input_ids, position_ids, key_mask, index):
        hidden = self.model.transformer.extend(input_ids, position_ids, key_mask, index, self.cache)
        return self.model.lm_logits(hidden[:, -1])


@functools.lru_cache(maxsize=None)
def future_mask(n_positions: int) -> Tensor:
    """[n, n], True where key j comes after query i: what causal attention hides. One Tensor per size, shared."""
    return Tensor(np.triu(np.ones((n_positions, n_positions), np.bool_), 1))


def padding_bias(attention_mask):
    """What the scores get added: 0 at real tokens, float32's minimum at padding; [N, 1, 1, t]."""
    keep = attention_mask.reshape(-1, 1, 1, attention_mask.shape[-1]).astype(ms.float32)
    return (1.0 - keep) * MASK_FILL


def _token_nll(logits, targets):
    """-log softmax(logits)[target] for each row of logits [M, V], targets [M].

    LogSoftmax and GatherElements rather than MindSpore's fused sparse softmax-cross-entropy kernel or
    ops.cross_entropy: on CPU they are the fastest of the three, forward and backward, and agree with the fused
    kernel to float32 rounding.
    """
    return -ops.gather_elements(ops.log_softmax(logits, -1), 1, targets.reshape(-1, 1)).reshape(-1)


def token_nll(logits, labels, attention_mask=None):
    """-log p(label_{i+1} | tokens <= i) for every pair, flattened, and its weight: 1 where the pair counts,
    0 for labels of -100 and pairs whose input or target is padding. L1 and `mindgpt.score` both read it."""
    v, t = logits.shape[-1], labels.shape[-1]
    labels = labels.reshape(-1, t)
    # position i's target is label i+1; the last position gets none. The loss reads every row of the logits
    # and drops the last position's from the small [N, t] result instead: slicing the [N, t, V] logits would
    # copy them, and their gradient, once more
    targets = ops.concat((labels[:, 1:], ops.full((labels.shape[0], 1), IGNORE_INDEX, dtype=labels.dtype)), 1)
    valid = targets != IGNORE_INDEX
    if attention_mask is not None:
        m = attention_mask.reshape(-1, t) > 0
        valid = ops.logical_and(valid, ops.logical_and(m, ops.concat((m[:, 1:], m[:, :1]), 1)))
    nll = _token_nll(logits.reshape(-1, v).astype(ms.float32), ops.where(valid, targets, 0).reshape(-1))
    nll, valid = nll.reshape(-1, t)[:, :-1].reshape(-1), valid[:, :-1].reshape(-1)
    return nll, valid.astype(nll.dtype)


def lm_loss(logits, labels, attention_mask=None):
    """L1: mean next-token cross-entropy over the pairs that count (see `token_nll`)."""
    nll, valid = token_nll(logits, labels, attention_mask)
    return (nll * valid).sum() / ops.maximum(valid.sum(), 1.0)



class GPTLMHeadModel(GPTPreTrainedModel):
    """GPT with the language-model head tied to the token table. Returns (loss = L1 with labels, logits [..., T,
    vocab_size], hidden_states, attentions). The loss skips labels of -100 and pairs that touch padding."""

    output_class = CausalLMOutput
    _decoding_step: DecodingStep | None = None  # see `decoding_step`

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.transformer = GPTModel(config)
        self.head = ops.MatMul(transpose_b=True)

    def lm_logits(self, hidden):
        table = self.transformer.tokens_embed.weight
        flat = self.head(hidden.reshape(-1, hidden.shape[-1]), table)
        return flat.reshape(hidden.shape[:-1] + (table.shape[0],))

    def construct(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                  inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False):
        hidden, all_hidden, attentions = self.transformer(input_ids, attention_mask, token_type_ids, position_ids,
                                                          inputs_embeds, output_attentions, output_hidden_states)
        logits = self.lm_logits(hidden)
        loss = None if labels is None else lm_loss(logits, labels, attention_mask)
        return loss, logits, all_hidden, attentions

    def generate(self, input_ids, max_new_tokens: int = 32, **options) -> list:
        """Continue each prompt; see `mindgpt.generate.generate` for the options. Returns lists of ids."""
        from .generate import generate

        return generate(self, input_ids, max_new_tokens=max_new_tokens, **options)

    def decoding_step(self, batch_size: int) -> DecodingStep:
        """The incremental-decoding step for `batch_size` rows, with its `KVCache`. Kept, so later calls reuse
        its compiled graphs (one batch size at a time: another replaces it), and held outside the cell tree: the
        cache is no weight, so it stays out of `parameters_dict`, `save_pretrained` and the optimizer."""
        if self._decoding_step is None or self._decoding_step.cache.batch_size != batch_size:
            object.__setattr__(self, "_decoding_step", DecodingStep(self, batch_size))
        return self._decoding_step

    def recompile(self) -> None:
        """As for every model; the decoding step, compiled for the old weights and constants, is dropped too."""
        super().recompile()
        object.__setattr__(self, "_decoding_step", None)


class _ClassifierBase(GPTLMHeadModel):
    """Shared by the task heads: where a sequence is read (its classifier token) and the L1 of L3."""

    def pool_index(self, input_ids, attention_mask, n_rows, t):
        """Position each of the n_rows sequences is read at, [n_rows] int32: its last classifier token
        (`classifier_token_id`, the paper's [EXTRACT], mindgpt's [EOS]) when it has one, else its last real
        token: the last 1 of `attention_mask`, else (HF's rule) the last token that is not `pad_token_id`,
        else the last position."""
        rank = ops.arange(1, t + 1, dtype=ms.int32)  # later positions rank higher
        if attention_mask is not None:
            fallback = ops.argmax((attention_mask.reshape(-1, t) > 0).astype(ms.int32) * rank, dim=-1)
        elif input_ids is not None and self.config.pad_token_id is not None:
            fallback = ops.argmax((input_ids.reshape(-1, t) != self.config.pad_token_id).astype(ms.int32) * rank,
                                  dim=-1)
        else:
            fallback = ops.full((n_rows,), t - 1, dtype=ms.int32)
        token = self.config.classifier_token_id
        if token is None or input_ids is None:
            return fallback.astype(ms.int32)
        is_cls = (input_ids.reshape(-1, t) == token).astype(ms.int32)
        at_cls = ops.argmax(is_cls * rank, dim=-1)
        return ops.where(is_cls.sum(-1) > 0, at_cls, fallback).astype(ms.int32)

    def read_sequences(self, hidden, input_ids, attention_mask, index=None):
        """The hidden state [N, C] of each of the N sequences in hidden [..., T, C], read at `index` [N] when
        given, else at `pool_index`."""
        t, c = hidden.shape[-2], hidden.shape[-1]
        flat = hidden.reshape(-1, t, c)
        if index is None:
            index = self.pool_index(input_ids, attention_mask, flat.shape[0], t)
        index = ops.broadcast_to(index.reshape(-1, 1, 1).astype(ms.int32), (flat.shape[0], 1, c))
        return ops.gather_d(flat, 1, index).squeeze(1)

    def auxiliary_lm_loss(self, hidden, input_ids, attention_mask):
        """L1 on the task's own text, the paper's auxiliary objective (None when lm_coef is 0: the
        vocabulary-sized LM head is then never computed)."""
        if self.config.lm_coef == 0:
            return None
        t = input_ids.shape[-1]
        flat_mask = None if attention_mask is None else attention_mask.reshape(-1, t)
        return lm_loss(self.lm_logits(hidden), input_ids.reshape(-1, t), flat_mask)


class GPTForSequenceClassification(_ClassifierBase):
    """Classifier on the hidden state at the classifier token ([EOS]), else at the last real token as HF's.

    Returns (loss, logits [B, num_labels], hidden_states, attentions). As in HF, the loss is the task loss L2
    (cross-entropy; MSE for one label or problem_type 'regression'; BCE for 'multi_label_classification') and
    no dropout precedes the score layer. The paper's recipe is two settings away: `lm_coef` = λ > 0 makes the
    loss L3 = L2 + λ·L1 (and the output carries `task_loss` and `lm_loss`), `classifier_dropout` = 0.1 drops
    out the pooled state. input_ids [B, K, T] are K orderings of one example (the paper's similarity input)
    whose pooled states are summed before the score layer.
    """

    output_class = SequenceClassifierOutput
    built_from = GPTPreTrainedModel.built_from + ("num_labels", "classifier_dropout")

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.dropout = Dropout(config.classifier_dropout, "dropout")
        self.score = Linear(config.n_embd, config.num_labels, config, bias=False, weight_out_in=True)

    def input_rules(self, shape: tuple, given: dict) -> dict[str, tuple[tuple, IdRange | None]]:
        """The base rules, with `labels` by the loss `task_loss` picks: a class index (or -100) per row for
        single-label, a number per row for one-output regression, [rows, num_labels] numbers otherwise."""
        rules = super().input_rules(shape, given)
        if "labels" not in given:
            return rules
        labels = given["labels"]
        n, num_labels, problem = shape[0] if len(shape) > 1 else 1, self.config.num_labels, self.config.problem_type
        if problem is None:  # float labels one per row are class indices in the wrong dtype, not multi-label
            single = labels.dtype in INTEGER_DTYPES or tuple(labels.shape) in ((n,), (n, 1))
            problem = "regression" if num_labels == 1 else "single_label_classification" if single else None
        if problem == "single_label_classification":
            rules["labels"] = ((n,), (n, 1)), IdRange(num_labels, "the classes [0, num_labels={})", True,
                                                      "class indices count from 0; -100 leaves a row out of the loss")
        else:
            rules["labels"] = (((n,), (n, 1)) if num_labels == 1 else ((n, num_labels),)), None
        return rules

    def construct(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                  inputs_embeds=None, labels=None, output_attentions=False, output_hidden_states=False):
        hidden, all_hidden, attentions = self.transformer(input_ids, attention_mask, token_type_ids, position_ids,
                                                          inputs_embeds, output_attentions, output_hidden_states)
        shape = hidden.shape[:-1]
        pooled = self.read_sequences(hidden, input_ids, attention_mask)
        if len(shape) == 3:
            pooled = pooled.reshape(shape[0], shape[1], -1).sum(1)
        logits = self.score(self.dropout(pooled))
        if labels is None:
            return None, logits, all_hidden, attentions, None, None
        task_loss = self.task_loss(logits, labels)
        aux = self.auxiliary_lm_loss(hidden, input_ids, attention_mask)
        if aux is None:
            return task_loss, logits, all_hidden, attentions, None, None
        return task_loss + self.config.lm_coef * aux, logits, all_hidden, attentions, task_loss, aux

    def task_loss(self, logits, labels):
        """L2 by `problem_type`, as HF picks it: regression for one label, single-label for integer labels,
        multi-label (independent sigmoids) for float labels over several classes."""
        problem = self.config.problem_type
        if problem is None:
            if self.config.num_labels == 1:
                problem = "regression"
            elif labels.dtype == ms.int32 or labels.dtype == ms.int64:
                problem = "single_label_classification"
            else:
                problem = "multi_label_classification"
        if problem == "regression":
            if self.config.num_labels == 1:
                return ops.mse_loss(logits.reshape(-1), labels.reshape(-1).astype(logits.dtype))
            return ops.mse_loss(logits, labels.astype(logits.dtype))
        if problem == "single_label_classification":
            return ops.cross_entropy(logits, labels.reshape(-1).astype(ms.int32))
        return ops.binary_cross_entropy_with_logits(logits, labels.astype(logits.dtype))


class GPTDoubleHeadsModel(_ClassifierBase):
    """Multiple choice, as HF's `OpenAIGPTDoubleHeadsModel`: input [B, n_choices, T] (or [B, T]), one score per
    choice read at `mc_token_ids` [B, n_choices] — without them, at each choice's classifier token ([EOS]), else
    its last real token. Returns (loss = L1 with `labels`, mc_loss with `mc_labels`, LM logits, mc_logits
    [B, n_choices], hidden_states, attentions). Fine-tuning's L3 is mc_loss + λ·loss (`mindgpt.train`)."""

    output_class = DoubleHeadsModelOutput
    built_from = GPTPreTrainedModel.built_from + ("summary_first_dropout", "summary_activation")

    def __init__(self, config: GPTConfig):
        config.num_labels = 1  # one score per choice, as in HF
        super().__init__(config)
        self.multiple_choice_head = SequenceSummary(config)

    def construct(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                  inputs_embeds=None, mc_token_ids=None, labels=None, mc_labels=None, output_attentions=False,
                  output_hidden_states=False):
        hidden, all_hidden, attentions = self.transformer(input_ids, attention_mask, token_type_ids, position_ids,
                                                          inputs_embeds, output_attentions, output_hidden_states)
        logits = self.lm_logits(hidden)
        shape = hidden.shape[:-1]
        index = None if mc_token_ids is None else mc_token_ids.reshape(-1)
        mc_logits = self.multiple_choice_head(self.read_sequences(hidden, input_ids, attention_mask, index)
                                              ).reshape(shape[:-1])
        mc_loss = None
        if mc_labels is not None:
            mc_loss = ops.cross_entropy(mc_logits.reshape(-1, mc_logits.shape[-1]),
                                        mc_labels.reshape(-1).astype(ms.int32))
        loss = None
        if labels is not None:
            t = shape[-1]
            loss = lm_loss(logits.reshape(-1, t, logits.shape[-1]), labels.reshape(-1, t))
        return loss, mc_loss, logits, mc_logits, all_hidden, attentions


class SequenceSummary(nn.Cell):
    """HF's multiple-choice head: dropout, then a Linear to one score (`summary.weight`, `summary.bias`)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.first_dropout = Dropout(config.summary_first_dropout, "multiple_choice_head.first_dropout")
        self.summary = Linear(config.n_embd, 1, config, bias=True, weight_out_in=True)
        self.use_tanh = config.summary_activation == "tanh"

    def construct(self, pooled):
        score = self.summary(self.first_dropout(pooled))
        if self.use_tanh:
            score = ops.tanh(score)
        return score
