"""GPTTokenizer: GPT-1's BPE vocabulary (and GPT-2's byte-level one) on the Rust `tokenizers` library.

GPT-1 text goes through exactly the pipeline transformers' `OpenAIGPTTokenizer` builds: BERT's normalizer
(clean control characters, space out CJK characters, strip accents, lower-case), BERT's basic
pre-tokenizer (split on whitespace and punctuation), then BPE whose word-final symbols end in `</w>`.
A character the vocabulary lacks becomes `<unk>`. GPT-2 files (`encoder.json` + `vocab.bpe`) get the
byte-level pipeline instead, which has no unknown characters.

Fine-tuning needs four extra tokens the paper adds to the pretrained vocabulary: start `[BOS]`, delimiter
`[SEP]`, extract `[EOS]` (the classifier reads the hidden state here) and `[PAD]`. Their names are
configurable; their ids are saved with the tokenizer and go into a `GPTConfig` via `special_token_ids()`.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Mapping, Sequence

import numpy as np
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
from tokenizers.models import BPE

from .io import atomic_write_text

ROLES = ("bos_token", "sep_token", "eos_token", "pad_token")
DEFAULT_SPECIAL_TOKENS = {"bos_token": "[BOS]", "sep_token": "[SEP]", "eos_token": "[EOS]", "pad_token": "[PAD]"}
UNK_TOKEN = "<unk>"
END_OF_WORD = "</w>"
GPT2_END_OF_TEXT = "<|endoftext|>"

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


class GPTTokenizer:
    """A `tokenizers.Tokenizer` plus the names of the four fine-tuning special tokens."""

    def __init__(self, backend: Tokenizer, special_tokens: Mapping[str, str] | None = None):
        self.backend = backend
        self.special_tokens: dict[str, str] = {}  # role -> token, only the roles this vocabulary has
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
            backend = Tokenizer.from_file(os.path.join(directory, TOKENIZER_FILE))
        else:
            pair = next((p for p in VOCAB_FILES.values() if set(p) <= files), None)
            if pair is None:
                raise FileNotFoundError(
                    f"{directory!r} has no {TOKENIZER_FILE}, no GPT-1 vocab.json + merges.txt and "
                    "no GPT-2 encoder.json + vocab.bpe"
                )
            backend = _from_vocab_merges(*(os.path.join(directory, name) for name in pair))
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

        `tokens` is None (all four defaults), a dict `{"bos_token": "<bos>", ...}` with keys from `ROLES`,
        or a list of names whose role is read off the name (`["<bos>", "<eos>", "<pad>"]`).
        """
        roles = _special_roles(tokens)
        added = self.backend.add_special_tokens([_special(name) for name in roles.values()])
        self.special_tokens.update(roles)
        return added

    def _role_id(self, role: str) -> int | None:
        name = self.special_tokens.get(role)
        return None if name is None else self.backend.token_to_id(name)

    @property
    def bos_token_id(self) -> int | None:
        return self._role_id("bos_token")

    @property
    def sep_token_id(self) -> int | None:
        return self._role_id("sep_token")

    @property
    def eos_token_id(self) -> int | None:
        return self._role_id("eos_token")

    @property
    def pad_token_id(self) -> int | None:
        return self._role_id("pad_token")

    @property
    def unk_token_id(self) -> int | None:
        return self.backend.token_to_id(UNK_TOKEN)

    def special_token_ids(self) -> dict[str, int | None]:
        """Ids for `GPTConfig(**ids)`; cls is the `[EOS]` the classifier reads."""
        ids = {f"{role}_id": self._role_id(role) for role in ROLES}
        ids["cls_token_id"] = ids["eos_token_id"]
        return ids

    def _require(self, role: str) -> int:
        token_id = self._role_id(role)
        if token_id is None:
            raise ValueError(
                f"this tokenizer has no {role}; call tokenizer.add_special_tokens() and resize the "
                "model's token embeddings to len(tokenizer)"
            )
        return token_id

    # --- encoding -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of one text; with `add_special_tokens`, wrapped as `[BOS] text [EOS]`."""
        ids = self.encode_batch([text])[0]
        if add_special_tokens:
            ids = [self._require("bos_token"), *ids, self._require("eos_token")]
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of many texts at once, on all cores (the Rust batch encoder)."""
        _check_texts(texts, "texts")
        return [e.ids for e in self.backend.encode_batch_fast(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Text of `ids`; GPT-1 text comes back lower-cased with spaces around punctuation."""
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def __call__(
        self,
        texts: str | Sequence[str],
        text_pairs: str | Sequence[str] | None = None,
        max_length: int | None = None,
        padding: str | Sequence[int] = "longest",
        truncation: bool = True,
    ) -> dict[str, np.ndarray]:
        """Encode a batch as `[BOS] text [EOS]`, or `[BOS] text [SEP] pair [EOS]`, into int32 arrays `[B, T]`.

        truncation: rows longer than `max_length` lose text tokens from the end of their longer segment
            (never a special token); with `truncation=False` they raise instead.
        padding: "longest" pads to the batch's longest row, "max_length" to `max_length` (static shapes
            for graph mode), a list of lengths to the smallest that fits (few distinct shapes).
            Padding is on the right: `pad_token_id`, attention_mask 0.
        token_type_ids: 0 on `[BOS] text [SEP]` and padding, 1 on `pair [EOS]`. GPT-1 looks them up in the
            token table, so they are token ids: any value below the vocabulary size is valid.
        A text that is empty, not a string, or contains one of the special tokens raises ValueError/TypeError.
        """
        texts = [texts] if isinstance(texts, str) else texts
        if not texts:
            raise ValueError("texts is empty; pass at least one text")
        if isinstance(text_pairs, str):
            text_pairs = [text_pairs]
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs; they pair up one to one")
        firsts = self._encode_segments(texts, "texts")
        seconds = self._encode_segments(text_pairs, "text_pairs") if text_pairs is not None else None
        rows, types = [], []
        for i, first in enumerate(firsts):
            second = seconds[i] if seconds is not None else None
            if max_length is not None:
                first, second = _fit(first, second, max_length, truncation, i)
            row, type_ids = self._assemble(first, second)
            rows.append(row)
            types.append(type_ids)
        return _pad(rows, types, _padded_length(rows, padding, max_length), self._require("pad_token"))

    def _encode_segments(self, texts: Sequence[str], name: str) -> list[list[int]]:
        """Ids of each text, refusing what would silently corrupt a task input."""
        special = {self._role_id(role): self.special_tokens[role] for role in self.special_tokens}
        encoded = self.encode_batch(texts)
        for i, ids in enumerate(encoded):
            if not ids:
                raise ValueError(f"{name}[{i}]={texts[i]!r} has no tokens; drop empty texts from the data")
            inside = special.keys() & set(ids)
            if inside:
                raise ValueError(
                    f"{name}[{i}] contains the special token {special[inside.pop()]!r}; "
                    "remove it from the text, it would move the segment marks"
                )
        return encoded

    def _assemble(self, first: list[int], second: list[int] | None) -> tuple[list[int], list[int]]:
        bos, eos = self._require("bos_token"), self._require("eos_token")
        if second is None:
            row = [bos, *first, eos]
            return row, [0] * len(row)
        head = [bos, *first, self._require("sep_token")]
        tail = [*second, eos]
        return head + tail, [0] * len(head) + [1] * len(tail)

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
    with open(path, encoding="utf-8") as f:
        return json.load(f)


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


def _fit(first: list[int], second: list[int] | None, max_length: int, truncation: bool, row: int):
    """Shorten the text segments so the row, specials included, fits `max_length` (longest first)."""
    n_special = 2 if second is None else 3
    n_segments = n_special - 1
    if max_length < n_special + n_segments:
        raise ValueError(f"max_length={max_length} leaves no room for text; use at least {n_special + n_segments}")
    budget = max_length - n_special
    length = len(first) + (len(second) if second is not None else 0)
    if length <= budget:
        return first, second
    if not truncation:
        raise ValueError(
            f"row {row} needs {length + n_special} tokens but max_length={max_length}; "
            "pass truncation=True or raise max_length"
        )
    if second is None:
        return first[:budget], None
    keep_second = min(len(second), max(budget // 2, budget - len(first)))
    return first[: budget - keep_second], second[:keep_second]


def _padded_length(rows: list[list[int]], padding: str | Sequence[int], max_length: int | None) -> int:
    longest = max(len(row) for row in rows)
    if padding == "longest":
        return longest
    if padding == "max_length":
        if max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        return max_length
    if isinstance(padding, str) or not all(isinstance(b, int) for b in padding):
        raise ValueError(f"padding={padding!r}; use 'longest', 'max_length' or a list of bucket lengths")
    fitting = [b for b in padding if b >= longest]
    if not fitting:
        raise ValueError(
            f"the longest row has {longest} tokens, more than every bucket in {list(padding)}; "
            f"add a bucket >= {longest} (e.g. max_length) or lower max_length"
        )
    return min(fitting)


def _pad(rows: list[list[int]], types: list[list[int]], length: int, pad_id: int) -> dict[str, np.ndarray]:
    input_ids = np.full((len(rows), length), pad_id, dtype=np.int32)
    attention_mask = np.zeros((len(rows), length), dtype=np.int32)
    token_type_ids = np.zeros((len(rows), length), dtype=np.int32)
    for i, (row, type_ids) in enumerate(zip(rows, types)):
        input_ids[i, : len(row)] = row
        attention_mask[i, : len(row)] = 1
        token_type_ids[i, : len(row)] = type_ids
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
