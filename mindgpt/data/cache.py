"""The one way the data layer caches what it derives: a folder per key under `data_dir`, whole once its meta is there.

Every artifact built from slow inputs (a dataset's splits, a corpus' token shards, a BPE vocabulary trained on a
corpus) is cached alike:

- its key (`cache_key`) hashes everything that shapes it: the artifact's type and format version, its parameters,
  and the bytes of its inputs;
- it lives in `<data_dir>/<artifact>/<label>-<key prefix>/` (`entry_dir`), so artifacts that differ in anything never
  share (or overwrite) a folder; the label only helps a reader find it;
- its builder empties the meta first (`begin_entry`) and writes it last (`finish_entry`), holding the full key:
  a folder without a meta, or whose meta holds another key (a crashed build, an older format), is a miss
  (`read_meta`), rebuilt rather than read.

Splits are named by `SPLITS` in every cache: "train", "validation" and "test".
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from ..io import atomic_write_text

SPLITS = ("train", "validation", "test")
META_NAME = "meta.json"
KEY_CHARS = 16  # of the key in a folder name: the meta holds it whole, and a hit must match it whole


def cache_key(artifact: str, version: int, params: Any, inputs: Iterable[str | bytes] = ()) -> str:
    """sha256 over `[artifact, version, params]` (as JSON, keys sorted) and then each of `inputs`, length-prefixed so
    that ("ab", "c") and ("a", "bc") differ. `inputs` may be a generator: large corpora are hashed as they stream.
    """
    digest = hashlib.sha256()
    for part in (json.dumps([artifact, version, params], sort_keys=True), *inputs):
        data = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def entry_dir(data_dir: str | os.PathLike, artifact: str, label: str, key: str) -> Path:
    """`<data_dir>/<artifact>/<label>-<key prefix>`; the label is reduced to characters safe in a file name."""
    label = re.sub(r"[^\w.-]+", "_", label).strip("._") or artifact
    return Path(data_dir) / artifact / f"{label}-{key[:KEY_CHARS]}"


def read_meta(folder: str | os.PathLike, key: str) -> dict[str, Any] | None:
    """The meta of the entry in `folder` if it was built whole under `key`; else None (build it)."""
    try:
        meta = json.loads((Path(folder) / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("cache_key") == key else None


def begin_entry(folder: str | os.PathLike) -> Path:
    """Create `folder` and remove its meta before anything in it is (re)written: no reader may pair an old meta
    with new files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_NAME).unlink(missing_ok=True)
    return folder


def finish_entry(folder: str | os.PathLike, key: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the meta, the entry's last file, atomically; return it (with `cache_key` first)."""
    meta = {"cache_key": key, **meta}
    atomic_write_text(Path(folder) / META_NAME, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return meta
