"""README.md and README_CN.md: the same document in two languages, pointing only at what the repository holds.

Checked here: the same `##`/`###` section structure (paired by position, and the English in model-zoo order), the same
```bash blocks, the same ```python code (comments may be translated), the same links, every relative link's file (and
heading anchor) present, the module tree naming every module that exists, README.md at most 160 lines, and the Quick
start holding exactly two commands, the second the one CI runs.
"""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_CN = ROOT / "README_CN.md"
# Markdown files whose links and wording the READMEs' rules also cover.
DOCS = (README, README_CN, ROOT / "benchmarks" / "README.md", ROOT / "benchmarks" / "ablation" / "README.md")
MAX_LINES = 160
# Sections of README.md in model-zoo order (README_CN.md pairs its own headings with these by position).
SECTIONS = ["Model description", "Quick start", "Results", "Script and sample code", "Configs", "Python usage",
            "Launch scripts", "Course notebooks"]

FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
TREE_ENTRY = re.compile(r"^(?P<indent>(?:│   |    )*)[├└]── (?P<name>\S+)(?P<description>.*)$")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def fences(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def prose(text: str) -> str:
    """The text outside fenced code blocks (a `#` comment in a block is not a heading, nor a link)."""
    return FENCE.sub("", text)


def headings(text: str) -> list[tuple[int, str]]:
    return [(len(marks), title.strip()) for marks, title in re.findall(r"^(#{2,3}) +(.+)$", prose(text), re.M)]


def section(text: str, title: str) -> str:
    """From the `## title` line to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def links(text: str) -> list[str]:
    return LINK.findall(prose(text))


def code_tokens(source: str) -> list[tuple[int, str]]:
    """The Python tokens of `source` without comments: what a translation must leave alone."""
    skip = {tokenize.COMMENT, tokenize.NL}
    return [(tok.type, tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type not in skip]


def commands(block: str) -> list[str]:
    """Shell commands of a ```bash block: non-empty, non-comment lines, backslash continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def ci_test_command() -> str:
    """The command `.ci/run` runs the test suite with (its first line running pytest)."""
    lines = [line.strip() for line in read(ROOT / ".ci" / "run").splitlines()
             if "pytest -q tests" in line and not line.lstrip().startswith("#")]
    assert lines, ".ci/run runs no `pytest -q tests`"
    return lines[0]


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    title = re.sub(r"[`*_]", "", title.strip().lower())
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def tree(text: str) -> list[tuple[str, str]]:
    """(path, description) of each entry of the ```text file tree under "Script and sample code"."""
    blocks = fences(section(text, "Script and sample code") if "## Script and sample code" in text
                    else text, "text")
    assert len(blocks) == 1, "the section holds one ```text file tree"
    entries, parents = [], []
    for line in blocks[0].splitlines():
        match = TREE_ENTRY.match(line)
        assert match, f"not a tree line: {line!r}"
        depth = len(match["indent"]) // 4
        assert depth <= len(parents), f"{line!r} is deeper than its folder"
        name = match["name"]
        parents = parents[:depth]
        entries.append(("/".join(parents + [name.rstrip("/")]), match["description"].strip()))
        if name.endswith("/"):
            parents.append(name.rstrip("/"))
    return entries


def cn_tree(text: str) -> list[tuple[str, str]]:
    """README_CN.md's tree: the ```text block of its fourth `##` section."""
    titles = [title for level, title in headings(text) if level == 2]
    return tree(section(text, titles[SECTIONS.index("Script and sample code")]))


@pytest.fixture(scope="module")
def en() -> str:
    return read(README)


@pytest.fixture(scope="module")
def cn() -> str:
    return read(README_CN)


def test_readme_is_short(en, cn):
    for path, text in ((README, en), (README_CN, cn)):
        n = len(text.splitlines())
        assert n <= MAX_LINES, f"{path.name} has {n} lines; at most {MAX_LINES}: move details to benchmarks/"


def test_sections_in_model_zoo_order_and_paired(en, cn):
    assert [title for level, title in headings(en) if level == 2] == SECTIONS
    en_levels = [level for level, _ in headings(en)]
    cn_levels = [level for level, _ in headings(cn)]
    assert en_levels == cn_levels, "README_CN.md's ##/### headings must pair with README.md's by position"
    assert en_levels.count(3) >= 3, "Results holds one ### table per study"


def test_quick_start_is_two_commands_the_second_what_ci_runs(en, cn):
    for text in (en, cn):
        assert "3.9–3.11" in text, "the Python versions the README promises"
    blocks = fences(section(en, "Quick start"), "bash")
    assert len(blocks) == 1
    quick = commands(blocks[0])
    assert len(quick) == 2, f"the Quick start holds exactly two commands, not {quick}"
    first, second = quick
    assert "-m mindgpt pretrain" in first
    assert second == ci_test_command()
    assert second in en.splitlines() and second in cn.splitlines()


def test_bash_blocks_identical(en, cn):
    assert fences(en, "bash"), "README.md has ```bash blocks"
    assert fences(en, "bash") == fences(cn, "bash")


def test_python_blocks_same_code(en, cn):
    en_blocks, cn_blocks = fences(en, "python"), fences(cn, "python")
    assert en_blocks and len(en_blocks) == len(cn_blocks)
    for en_code, cn_code in zip(en_blocks, cn_blocks):
        compile(en_code, "README.md", "exec")
        assert code_tokens(en_code) == code_tokens(cn_code)


def test_same_links(en, cn):
    assert "README_CN.md" in links(en) and "README.md" in links(cn), "each names the other"
    en_links = [target for target in links(en) if target != "README_CN.md"]
    cn_links = [target for target in links(cn) if target != "README.md"]
    assert len(en_links) >= 10
    assert en_links == cn_links


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_exist(doc):
    checked = 0
    for target in links(read(doc)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to {target}, which does not exist"
        if anchor:
            assert anchor in {slug(title) for title in re.findall(r"^#+ +(.+)$", prose(read(path)), re.M)}, \
                f"{doc.name} links to {target}: no such heading"
        checked += 1
    assert checked, f"{doc.name} has no relative links"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_references_outside_the_repository(doc):
    found = re.findall(r"/w[o]rk/|\.\./shared\b|\bissues?\b[^.\n]{0,20}", read(doc), re.I)
    assert not found, f"{doc.name} refers to things outside the repository: {found}"


def test_tree_names_every_module(en, cn):
    entries = tree(en)
    paths = [path for path, _ in entries]
    for path, description in entries:
        assert (ROOT / path).exists(), f"the tree lists {path}, which does not exist"
        assert description, f"the tree gives {path} no description"
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mindgpt").rglob("*.py")
                     if "__pycache__" not in p.parts)
    assert len(modules) > 20
    for module in modules:
        listed = str(Path(module).parent) if module.endswith("/__init__.py") else module
        assert listed in paths, f"{module} is missing from the README's module tree"
    benchmarks = dict(entries)["benchmarks"]
    for script in sorted((ROOT / "benchmarks").rglob("*.py")):
        assert str(script.relative_to(ROOT / "benchmarks")) in benchmarks, f"the tree's benchmarks line omits {script}"
    for named in re.findall(r"[\w/]+\.py", benchmarks):
        assert (ROOT / "benchmarks" / named).exists(), f"the tree's benchmarks line names {named}, which does not exist"
    assert [path for path, _ in cn_tree(cn)] == paths, "README_CN.md's tree lists the same paths"
