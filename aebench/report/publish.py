"""Published results: tables with significance marks, average ranks and pictures, from records.

``publish`` reads stored records (and the per-example arrays beside them) and writes, for
each protocol version and data set, markdown and CSV tables with bootstrap intervals and marks
(:mod:`aebench.report.significance`), a summary of ranks across data sets with the Friedman test and
critical-difference diagrams (:mod:`aebench.report.ranking`), the pictures, and, given literature
files, a reproduced-vs-published table per data set (:mod:`aebench.report.literature`). Nothing here
runs a model; the same records give the same bytes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from aebench.records import storage
from aebench.records.groups import Staleness
from aebench.report import interpolation, literature, plots, ranking
from aebench.report.build import records_of
from aebench.report.formats import export
from aebench.report.publication import compose, stem

__all__ = ["LITERATURE", "publish"]


#: the folder of ``publish``'s out-dir whose literature files it reads unless told another
LITERATURE = "literature"


def publish(
    results_dirs: Path | list[Path],
    out_dir: Path,
    figures: bool = True,
    stale: Staleness | None = None,
    site: Path | None = None,
    literature_dir: Path | None = None,
) -> list[Path]:
    """Every board's tables and figures, and the summary, from the records in
    ``results_dirs`` (several are merged, :mod:`aebench.records.merge`); ``stale`` (see
    :func:`aebench.report.build.build_boards`) marks rows today's code would not reproduce;
    ``site``: also a static web site there (:mod:`aebench.report.site`); ``literature_dir``: the
    literature files of the reproduced-vs-published tables (default: ``out_dir/literature``
    where it exists)."""
    from aebench.records import merge

    if literature_dir is None and (out_dir / LITERATURE).is_dir():
        literature_dir = out_dir / LITERATURE
    # read first: a malformed file is one line before anything is written
    docs = literature.load_dir(literature_dir) if literature_dir is not None else []
    dirs = [results_dirs] if isinstance(results_dirs, Path) else list(results_dirs)
    records, problems = merge.load(dirs)
    if not records:
        from aebench.errors import AebenchError

        raise AebenchError(f"no records in {', '.join(map(str, dirs))}; run `aebench run` first")
    pub = compose(records, problems, stale, docs)
    written: list[Path] = []
    for b in pub.boards:
        name = stem(b)
        written.append(_write(out_dir / f"{name}.md", export(b, "markdown")))
        written.append(_write(out_dir / f"{name}.csv", export(b, "csv")))
        if figures and not b.members:  # a family's pictures are its members'
            recs = records_of(b, records)
            pub.figures[name] = plots.all_figures(recs, out_dir / "figures", name, b.title)
            pub.figures[name] += interpolation.grids(recs, out_dir / "figures", name)
            written += pub.figures[name]
    names = {}
    for t in pub.tasks:
        path = out_dir / "figures" / f"critical-difference_{t.task}.png"
        if figures and ranking.diagram(t, path) is not None:
            written.append(path)
            pub.diagrams[t.task] = path
            names[t.task] = f"figures/{path.name}"
    text, head, rows = ranking.summary(pub.tasks, names)
    pub.summary_text, pub.summary_head, pub.summary_rows = text, head, rows
    written.append(_write(out_dir / "summary.md", text))
    buf = io.StringIO()
    csv.writer(buf).writerows([head, *rows])
    written.append(_write(out_dir / "summary.csv", buf.getvalue()))
    for name, (md, table_csv) in literature.files(pub.literature).items():
        written.append(_write(out_dir / f"{name}.md", md))
        written.append(_write(out_dir / f"{name}.csv", table_csv))
    if problems:
        written.append(_write(out_dir / "skipped-records.txt", "\n".join(problems) + "\n"))
    if site is not None:
        from aebench.report import site as site_module

        written += site_module.write_site(pub, site, out_dir)
    return written


def _write(path: Path, text: str) -> Path:
    storage.atomic_write(path, text)
    return path
