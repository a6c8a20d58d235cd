"""The mathematics of GPT-1: masked self-attention decoder blocks and the task heads.

Cells and weights carry Hugging Face's openai-gpt names and layouts (`h.0.attn.c_attn.weight` stored
[in, out] like GPT-1's Conv1D), so checkpoints map one to one. Every cell compiles in GRAPH_MODE and runs in
PyNative. Outputs are tuples: the loss first when labels are given, then the logits.

The losses are the paper's: L1 the language-model loss, L2 the task loss, L3 = L2 + lm_coef * L1.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import Normal, initializer

from .checkpoint import PretrainedMixin
from .config import GPTConfig
from .dropout import Dropout

IGNORE_INDEX = -100  # label value the losses skip, as in HF and PyTorch
CAUSAL_FILL = -1e4  # what GPT-1 writes over future positions before the softmax
MASK_FILL = float(np.finfo(np.float32).min)  # what HF adds at padding positions


# --- building blocks ------------------------------------------------------------------------------
class Linear(nn.Cell):
    """y = x W (+ b) on the flattened leading axes, as one 2-D MatMul (no weight broadcast) and a BiasAdd.

    `in_out` is the checkpoints' layout: GPT-1's Conv1D stores W as [in, out], torch's Linear (the HF heads)
    as [out, in]. In memory a widening layer (c_attn, c_fc) holds [out, in] whichever the file has: on CPU,
    MindSpore's MatMul runs its forward and weight gradient about twice as fast in that orientation (`gpt1`'s
    c_fc: 21.6 + 33.3 ms -> 13.6 + 13.6 ms a call). `holds_weight_transposed` marks a weight held the other
    way round from its file; the checkpoint code transposes it on the way in and out.
    BiasAdd rather than `y + b`: on CPU a broadcasting Add holds about four times its output for the rest of the
    step (BiasAdd, like a same-shape Add, does not), 650 MB of a `gpt1` training step's peak.
    """

    def __init__(self, n_in: int, n_out: int, config: GPTConfig, bias: bool = True, in_out: bool = True):
        super().__init__()
        out_in = not in_out or n_out > n_in
        shape = (n_out, n_in) if out_in else (n_in, n_out)
        self.weight = Parameter(initializer(Normal(config.initializer_range), shape, ms.float32))
        self.bias = Parameter(initializer("zeros", (n_out,), ms.float32)) if bias else None
        self.matmul = ops.MatMul(transpose_b=out_in)
        self.holds_weight_transposed = in_out and out_in
        self.n_out = n_out

    def construct(self, x):
        y = self.matmul(x.reshape(-1, x.shape[-1]), self.weight)
        if self.bias is not None:
            y = ops.bias_add(y, self.bias.astype(y.dtype))  # fp16 training (`to_float`) casts y, not the bias
        return y.reshape(x.shape[:-1] + (self.n_out,))


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
    instead of six, and fewer in the backward (forward + backward of a [512, 3072] input: 24 -> 17 ms)."""
    return x * ops.sigmoid(x * (_GELU_A + _GELU_B * (x * x)))


def silu(x):
    return x * ops.sigmoid(x)


ACTIVATION_FUNCTIONS = {"gelu": gelu_tanh, "gelu_new": gelu_tanh, "relu": ops.relu, "silu": silu, "swish": silu}


# --- the decoder block ---------------------------------------------------------------------------
class Attention(nn.Cell):
    """Masked multi-head self-attention: position t attends to positions <= t that are not padding."""

    def __init__(self, config: GPTConfig, site: str = "attn"):
        super().__init__()
        n_embd, n_pos = config.n_embd, config.n_positions
        self.n_head = config.n_head
        self.head_dim = n_embd // config.n_head
        self.c_attn = Linear(n_embd, 3 * n_embd, config)
        self.c_proj = Linear(n_embd, n_embd, config)
        self.attn_dropout = Dropout(config.attn_pdrop, f"{site}.attn_dropout")
        self.resid_dropout = Dropout(config.resid_pdrop, f"{site}.resid_dropout")
        self.future = future_mask(n_pos)
        self.scores = ops.BatchMatMul(transpose_b=True)
        self.mix = ops.BatchMatMul()

    def split_heads(self, x):
        b, t, _ = x.shape
        return x.reshape(b, t, self.n_head, self.head_dim).transpose(0, 2, 1, 3)

    def heads(self, x):
        """Queries, keys and values of x [B, t, C], each [B, n_head, t, head_dim]."""
        q, k, v = ops.split(self.c_attn(x), x.shape[-1], axis=2)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)

    def attend(self, q, k, v, future, mask_bias):
        """Mix the values v by the queries' softmax scores over the keys k; `future` [t, keys] marks the
        keys each query must not see. The one attention computation of the full pass and of decoding."""
        b, _, t, _ = q.shape
        # scaling q [.., t, d] instead of the scores [.., t, keys] is half the work in training (d=64 < t=128);
        # for a power-of-two head_dim (GPT-1: 64) the result is bit-identical
        w = self.scores(q * (1.0 / math.sqrt(self.head_dim)), k)
        w = ops.masked_fill(w, future, CAUSAL_FILL)
        if mask_bias is not None:
            w = w + mask_bias
        w = self.attn_dropout(ops.softmax(w, axis=-1))
        a = self.mix(w, v).transpose(0, 2, 1, 3).reshape(b, t, self.n_head * self.head_dim)
        return self.resid_dropout(self.c_proj(a))

    def construct(self, x, future=None, mask_bias=None):
        """`future` and `mask_bias` come from the model (`GPTModel.attention_masks`); alone, the layer is causal."""
        if future is None:
            future = self.future[:x.shape[1], :x.shape[1]]
        q, k, v = self.heads(x)
        return self.attend(q, k, v, future, mask_bias)

    def extend(self, x, cache, index, future, mask_bias):
        """Attention of t new positions over everything decoded so far.

        Their keys and values are written into the static (keys, values) cache Parameters at columns
        index..index+t-1, then the queries attend over all n_positions columns, `future` hiding the
        unwritten ones.
        """
        q, k, v = self.heads(x)
        keys, values = write_columns(cache[0], k, index), write_columns(cache[1], v, index)
        return self.attend(q, keys, values, future, mask_bias)


def write_columns(cache, new, index):
    """Write `new` [B, H, t, D] into the Parameter `cache` [B*H*N, D] at columns index..index+t-1 of each
    (batch row, head), in place, and return the updated cache viewed as [B, H, N, D].

    The cache is kept as rows so that the write is a row ScatterUpdate, which touches only the new rows: the
    4-D ScatterNdUpdate it replaces copied the whole cache on CPU (1.5 MB a layer for `gpt1`, ~5 ms a token).
    The [B, H, N, D] view still costs a copy on CPU (a Parameter's reshape does), about 60% of the old write's.
    `index` is a Tensor, so the compiled step serves every position.
    """
    b, h, t, d = new.shape
    n = cache.shape[0] // (b * h)
    rows = ops.arange(b * h, dtype=ms.int32).reshape(b * h, 1) * n + index + ops.arange(t, dtype=ms.int32)
    return ops.scatter_update(cache, rows.reshape(-1), new.reshape(b * h * t, d)).reshape(b, h, n, d)


class MLP(nn.Cell):
    def __init__(self, config: GPTConfig, site: str = "mlp"):
        super().__init__()
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, config)
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, config)
        self.act = ACTIVATION_FUNCTIONS[config.afn]
        self.dropout = Dropout(config.resid_pdrop, f"{site}.dropout")

    def construct(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class Block(nn.Cell):
    """Post-LayerNorm decoder block, as in GPT-1: h = LN(n + MLP(n)), n = LN(x + Attn(x))."""

    def __init__(self, config: GPTConfig, site: str = "block"):
        super().__init__()
        self.attn = Attention(config, f"{site}.attn")
        self.ln_1 = LayerNorm(config.n_embd, config.layer_norm_epsilon)
        self.mlp = MLP(config, f"{site}.mlp")
        self.ln_2 = LayerNorm(config.n_embd, config.layer_norm_epsilon)

    def construct(self, x, future=None, mask_bias=None):
        return self.feed_forward(x, self.attn(x, future, mask_bias))

    def extend(self, x, cache, index, future, mask_bias):
        """The block over new positions only, reading and updating the attention cache (see Attention)."""
        return self.feed_forward(x, self.attn.extend(x, cache, index, future, mask_bias))

    def feed_forward(self, x, a):
        """The rest of the block once the attention output `a` of `x` is known."""
        n = self.ln_1(x + a)
        return self.ln_2(n + self.mlp(n))


# --- models --------------------------------------------------------------------------------------
class GPTPreTrainedModel(PretrainedMixin, nn.Cell):
    """Holds the config; `from_pretrained`/`save_pretrained` come from the checkpoint mixin."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        config.validate()
        self.config = config

    @property
    def base_model(self) -> "GPTModel":
        return self if isinstance(self, GPTModel) else self.transformer

    def resize_token_embeddings(self, new_num_tokens: int) -> Parameter:
        """Grow (or shrink) the token table, keeping the old rows, e.g. after adding [BOS]/[SEP]/[EOS]."""
        table = self.base_model.tokens_embed.weight
        old = table.asnumpy()
        if not isinstance(new_num_tokens, int) or new_num_tokens <= 0:
            raise ValueError(f"resize_token_embeddings needs a positive token count, got {new_num_tokens!r}")
        new = np.random.normal(0.0, self.config.initializer_range, (new_num_tokens, old.shape[1]))
        keep = min(new_num_tokens, old.shape[0])
        new = new.astype(old.dtype)
        new[:keep] = old[:keep]
        table.set_data(Tensor(new))
        self.config.vocab_size = new_num_tokens
        return table


class GPTModel(GPTPreTrainedModel):
    """The transformer: token + position + segment embeddings, then n_layer decoder blocks.

    Segment (token-type) ids are looked up in the token table, as in GPT-1's code and HF.
    Returns (last_hidden_state,) and, with output_hidden_states, the input of every block and the output.
    """

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.tokens_embed = Embedding(config.vocab_size, config.n_embd, config)
        self.positions_embed = Embedding(config.n_positions, config.n_embd, config)
        self.drop = Dropout(config.embd_pdrop, "drop")
        self.h = nn.CellList([Block(config, f"h.{i}") for i in range(config.n_layer)])
        self.future = future_mask(config.n_positions)

    def construct(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                  output_hidden_states=False):
        t = input_ids.shape[-1]
        if position_ids is None:
            position_ids = ops.arange(t, dtype=ms.int32).reshape(1, t)
        x = self.embed(input_ids, position_ids, token_type_ids)
        future, mask_bias = self.attention_masks(x.shape[0], t, attention_mask)
        all_hidden = ()
        for block in self.h:
            all_hidden = all_hidden + (x,)
            x = block(x, future, mask_bias)
        all_hidden = all_hidden + (x,)
        if output_hidden_states:
            return x, all_hidden
        return (x,)

    def attention_masks(self, n, t, attention_mask):
        """The causal mask and the padding bias at the scores' shape [N, n_head, t, t], built once per forward
        so every layer applies them with same-shape kernels: on CPU a broadcasting kernel holds about four times
        its output for the rest of the step."""
        shape = (n, self.config.n_head, t, t)
        future = ops.broadcast_to(self.future[:t, :t], shape)
        mask_bias = None if attention_mask is None else ops.broadcast_to(padding_bias(attention_mask), shape)
        return future, mask_bias

    def embed(self, input_ids, position_ids, token_type_ids=None):
        """Token + position (+ segment) embeddings, [N, t, C] for ids of shape [..., t]."""
        t = input_ids.shape[-1]
        x = self.tokens_embed(input_ids.reshape(-1, t)) + self.positions_embed(position_ids.reshape(-1, t))
        if token_type_ids is not None:
            x = x + self.tokens_embed(token_type_ids.reshape(-1, t))
        return self.drop(x)

    def extend(self, input_ids, position_ids, key_mask, index, cache):
        """Hidden states [B, t, C] of t new tokens, their keys and values written into `cache` (per layer a
        (keys, values) pair of [B, n_head, n_positions, head_dim] Parameters) at columns index..index+t-1.

        `key_mask` [B, n_positions] is the attention mask of the whole cache (1 = a real token). The new
        tokens see the columns up to their own, exactly as in the full pass, so the results agree with it.
        """
        t, n = input_ids.shape[-1], key_mask.shape[-1]
        x = self.embed(input_ids, position_ids)
        query_columns = (index + ops.arange(t, dtype=ms.int32)).reshape(t, 1)
        future = ops.arange(n, dtype=ms.int32).reshape(1, n) > query_columns
        mask_bias = padding_bias(key_mask)
        for block, layer_cache in zip(self.h, cache):
            x = block.extend(x, layer_cache, index, future, mask_bias)
        return x


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

    LogSoftmax and GatherElements, forward and backward, run ~4x faster on CPU than MindSpore's fused sparse
    softmax-cross-entropy kernel (gpt1's [512, 40478] logits: 56 vs 246 ms), which is itself several times
    faster than ops.cross_entropy's composition; the results agree to 1e-7.
    """
    return -ops.gather_elements(ops.log_softmax(logits, -1), 1, targets.reshape(-1, 1)).reshape(-1)


def token_nll(logits, labels, attention_mask=None):
    """-log p(label_{i+1} | tokens <= i) for every pair, flattened, and its weight: 1 where the pair counts,
    0 for labels of -100 and pairs whose input or target is padding. L1 and `mindgpt.score` both read it."""
    v, t = logits.shape[-1], labels.shape[-1]
    labels = labels.reshape(-1, t)
    # position i's target is label i+1; the last position gets none. The loss reads every row of the logits
    # and drops the last position's from the small [N, t] result instead: slicing the [N, t, V] logits would
    # copy them, and their gradient, once more (measured: see benchmarks/README.md)
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
    """GPT with the language-model head tied to the token table. Returns ([L1,] logits[, hidden_states])."""

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.transformer = GPTModel(config)
        self.head = ops.MatMul(transpose_b=True)

    def lm_logits(self, hidden):
        table = self.transformer.tokens_embed.weight
        flat = self.head(hidden.reshape(-1, hidden.shape[-1]), table)
        return flat.reshape(hidden.shape[:-1] + (table.shape[0],))

    def construct(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
                  output_hidden_states=False):
        out = self.transformer(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states)
        logits = self.lm_logits(out[0])
        extra = out[1:]
        if labels is None:
            return (logits,) + extra
        return (lm_loss(logits, labels, attention_mask), logits) + extra

    def generate(self, input_ids, max_new_tokens: int = 32, **options) -> list:
        """Continue each prompt; see `mindgpt.generate.generate` for the options. Returns lists of ids."""
        from .generate import generate

        return generate(self, input_ids, max_new_tokens=max_new_tokens, **options)


class _ClassifierBase(GPTLMHeadModel):
    """Shared by the task heads: pooling at the classifier token and the auxiliary LM loss of L3."""

    def pool_index(self, input_ids, attention_mask=None):
        """Position of the last `classifier_token_id` ([EOS]/[EXTRACT]) in each row.

        A row without that token falls back to its last non-padding position.
        """
        t = input_ids.shape[-1]
        rank = ops.arange(1, t + 1, dtype=ms.int32)  # later positions rank higher
        if attention_mask is None:
            fallback = ops.full(input_ids.shape[:1], t - 1, dtype=ms.int32)
        else:
            fallback = ops.argmax((attention_mask.reshape(-1, t) > 0).astype(ms.int32) * rank, dim=-1)
        token = self.config.classifier_token_id
        if token is None:
            return fallback.astype(ms.int32)
        is_cls = (input_ids == token).astype(ms.int32)
        at_cls = ops.argmax(is_cls * rank, dim=-1)
        return ops.where(is_cls.sum(-1) > 0, at_cls, fallback).astype(ms.int32)

    def pooled(self, input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states):
        """Hidden state at each sequence's classifier token: [N, C] for N = prod of the leading axes."""
        t = input_ids.shape[-1]
        out = self.transformer(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states)
        hidden = out[0]
        flat_ids = input_ids.reshape(-1, t)
        flat_mask = None if attention_mask is None else attention_mask.reshape(-1, t)
        index = self.pool_index(flat_ids, flat_mask).reshape(-1, 1, 1)
        index = ops.broadcast_to(index, (hidden.shape[0], 1, hidden.shape[-1]))
        return ops.gather_d(hidden, 1, index).squeeze(1), out

    def with_lm_loss(self, task_loss, hidden, input_ids, attention_mask):
        """L3 = L2 + λ·L1; with λ = 0 the vocabulary-sized LM head is never computed."""
        if self.config.lm_coef == 0:
            return task_loss
        t = input_ids.shape[-1]
        flat_ids = input_ids.reshape(-1, t)
        flat_mask = None if attention_mask is None else attention_mask.reshape(-1, t)
        return task_loss + self.config.lm_coef * lm_loss(self.lm_logits(hidden), flat_ids, flat_mask)


class GPTForSequenceClassification(_ClassifierBase):
    """Classifier on the hidden state at the [EOS] token (cls_token_id). Returns ([L3,] logits[, hidden]).

    input_ids [B, T] is one text or pair; [B, K, T] are K orderings of one example (the paper's similarity
    input) whose pooled states are summed before the linear layer. num_labels == 1 makes it a regression.
    """

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.dropout = Dropout(config.summary_first_dropout, "dropout")
        self.score = Linear(config.n_embd, config.num_labels, config, bias=False, in_out=False)

    def construct(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
                  output_hidden_states=False):
        pooled, out = self.pooled(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states)
        if input_ids.ndim == 3:
            pooled = pooled.reshape(input_ids.shape[0], input_ids.shape[1], -1).sum(1)
        logits = self.score(self.dropout(pooled))
        extra = out[1:]
        if labels is None:
            return (logits,) + extra
        if self.config.num_labels == 1:
            task_loss = ops.mse_loss(logits.reshape(-1), labels.reshape(-1).astype(logits.dtype))
        else:
            task_loss = ops.cross_entropy(logits, labels.reshape(-1).astype(ms.int32))
        return (self.with_lm_loss(task_loss, out[0], input_ids, attention_mask), logits) + extra


class GPTDoubleHeadsModel(_ClassifierBase):
    """Multiple choice: input [B, n_choices, T], one score per choice at its [EOS] token, softmax over the
    choices. Returns ([L2 + λ·L1,] choice_logits[, hidden_states]); weights named as HF's double-heads model.
    """

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.multiple_choice_head = SequenceSummary(config)

    def construct(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
                  output_hidden_states=False):
        if input_ids.ndim != 3:
            raise ValueError("GPTDoubleHeadsModel expects input_ids of shape [batch, n_choices, seq]")
        pooled, out = self.pooled(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states)
        logits = self.multiple_choice_head(pooled).reshape(input_ids.shape[0], input_ids.shape[1])
        extra = out[1:]
        if labels is None:
            return (logits,) + extra
        task_loss = ops.cross_entropy(logits, labels.reshape(-1).astype(ms.int32))
        return (self.with_lm_loss(task_loss, out[0], input_ids, attention_mask), logits) + extra


class SequenceSummary(nn.Cell):
    """HF's multiple-choice head: dropout, then a Linear to one score (`summary.weight`, `summary.bias`)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.first_dropout = Dropout(config.summary_first_dropout, "multiple_choice_head.first_dropout")
        self.summary = Linear(config.n_embd, 1, config, bias=True, in_out=False)
        self.use_tanh = config.summary_activation == "tanh"

    def construct(self, pooled):
        score = self.summary(self.first_dropout(pooled))
        if self.use_tanh:
            score = ops.tanh(score)
        return score
