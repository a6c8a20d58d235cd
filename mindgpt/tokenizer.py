"""GPTTokenizer: GPT-1's BPE vocabulary (and GPT-2's byte-level one) on the Rust `tokenizers` library.

GPT-1 text goes through exactly the pipeline transformers' `OpenAIGPTTokenizer` builds: BERT's normalizer
(clean control characters, space out CJK characters, strip accents, lower-case), BERT's basic
pre-tokenizer (split on whitespace and punctuation), then BPE whose word-final symbols end in `</w>`.
A character the vocabulary lacks becomes `<unk>`. GPT-2 files (`encoder.json` + `vocab.bpe`) get the
byte-level pipeline instead, which has no unknown characters.

The calls people know from the course's notebooks (`tokenizer(text)`, `encode`, `decode`, `batch_decode`,
`tokenize`, `convert_tokens_to_ids`, `add_special_tokens`, `pad_token_id`, ...) give what transformers 5.24's
`OpenAIGPTTokenizer` gives on the same files: the text's ids with no special tokens added, python lists
unless `return_tensors` asks for arrays. As in HF, a special token typed in a text is that token;
`split_special_tokens=True` reads it as characters.

Fine-tuning needs four extra tokens the paper adds to the pretrained vocabulary: start `[BOS]`, delimiter
`[SEP]`, extract `[EOS]` (the classifier reads the hidden state here) and `[PAD]`. Their names are
configurable; their ids are saved with the tokenizer and go into a `GPTConfig` via `special_token_ids()`.
The paper's framing of a task input, `[BOS] text [EOS]`, is one explicit step away: `mindgpt.tasks`.

mindgpt's own paths (corpus shards, scoring, generation prompts, task framing) read text with
`encode_batch`, which never turns a special token's spelling into its id: a "[EOS]" in a corpus must not
put the classifier token into pretraining.
"""
from __future__ import annotations

import contextlib
import json
import numbers
import os
import warnings
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np
from tokenizers import AddedToken, Encoding, Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import BPE

from .io import atomic_write_text

if TYPE_CHECKING:
    import mindspore

ROLES = ("bos_token", "sep_token", "eos_token", "pad_token")
DEFAULT_SPECIAL_TOKENS = {"bos_token": "[BOS]", "sep_token": "[SEP]", "eos_token": "[EOS]", "pad_token": "[PAD]"}
UNK_TOKEN = "<unk>"
END_OF_WORD = "</w>"
GPT2_END_OF_TEXT = "<|endoftext|>"
HF_SPECIAL_ORDER = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token")  # of all_special_tokens
PADDING = ("longest", "max_length", "do_not_pad")
TRUNCATION = ("longest_first", "only_first", "only_second", "do_not_truncate")
TENSOR_TYPES = (None, "np", "ms")

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
VOCAB_FILES = {"gpt1": ("vocab.json", "merges.txt"), "gpt2": ("encoder.json", "vocab.bpe")}


def _gpt1_backend(model: BPE) -> Tokenizer:
    """The pipeline of transformers 5.24 `OpenAIGPTTokenizer`, piece by piece."""
    backend = Tokenizer(model)
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)  # strip_accents follows lowercase
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.BPEDecoder(suffix=END_OF_WORD)
    backend.add_special_tokens([_special(UNK_TOKEN)])  # "<unk>" typed in a text is the unknown token
    return backend


def _gpt2_backend(model: BPE) -> Tokenizer:
    """The pipeline of transformers' GPT-2 tokenizer: bytes mapped to printable characters, then BPE."""
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    if model.token_to_id(GPT2_END_OF_TEXT) is not None:
        backend.add_special_tokens([_special(GPT2_END_OF_TEXT)])
    return backend


def _special(name: str) -> AddedToken:
    # normalized=False: matched in the raw text, so lower-casing cannot turn "[EOS]" into "[eos]"
    return AddedToken(name, special=True, normalized=False)


def _from_vocab_merges(vocab_file: str, merges_file: str) -> Tokenizer:
    """GPT-1 files mark word ends with `</w>`; GPT-2's byte-level files never do."""
    vocab, merges = BPE.read_file(vocab_file, merges_file)  # skips the "#version" header line
    if not any(token.endswith(END_OF_WORD) for token in vocab):
        return _gpt2_backend(BPE(vocab, merges))
    # HF adds "<unk>" after the vocabulary when the file lacks it, then fails on unknown characters;
    # we put it at that same id inside the model so unknown characters map to it instead.
    vocab.setdefault(UNK_TOKEN, len(vocab))
    model = BPE(vocab, merges, unk_token=UNK_TOKEN, end_of_word_suffix=END_OF_WORD, fuse_unk=False)
    return _gpt1_backend(model)


def _special_roles(tokens: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """Normalise the ways of naming special tokens to {role: name}; roles are `ROLES`."""
    if tokens is None:
        return dict(DEFAULT_SPECIAL_TOKENS)
    if isinstance(tokens, str):
        raise TypeError(f"special tokens must be a dict or a list of names, got the string {tokens!r}")
    if not isinstance(tokens, Mapping):  # a list of names: the role is the one its name mentions
        roles = {}
        for name in tokens:
            matches = [role for role in ROLES if isinstance(name, str) and role[:3] in name.lower()]
            if len(matches) != 1:
                raise ValueError(
                    f"cannot tell which role special token {name!r} plays; name it after one of "
                    f"bos/sep/eos/pad or pass a dict like {{'eos_token': {name!r}}}"
                )
            roles[matches[0]] = name
        tokens = roles
    for role, name in tokens.items():
        if role not in ROLES:
            raise ValueError(f"unknown special-token role {role!r}; use one of {ROLES}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"special token for {role} must be a non-empty string, got {name!r}")
    return dict(tokens)


class BatchEncoding(dict):
    """What `GPTTokenizer.__call__` returns: a dict whose keys also read as attributes (`batch.input_ids`), as HF's."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no {name!r}; it holds {list(self)}") from None


class _SpecialToken:
    """HF's `tokenizer.eos_token` / `tokenizer.eos_token_id`: a role's token or id; None where the vocabulary
    lacks the role."""

    def __init__(self, role: str, as_id: bool = False):
        self.role, self.as_id = role, as_id

    def __get__(self, tokenizer: GPTTokenizer | None, owner: type) -> Any:
        if tokenizer is None:
            return self
        token = tokenizer._token_of(self.role)
        return tokenizer.backend.token_to_id(token) if self.as_id and token is not None else token

    def __set__(self, tokenizer: GPTTokenizer, value: Any) -> None:
        """Refused, not shadowed: `tokenizer.pad_token = ...` would otherwise leave pad_token_id behind."""
        raise AttributeError(
            f"set special tokens with add_special_tokens, e.g. tokenizer.add_special_tokens({{{self.role!r}: "
            "tokenizer.eos_token}): it returns how many new ids the model's embeddings need"
        )


class GPTTokenizer:
    """A `tokenizers.Tokenizer` plus the names of the four fine-tuning special tokens, with HF's calls."""

    def __init__(self, backend: Tokenizer, special_tokens: Mapping[str, str] | None = None):
        # a tokenizer.json may carry truncation or padding, which would cut or pad every text behind the
        # caller's back; HF resets both on each call, we once here
        backend.no_truncation()
        backend.no_padding()
        if backend.post_processor is None:  # HF's for GPT-1: a pair is the two texts, token types 0 then 1
            backend.post_processor = processors.TemplateProcessing(single="$A:0", pair="$A:0 $B:1")
        self.backend = backend
        self.special_tokens: dict[str, str] = {}  # role -> token, only the roles this vocabulary has
        self._plain: Tokenizer | None = None  # see _plain_backend
        if special_tokens:
            self.add_special_tokens(special_tokens)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> "GPTTokenizer":
        """Read mindgpt's or HF's `tokenizer.json`, GPT-1 `vocab.json`+`merges.txt`, or GPT-2 `encoder.json`+`vocab.bpe`."""
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"tokenizer directory {directory!r} does not exist")
        files = set(os.listdir(directory))
        config = _read_json(os.path.join(directory, CONFIG_FILE)) if CONFIG_FILE in files else {}
        if TOKENIZER_FILE in files:
            path = os.path.join(directory, TOKENIZER_FILE)
            with _naming(path):
                backend = Tokenizer.from_file(path)
        else:
            pair = next((p for p in VOCAB_FILES.values() if set(p) <= files), None)
            if pair is None:
                raise FileNotFoundError(
                    f"{directory!r} has no {TOKENIZER_FILE}, no GPT-1 vocab.json + merges.txt and "
                    "no GPT-2 encoder.json + vocab.bpe"
                )
            vocab_file, merges_file = (os.path.join(directory, name) for name in pair)
            _read_json(vocab_file)  # a broken vocabulary named as such; what the library then refuses is the merges'
            with _naming(f"{merges_file} (with {vocab_file})"):
                backend = _from_vocab_merges(vocab_file, merges_file)
            _restore_added_tokens(backend, config, directory)
        return cls(backend, {role: _content(config[role]) for role in ROLES if config.get(role) is not None})

    @classmethod
    def train(
        cls,
        files_or_iterator: str | os.PathLike | Iterable[str],
        vocab_size: int,
        special_tokens: Mapping[str, str] | Sequence[str] | None = None,
        min_frequency: int = 2,
    ) -> "GPTTokenizer":
        """Learn a GPT-1-style BPE vocabulary (lower case, `</w>` word ends, `<unk>`) from a corpus.

        `files_or_iterator` is a path, a list of paths (every item an existing file), or any other
        iterable of texts. The special tokens (default `[BOS] [SEP] [EOS] [PAD]`) count towards
        `vocab_size`, so `len(tokenizer) == vocab_size` unless the corpus alphabet alone is larger.
        """
        roles = _special_roles(special_tokens)
        backend = _gpt1_backend(BPE(unk_token=UNK_TOKEN, end_of_word_suffix=END_OF_WORD, fuse_unk=False))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[UNK_TOKEN, *dict.fromkeys(roles.values())],
            end_of_word_suffix=END_OF_WORD,
            show_progress=False,
        )
        files = _as_files(files_or_iterator)
        if files is None:
            backend.train_from_iterator(files_or_iterator, trainer)
        else:
            backend.train(files, trainer)
        return cls(backend, roles)

    # --- special tokens -----------------------------------------------------------------------
    def add_special_tokens(self, tokens: Mapping[str, str] | Sequence[str] | None = None) -> int:
        """Add the missing special tokens; return how many new ids that made (for `resize_token_embeddings`).

        `tokens` is HF's dict `{"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}` with keys
        from `ROLES`, a list of names whose role is read off the name (`["<bos>", "<eos>", "<pad>"]`), or None
        for the paper's four (`DEFAULT_SPECIAL_TOKENS`) where a role has none yet. A role given again takes the
        new token, as in HF.
        """
        roles = _special_roles(tokens)
        if tokens is None:  # fill the gaps only: a tokenizer's own special tokens stay its own
            roles = {role: name for role, name in roles.items() if role not in self.special_tokens}
        added = self.backend.add_special_tokens([_special(name) for name in roles.values()])
        self.special_tokens.update(roles)
        return added

    bos_token = _SpecialToken("bos_token")
    bos_token_id = _SpecialToken("bos_token", as_id=True)
    sep_token = _SpecialToken("sep_token")
    sep_token_id = _SpecialToken("sep_token", as_id=True)
    eos_token = _SpecialToken("eos_token")
    eos_token_id = _SpecialToken("eos_token", as_id=True)
    pad_token = _SpecialToken("pad_token")
    pad_token_id = _SpecialToken("pad_token", as_id=True)
    unk_token = _SpecialToken("unk_token")
    unk_token_id = _SpecialToken("unk_token", as_id=True)

    def _token_of(self, role: str) -> str | None:
        """GPT-1's unknown token is always `<unk>` (when the vocabulary has it); the other roles are configured."""
        if role == "unk_token":
            return UNK_TOKEN if self.backend.token_to_id(UNK_TOKEN) is not None else None
        return self.special_tokens.get(role)

    @property
    def all_special_tokens(self) -> list[str]:
        """The special tokens in HF's order (bos, eos, unk, sep, pad), each once."""
        return list(dict.fromkeys(t for role in HF_SPECIAL_ORDER if (t := self._token_of(role)) is not None))

    @property
    def all_special_ids(self) -> list[int]:
        return [self.backend.token_to_id(token) for token in self.all_special_tokens]

    def special_token_ids(self) -> dict[str, int | None]:
        """Ids for `GPTConfig(**ids)`; cls is the `[EOS]` the classifier reads."""
        ids = {f"{role}_id": getattr(self, f"{role}_id") for role in ROLES}
        ids["cls_token_id"] = ids["eos_token_id"]
        return ids

    # --- vocabulary ---------------------------------------------------------------------------
    def __len__(self) -> int:
        """Every id, added tokens included: the size the model's token table needs."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def vocab_size(self) -> int:
        """The base vocabulary, without added tokens (HF's meaning; `len(tokenizer)` counts them too)."""
        return self.backend.get_vocab_size(with_added_tokens=False)

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab(with_added_tokens=True)

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | None | list[int | None]:
        """Id of a token, or ids of a list of tokens; a token the vocabulary lacks gets `unk_token_id`."""
        if isinstance(tokens, str):
            return self._token_id(tokens)
        return [self._token_id(token) for token in tokens]

    def _token_id(self, token: str) -> int | None:
        token_id = self.backend.token_to_id(token)
        return self.unk_token_id if token_id is None else token_id

    def convert_ids_to_tokens(
        self, ids: int | Iterable[int], skip_special_tokens: bool = False
    ) -> str | None | list[str | None]:
        """Token of an id, or tokens of a list of ids (None for an id outside the vocabulary, as HF: the None is
        visible, unlike `decode`'s silent skip). A float id is a TypeError (see `_token_ids`)."""
        ids = _to_python(ids)
        if isinstance(ids, numbers.Number):
            return self.backend.id_to_token(self._token_ids([ids], in_vocabulary=False)[0])
        skipped = set(self.all_special_ids) if skip_special_tokens else set()
        return [self.backend.id_to_token(i) for i in self._token_ids(ids, in_vocabulary=False) if i not in skipped]

    def _token_ids(self, ids: Iterable[Any], in_vocabulary: bool = True) -> list[int]:
        """`ids` as python ints, refusing what decoding would silently get wrong: a float (logits or a float array
        passed by mistake; whole-number floats too, as HF's decode refuses them) and, `in_vocabulary`, an id
        outside the vocabulary, which the backend would leave out of the text."""
        out, size = [], len(self)
        for i in ids:
            if not isinstance(i, numbers.Integral):
                raise TypeError(f"token ids must be integers, got {i!r} ({type(i).__name__}); cast float ids "
                                "first, e.g. ids.astype(int)")
            if in_vocabulary and not 0 <= i < size:
                raise ValueError(f"token id {i} is outside this tokenizer's vocabulary [0, {size}); were the "
                                 "ids made by another tokenizer or model?")
            out.append(int(i))
        return out

    # --- encoding -----------------------------------------------------------------------------
    def __call__(
        self,
        text: str | Sequence[str] | np.ndarray,
        text_pair: str | Sequence[str] | np.ndarray | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        split_special_tokens: bool = False,
    ) -> BatchEncoding:
        """HF's `tokenizer(text)`: `input_ids` and `attention_mask` of a text, a batch, or pairs of them.

        text, text_pair: a str is one text and gives flat lists; a list or tuple of str is a batch and gives
            lists of lists. A numpy str, a 0-d numpy string array (what `mindspore.dataset`'s `map` hands a
            function) and a 1-d one are read as the str and the list (HF refuses arrays). A pair is the two
            texts' ids one after the other; `token_type_ids` (on request) are 0 on text, 1 on text_pair.
        add_special_tokens: HF's switch for the post-processor's tokens; GPT-1's adds none (HF's neither),
            so the ids are the text's. The paper's `[BOS] text [EOS]` is `mindgpt.tasks.frame`.
        padding: True or "longest" pads to the batch's longest row, "max_length" to `max_length`, False or
            "do_not_pad" not at all. On the right, with `pad_token_id` and attention_mask 0; a tokenizer
            without a pad token raises (add one with `add_special_tokens({"pad_token": "<pad>"})`).
            Unlike HF, "max_length" without `max_length` raises instead of quietly not padding.
        truncation: True or "longest_first" cuts the longer text first, "only_first" / "only_second" one
            of the pair, False or "do_not_truncate" neither; rows end at `max_length` tokens. `max_length`
            alone truncates (HF's default); truncation without `max_length` keeps every token, as HF does
            for a tokenizer without a model_max_length.
        return_tensors: None (python lists), "np" (int64 arrays [B, T], as HF) or "ms" (int32
            `mindspore.Tensor` [B, T]); rows of different lengths raise (HF builds an object array): pad them.
            An empty batch raises too (HF fails on an IndexError).
        return_token_type_ids, return_attention_mask: None means HF's default for GPT-1: no token types, a mask.
        split_special_tokens: read special tokens' spellings in the text as characters (HF's option).
        """
        if return_tensors not in TENSOR_TYPES:
            raise ValueError(f"return_tensors={return_tensors!r}; use None (lists), 'np' or 'ms' (mindspore.Tensor)")
        padding, truncation = _strategies(padding, truncation, max_length)
        if padding != "do_not_pad" and self.pad_token_id is None:
            raise ValueError(
                f"padding={padding!r} needs a pad token and this tokenizer has none; add one with "
                "tokenizer.add_special_tokens({'pad_token': '<pad>'}) and resize the model's token embeddings"
            )
        texts, batched = _as_texts(text, "text")
        pairs = None if text_pair is None else _as_pairs(text_pair, texts, batched)
        rows = self._encode_rows(texts, pairs, add_special_tokens, truncation, max_length, split_special_tokens)
        columns = {"input_ids": [row.ids for row in rows]}
        if return_token_type_ids:
            columns["token_type_ids"] = [row.type_ids for row in rows]
        if return_attention_mask is not False:
            columns["attention_mask"] = [row.attention_mask for row in rows]
        if padding != "do_not_pad":
            width = max_length if padding == "max_length" else max(len(ids) for ids in columns["input_ids"])
            _pad_right(columns, width, self.pad_token_id)
        return _batch_encoding(columns, batched, return_tensors)

    def _encode_rows(
        self,
        texts: list[str],
        pairs: list[str] | None,
        add_special_tokens: bool,
        truncation: str,
        max_length: int | None,
        split_special_tokens: bool,
    ) -> list[Encoding]:
        """Encode each text, cut it as HF's Rust backend does, then let the post-processor join the pair."""
        backend = self._plain_backend() if split_special_tokens else self.backend
        firsts = backend.encode_batch_fast(texts, add_special_tokens=False)
        seconds = [None] * len(texts) if pairs is None else backend.encode_batch_fast(pairs, add_special_tokens=False)
        rows = []
        for first, second in zip(firsts, seconds):
            if truncation != "do_not_truncate" and max_length is not None:
                added = self.backend.num_special_tokens_to_add(second is not None) if add_special_tokens else 0
                _truncate(first, second, max_length - added, truncation)
            rows.append(self.backend.post_process(first, second, add_special_tokens))
        return rows

    def encode(
        self, text: str | Sequence[str] | np.ndarray, text_pair: str | Sequence[str] | None = None, **options: Any
    ) -> list[int] | list[list[int]] | np.ndarray | mindspore.Tensor:
        """HF's `encode`: `tokenizer(text, text_pair, **options)["input_ids"]` (options as for `__call__`).

        Special tokens typed in the text match, as in HF; mindgpt's own paths use `encode_batch` instead.
        """
        return self(text, text_pair, **options)["input_ids"]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids of many plain texts on all cores (the Rust batch encoder): what mindgpt's own paths read text with.

        Plain text: a special token's spelling ("[EOS]", "<eos>", "<unk>") stays characters and never becomes
        the special id, so text from users and corpora cannot inject e.g. the classifier token. The same ids
        as HF's `tokenizer(text, split_special_tokens=True)`; no special token is added.
        """
        if isinstance(texts, str):
            raise TypeError(f"encode_batch takes a list of texts, got the string {texts!r:.60}; pass [text]")
        _check_texts(texts, "texts")
        return [e.ids for e in self._plain_backend().encode_batch_fast(list(texts), add_special_tokens=False)]

    def _plain_backend(self) -> Tokenizer:
        """A copy of the backend that does not match special tokens in text (rather than toggling the shared
        backend's flag under a concurrent caller). Made once: tokens added later are special, which this
        copy would not match anyway, so it stays right."""
        if self._plain is None:
            plain = Tokenizer.from_str(self.backend.to_str())
            plain.encode_special_tokens = True
            self._plain = plain
        return self._plain

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (e.g. into a dataset worker process) without the plain-text copy: `tokenizers` does not pickle
        its encode_special_tokens flag, so the copy would come back matching special tokens."""
        return {**self.__dict__, "_plain": None}

    def tokenize(
        self, text: str, pair: str | None = None, add_special_tokens: bool = False, **options: Any
    ) -> list[str | None]:
        """The text's tokens (`"lower"` -> `["low", "er</w>"]`); options as for `__call__`."""
        if not isinstance(text, str):
            raise TypeError(f"tokenize takes one str, got a {type(text).__name__}; call it once per text")
        ids = self.encode(text, pair, add_special_tokens=add_special_tokens, **options)
        return self.convert_ids_to_tokens(ids)

    # --- decoding -----------------------------------------------------------------------------
    def decode(
        self, token_ids: int | Sequence[int] | Sequence[Sequence[int]], skip_special_tokens: bool = False
    ) -> str | list[str]:
        """Text of an id or of a sequence of ids (list, numpy array, Tensor); a batch of sequences gives a list.

        GPT-1 text comes back lower-cased with spaces around punctuation.
        """
        ids = _to_python(token_ids)
        if isinstance(ids, numbers.Number):
            ids = [ids]
        if ids and not isinstance(ids[0], numbers.Number):
            return self.batch_decode(ids, skip_special_tokens)
        return self.backend.decode(self._token_ids(ids), skip_special_tokens=skip_special_tokens)

    def batch_decode(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = False) -> list[str]:
        """Texts of a batch of id sequences; one flat sequence gives a list of one text (as HF, which warns)."""
        sequences = _to_python(sequences)
        if sequences and isinstance(sequences[0], numbers.Number):
            sequences = [sequences]
        rows = [self._token_ids(_to_python(row)) for row in sequences]
        return self.backend.decode_batch(rows, skip_special_tokens=skip_special_tokens)

    # --- saving -------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write tokenizer.json, vocab.json + merges.txt, tokenizer_config.json, special_tokens_map.json."""
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        state = json.loads(self.backend.to_str())
        model = state["model"]
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        gpt1 = model.get("end_of_word_suffix") == END_OF_WORD
        special_map = {**self.special_tokens, **({"unk_token": UNK_TOKEN} if gpt1 else {})}
        added = self.backend.get_added_tokens_decoder()
        config = {
            "tokenizer_class": "OpenAIGPTTokenizer" if gpt1 else "GPT2Tokenizer",
            "do_lower_case": gpt1,
            **special_map,
            "added_tokens_decoder": {str(i): {"content": t.content, "special": True} for i, t in sorted(added.items())},
        }
        files = {
            TOKENIZER_FILE: self.backend.to_str(pretty=True),
            "vocab.json": json.dumps(model["vocab"], ensure_ascii=False),
            "merges.txt": "#version: 0.2\n" + "".join(m + "\n" for m in merges),
            CONFIG_FILE: json.dumps(config, indent=2, ensure_ascii=False),
            SPECIAL_TOKENS_MAP_FILE: json.dumps(special_map, indent=2, ensure_ascii=False),
        }
        for name, text in files.items():
            atomic_write_text(os.path.join(directory, name), text)


def _read_json(path: str) -> dict:
    """A JSON object from a tokenizer file; a broken one is a ValueError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); is the file truncated?") from e
    if not isinstance(values, dict):
        raise ValueError(f"{path} holds a JSON {type(values).__name__}, not an object")
    return values


@contextlib.contextmanager
def _naming(path: str):
    """The tokenizers library's errors name no file (a bare Exception: "Merges text file invalid at line 1"):
    re-raise them as a ValueError that names `path`."""
    try:
        yield
    except OSError:
        raise
    except Exception as e:
        raise ValueError(f"cannot read the tokenizer from {path}: {e}; is the file truncated or from "
                         "another tokenizer?") from e


def _content(token: str | dict) -> str:
    """HF writes a special token as its string or as {"content": string, ...}."""
    return token["content"] if isinstance(token, dict) else token


def _restore_added_tokens(backend: Tokenizer, config: dict, directory: str) -> None:
    """Re-add the tokens tokenizer_config.json lists beyond vocab.json, each at its recorded id."""
    for token_id, token in sorted((int(i), t) for i, t in config.get("added_tokens_decoder", {}).items()):
        name = _content(token)
        backend.add_special_tokens([_special(name)])
        if backend.token_to_id(name) != token_id:
            raise ValueError(
                f"{directory}/{CONFIG_FILE} puts {name!r} at id {token_id} but the vocabulary files give it "
                f"id {backend.token_to_id(name)}; the files come from different tokenizers"
            )


def _as_files(source: str | os.PathLike | Iterable[str]) -> list[str] | None:
    """The training files `source` names, or None when it is an iterable of texts."""
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise FileNotFoundError(f"training file {os.fspath(source)!r} does not exist")
        return [os.fspath(source)]
    if isinstance(source, (list, tuple)) and source and all(
        isinstance(p, (str, os.PathLike)) and os.path.isfile(p) for p in source
    ):
        return [os.fspath(p) for p in source]
    return None


def _check_texts(texts: Sequence[str], name: str) -> None:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is a {type(text).__name__} ({text!r}), not a str")


def _to_python(value: Any) -> Any:
    """numpy arrays and scalars, mindspore Tensors -> python lists and ints; anything else as it is."""
    return value.tolist() if hasattr(value, "tolist") else value


def _as_texts(value: Any, name: str) -> tuple[list[str], bool]:
    """(texts, batched): a str or 0-d string array is one text; a list, tuple or 1-d array of str a batch."""
    if isinstance(value, np.ndarray) and value.ndim <= 1:
        value = value.tolist()
    if isinstance(value, str):
        return [value], False
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"{name} is an empty batch; pass at least one text")
        _check_texts(value, name)
        return list(value), True
    raise TypeError(
        f"{name} is a {type(value).__name__} ({value!r:.60}); pass a str, a list of str or a numpy string array "
        "(pre-tokenized words are not supported: join them with spaces)"
    )


def _as_pairs(value: Any, texts: list[str], batched: bool) -> list[str]:
    pairs, pairs_batched = _as_texts(value, "text_pair")
    if pairs_batched != batched:
        kinds = {True: "a batch", False: "one text"}
        raise TypeError(
            f"text is {kinds[batched]} but text_pair is {kinds[pairs_batched]}; "
            "pass a str with a str, or two lists of the same length"
        )
    if len(pairs) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(pairs)} text_pairs; they pair up one to one")
    return pairs


def _strategies(padding: bool | str, truncation: bool | str | None, max_length: int | None) -> tuple[str, str]:
    """HF's reading of padding and truncation, as strategy names; max_length alone means truncation."""
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral)
                                   or max_length < 0):
        raise ValueError(f"max_length={max_length!r}; use a whole number of tokens >= 0, or None")
    if max_length is not None and padding is False and truncation is None:
        truncation = True
    if padding is True and max_length is not None and truncation in (None, False, "do_not_truncate"):
        warnings.warn("max_length is ignored when padding=True without truncation (as in HF); pass "
                      "padding='max_length' to pad to it, or truncation=True to cut to it", stacklevel=3)
    if isinstance(padding, bool):
        padding = "longest" if padding else "do_not_pad"
    if truncation is None or isinstance(truncation, bool):
        truncation = "longest_first" if truncation else "do_not_truncate"
    if padding not in PADDING:
        raise ValueError(f"padding={padding!r}; use True, False or one of {PADDING}")
    if truncation not in TRUNCATION:
        raise ValueError(f"truncation={truncation!r}; use True, False or one of {TRUNCATION}")
    if padding == "max_length" and max_length is None:
        raise ValueError("padding='max_length' needs max_length=...; or pass padding=True for the longest row")
    return padding, truncation


def _truncate(first: Encoding, second: Encoding | None, max_length: int, strategy: str) -> None:
    """Cut the texts in place to `max_length` tokens in all, by the rules of `tokenizers` (which HF uses)."""
    if max_length < 0:
        raise ValueError(f"max_length is shorter than the {-max_length} special tokens the post-processor adds")
    lengths = [len(first), len(second) if second is not None else 0]
    excess = sum(lengths) - max_length
    if excess <= 0:
        return
    if max_length == 0:
        keep = [0, 0]
    elif strategy == "longest_first":
        keep = _longest_first(*lengths, max_length) if second is not None else [max_length, 0]
    else:
        index = 0 if strategy == "only_first" else 1
        if second is None and index == 1:
            raise ValueError("truncation='only_second' needs a text_pair; use truncation=True for one text")
        if lengths[index] <= excess:
            raise ValueError(
                f"truncation={strategy!r} cannot reach max_length={max_length}: that text has {lengths[index]} "
                f"tokens and {excess} must go; use truncation='longest_first' or raise max_length"
            )
        keep = list(lengths)
        keep[index] -= excess
    first.truncate(keep[0])
    if second is not None:
        second.truncate(keep[1])


def _longest_first(n_first: int, n_second: int, max_length: int) -> list[int]:
    """Keep the shorter text whole if the longer can fill the rest, else split max_length in halves
    (the extra token of an odd max_length to the longer text, to the second if they are equally long)."""
    short, long = sorted((n_first, n_second))
    keep_short, keep_long = short, short if short > max_length else max(short, max_length - short)
    if keep_short + keep_long > max_length:
        keep_short, keep_long = max_length // 2, max_length // 2 + max_length % 2
    return [keep_short, keep_long] if n_first <= n_second else [keep_long, keep_short]


def _pad_right(columns: dict[str, list[list[int]]], width: int, pad_id: int) -> None:
    """Pad every row in place to `width` (rows already longer stay as they are, as in HF)."""
    fill = {"input_ids": pad_id, "token_type_ids": 0, "attention_mask": 0}
    for name, rows in columns.items():
        for row in rows:
            row.extend([fill[name]] * (width - len(row)))


def _batch_encoding(columns: dict[str, list[list[int]]], batched: bool, return_tensors: str | None) -> BatchEncoding:
    """Lists (flat for one text, as HF) or [B, T] arrays: numpy int64 as HF, mindspore int32 for the model."""
    if return_tensors is None:
        return BatchEncoding(columns if batched else {name: rows[0] for name, rows in columns.items()})
    lengths = sorted({len(row) for row in columns["input_ids"]})
    if len(lengths) > 1:
        raise ValueError(
            f"return_tensors={return_tensors!r} needs rows of one length, got lengths {lengths}; "
            "pass padding=True (or padding='max_length' with max_length)"
        )
    arrays = {name: np.array(rows, dtype=np.int64).reshape(len(rows), lengths[0]) for name, rows in columns.items()}
    if return_tensors == "np":
        return BatchEncoding(arrays)
    import mindspore  # only here: the tokenizer works without MindSpore installed

    return BatchEncoding({name: mindspore.Tensor(a.astype(np.int32)) for name, a in arrays.items()})


def document_separator(tokenizer) -> int | None:
    """The token that separates documents in pretraining text: [BOS], which opens every document of the corpus
    (`mindgpt.data.corpus`). [EOS] stays new to pretraining, for the classifier heads to read. A language model
    that generates the separator has ended its text: pass it as generation's `eos_token_id`. None when the
    tokenizer has no [BOS] (the corpus then has no separator either)."""
    return tokenizer.bos_token_id


def document_start(tokenizer, ids: Sequence[int] = ()) -> list[int]:
    """`ids` as the start of a document: after the separator, as every pretraining document begins."""
    separator = document_separator(tokenizer)
    return ([] if separator is None else [separator]) + [int(i) for i in ids]


def pretrained_tokenizer(directory: str | os.PathLike) -> GPTTokenizer:
    """A saved tokenizer with the paper's four special tokens added where it lacks them: pretraining writes
    [BOS], fine-tuning frames with [SEP] and reads [EOS], batches pad with [PAD]."""
    tokenizer = GPTTokenizer.from_pretrained(directory)
    tokenizer.add_special_tokens()
    return tokenizer
