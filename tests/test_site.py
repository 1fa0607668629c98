"""The static site of ``aebench publish --site`` (aebench.report.site), read as files: escaping,
links, offline, one page per board and per model, the same bytes twice, figures linked or
copied."""

from __future__ import annotations

import copy
import json
import re
import shutil
import struct
import zlib
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from aebench.records import storage
from aebench.report import publication, publish, site
from aebench.report.formats import to_rows

RECORDS = Path(__file__).parent / "data" / "records"
#: a model name and texts a plugin could write, each carrying markup
EVIL = "<b>x</b><script>alert(1)</script>"
EVIL_REASON = "<img src=x onerror=alert(2)> out of memory"
EVIL_TAG = "<i>tag</i>"
EVIL_CONFIG = "</pre><script>alert(3)</script>"


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid grey PNG (what a browser can decode), without matplotlib."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    head = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _store(results: Path, record: dict, folder: str) -> None:
    path = results / record["group"] / record["dataset"]["name"] / folder
    path = path / f"seed-{record['seed']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def add_markup_records(results: Path, template: dict) -> None:
    """Beside ``template``'s board: a model named with markup (its tag and config too), and one
    whose seeds failed (with markup in the reason), diverged and timed out."""
    for seed in (0, 1, 2):
        r = copy.deepcopy(template)
        r.pop("_path", None)
        r["seed"] = seed
        r["model"].update(name=EVIL, tags=[EVIL_TAG, "baseline"], config={"note": EVIL_CONFIG})
        r["training"]["loss_curve"] = [3.0 - seed * 0.1, 2.5, 2.2, 2.1]
        r["metrics"] = {k: v * 1.01 for k, v in r["metrics"].items() if isinstance(v, float)}
        _store(results, r, "markup")
        bad = copy.deepcopy(r)
        bad["model"].update(name="broken", tags=["autoencoder"], config={})
        status, reason = [
            ("failed", EVIL_REASON),
            ("diverged", "loss is nan at step 12"),
            ("timeout", "stopped after 5 s"),
        ][seed]
        bad.update(status=status, reason=reason, metrics={})
        bad["training"]["loss_curve"] = [4.0, None] if status == "diverged" else []
        if status == "failed":
            bad["traceback"] = "Traceback (most recent call last):\nMemoryError"
        _store(results, bad, "broken")


def make_results(results: Path) -> Path:
    """The committed digits-v1 records (pca, mean, seeds 0-2), the markup and failing models,
    and a variant board of pca and mean (so the index has two protocols)."""
    shutil.copytree(RECORDS, results)
    records, _ = storage.load_records(results)
    add_markup_records(results, next(r for r in records if r["model"]["name"] == "pca"))
    for r in records:
        r = copy.deepcopy(r)
        r.pop("_path")
        r["group"] = "digits-v1~0123456789ab"
        _store(results, r, r["model"]["name"])
    return results


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("site") / "records")


@pytest.fixture(scope="module")
def pub(results) -> publication.Publication:
    records, problems = storage.load_records(results)
    return publication.compose(records, problems)


def with_figures(pub: publication.Publication, out: Path) -> publication.Publication:
    """``pub`` with a (tiny, real) PNG per board and a critical-difference diagram, as
    ``publish`` would have drawn them into ``out/figures``."""
    pub = copy.copy(pub)
    pub.figures, pub.diagrams = {}, {}
    for b in pub.boards:
        if b.members:  # a family's pictures are its members'
            continue
        path = out / "figures" / f"{publication.stem(b)}_reconstructions.png"
        storage.atomic_write(path, png())
        pub.figures[publication.stem(b)] = [path]
    pub.diagrams["reconstruction"] = out / "figures" / "critical-difference_reconstruction.png"
    storage.atomic_write(pub.diagrams["reconstruction"], png())
    return pub


class _Page(HTMLParser):
    """A page's addresses (href, src) and its text."""

    def __init__(self, text: str):
        super().__init__()
        self.refs: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("href", "src") and v is not None]

    def handle_data(self, data):
        self.text.append(data)


def board_cells(html: str) -> list[list[str]]:
    """The text of each cell of a board page's table, row by row (the header row first)."""
    table = re.search(r'<table id="board".*?</table>', html, re.S).group(0)
    return [
        [unescape(re.sub(r"<[^>]*>", "", cell)) for cell in re.findall(r"<t[hd]\b.*?</t[hd]>", row)]
        for row in re.findall(r"<tr\b.*?</tr>", table, re.S)
    ]


def pages(site_dir: Path) -> dict[Path, _Page]:
    return {p: _Page(p.read_text(encoding="utf-8")) for p in sorted(site_dir.rglob("*.html"))}


def assert_addresses_resolve(site_dir: Path) -> dict[Path, _Page]:
    """Every href and src of every page is a relative address of a file of the site's."""
    found = pages(site_dir)
    for page, parsed in found.items():
        assert parsed.refs, page
        for ref in parsed.refs:
            parts = urlsplit(ref)
            assert not parts.scheme and not parts.netloc, f"{page}: {ref}"
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{page}: {ref} -> {target}"
    return found


def test_every_local_address_resolves_and_none_leaves_the_machine(tmp_path, pub):
    pub = with_figures(pub, tmp_path)
    site.write_site(pub, tmp_path / "site", tmp_path)
    assert len(assert_addresses_resolve(tmp_path / "site")) > 3
    for path in (tmp_path / "site").rglob("*"):  # pages, CSS and script: nothing remote
        if path.suffix in (".html", ".css", ".js"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(?i)https?:|@import|url\(", text), path


def test_markup_in_record_text_is_shown_as_text(tmp_path, pub):
    site.write_site(pub, tmp_path / "site", tmp_path)
    found = pages(tmp_path / "site")
    # no page has a script element, and the only images are figures (none here)
    assert not any("script" in p.tags[p.tags.index("body") :] for p in found.values())
    assert not any(t in ("img", "b", "i") for p in found.values() for t in p.tags)
    board = next(p for path, p in found.items() if path.name == "digits-v1_digits.html")
    text = "".join(board.text)
    assert EVIL in text and EVIL_TAG in text
    broken = [p for path, p in found.items() if path.parent.name == "digits-v1_digits"]
    every = "".join("".join(p.text) for p in broken)
    assert EVIL_REASON in every and EVIL_CONFIG in every
    raw = "".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    assert "<script>alert" not in raw and "<img src=x" not in raw


def test_one_page_per_board_and_per_model_on_it_with_every_run(tmp_path, pub):
    written = site.write_site(pub, tmp_path / "site", tmp_path)
    assert all(p.is_file() for p in written) and len(set(written)) == len(written)
    root = tmp_path / "site"
    assert (root / "index.html") in written
    index = (root / "index.html").read_text()
    for b in pub.boards:
        page = root / "boards" / f"{site.slug(publication.stem(b))}.html"
        assert page in written and f'href="{page.relative_to(root).as_posix()}"' in index
        text = page.read_text()
        headers, rows = to_rows(b)
        assert board_cells(text) == [headers, *rows]  # the terminal board's every cell
        for line in b.caption:
            assert f"<p>{_escaped(line)}</p>" in text
        for row in b.rows:
            model = (
                root / "boards" / site.slug(publication.stem(b)) / f"{site.slug(row.model)}.html"
            )
            assert model in written, row.model
    broken = (root / "boards" / "digits-v1_digits" / "broken.html").read_text()
    for status, reason in [
        ("failed", EVIL_REASON),
        ("diverged", "loss is nan at step 12"),
        ("timeout", "stopped after 5 s"),
    ]:
        assert f"<td>{status}</td><td>{_escaped(reason)}</td>" in broken
    assert "MemoryError" in broken
    pca = (root / "boards" / "digits-v1_digits" / "pca.html").read_text()
    assert "No loss curve recorded" in pca and "&#34;whiten&#34;: false" in pca
    markup = root / "boards" / "digits-v1_digits" / f"{site.slug(EVIL)}.html"
    assert markup.read_text().count("<polyline") == 3  # a loss curve per seed


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_the_same_publication_gives_the_same_bytes(tmp_path, pub):
    figured = with_figures(pub, tmp_path / "a")
    first = site.write_site(figured, tmp_path / "a" / "site", tmp_path / "a")
    blobs = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in first}
    again = site.write_site(figured, tmp_path / "a" / "site", tmp_path / "a")
    assert {p.relative_to(tmp_path / "a"): p.read_bytes() for p in again} == blobs
    shutil.copytree(tmp_path / "a", tmp_path / "b", ignore=shutil.ignore_patterns("site"))
    moved = with_figures(pub, tmp_path / "b")  # another folder: the same relative bytes
    other = site.write_site(moved, tmp_path / "b" / "site", tmp_path / "b")
    assert {p.relative_to(tmp_path / "b"): p.read_bytes() for p in other} == blobs


def test_a_site_in_the_publish_folder_links_figures_elsewhere_copies_them(tmp_path, pub):
    out = tmp_path / "results"
    figured = with_figures(pub, out)
    inside = site.write_site(figured, out / "site", out)
    assert not (out / "site" / "figures").exists()
    index = (out / "site" / "index.html").read_text()
    assert 'src="../figures/critical-difference_reconstruction.png"' in index
    board = (out / "site" / "boards" / "digits-v1_digits.html").read_text()
    assert 'src="../../figures/digits-v1_digits_reconstructions.png"' in board
    assert all(out / "site" in p.parents for p in inside)

    elsewhere = tmp_path / "web"
    written = site.write_site(figured, elsewhere, out)
    copies = sorted(p.name for p in written if p.parent == elsewhere / "figures")
    assert copies == sorted(p.name for p in (out / "figures").iterdir())
    board = (elsewhere / "boards" / "digits-v1_digits.html").read_text()
    assert 'src="../figures/digits-v1_digits_reconstructions.png"' in board
    assert (elsewhere / "figures" / "digits-v1_digits_reconstructions.png").read_bytes() == png()


def test_publish_writes_the_site_with_its_csv_links_and_without_figures(tmp_path, results):
    out = tmp_path / "results"
    written = publish.publish(results, out, figures=False, site=out / "site")
    assert out / "site" / "index.html" in written
    board = (out / "site" / "boards" / "digits-v1_digits.html").read_text()
    assert 'href="../../digits-v1_digits.csv"' in board and "<img" not in board
    elsewhere = tmp_path / "web"
    publish.publish(results, tmp_path / "out", figures=False, site=elsewhere)
    board = (elsewhere / "boards" / "digits-v1_digits.html").read_text()
    assert 'href="../tables/digits-v1_digits.csv"' in board
    assert (elsewhere / "tables" / "digits-v1_digits.csv").read_bytes() == (
        tmp_path / "out" / "digits-v1_digits.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    "name", ["pca", "digits-v1~0123456789ab_digits", EVIL, "a/b", "A/B", "../..", "", "..."]
)
def test_slugs_are_safe_file_names_and_tell_names_apart(name):
    s = site.slug(name)
    assert re.fullmatch(r"[a-z0-9][a-z0-9._~-]*", s) and ".." not in s
    assert (s == name) == bool(re.fullmatch(r"[a-z0-9][a-z0-9._~-]*", name) and ".." not in name)
    names = ["a/b", "a-b", "A/B", "a_b", EVIL, "b-x-b-script-alert-1-script"]
    assert len({site.slug(n) for n in names}) == len(names)


def test_loss_chart_draws_each_curve_and_leaves_non_finite_values_as_gaps():
    chart = site.loss_chart({"seed 0": [3.0, 2.0, float("nan"), 1.0, 0.5], "seed 1": [2.5]})
    s0, s1 = chart["series"]
    assert len(s0["segments"]) == 2 and len(s0["dots"]) == 4
    assert len(s1["segments"]) == 1 and len(s1["dots"]) == 1
    left, top, width, height = chart["box"]
    ys = [float(y) for s in (s0, s1) for _, y in s["dots"]]
    assert min(ys) == top and max(ys) == top + height  # the highest and lowest loss
    assert [t for _, t in chart["xticks"]] == ["1", "3", "5"]
    assert site.loss_chart({"seed 0": [], "seed 1": [None, float("inf")]}) is None


def test_a_family_board_links_its_members_and_shows_no_figures_of_its_own(tmp_path):
    from test_families import _records as family_records

    pub = publication.compose(family_records())
    family = next(b for b in pub.boards if b.members)
    site.write_site(with_figures(pub, tmp_path), tmp_path / "site", tmp_path)
    assert_addresses_resolve(tmp_path / "site")
    page = tmp_path / "site" / "boards" / f"{site.slug(publication.stem(family))}.html"
    text = page.read_text()
    for member in family.members:
        assert f'<a href="../boards/{site.slug(f"{member}_digits")}.html">' in text
    assert "<img" not in text
    pca = page.parent / site.slug(publication.stem(family)) / "pca.html"
    assert pca.read_text().count("<tr>") == 1 + 3 * len(family.members)  # every member's runs


def test_a_rewrite_removes_pages_of_boards_gone_and_nothing_else(tmp_path, pub):
    import dataclasses

    out = tmp_path / "out"
    first = site.write_site(pub, out / "site", out)
    mine = out / "site" / "notes.txt"  # a file the site did not write
    mine.write_text("kept")
    fewer = dataclasses.replace(pub, boards=pub.boards[:1])
    second = site.write_site(fewer, out / "site", out)
    gone = set(first) - set(second)
    assert gone and not any(p.exists() for p in gone)
    assert all(p.exists() for p in second) and mine.read_text() == "kept"
    assert_addresses_resolve(out / "site")
