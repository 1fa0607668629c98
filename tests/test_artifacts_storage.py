"""What a run stores beside its record: every per-example value a statistic resamples, for
every seed; figure-only arrays (pictures, samples, codes) for the first seed only, and pictures
only of image data. ``aebench compact`` applies the same rule to stored records without changing
what a table or a statistic reads."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli

from aebench.errors import AebenchError
from aebench.records import artifacts, storage


def test_keeps_figures_for_the_first_protocol_seed_and_for_a_users_own_seed():
    assert artifacts.keeps_figures(0, [0, 1, 2])
    assert not artifacts.keeps_figures(1, [0, 1, 2]) and not artifacts.keeps_figures(2, [0, 1, 2])
    assert artifacts.keeps_figures(7, [0, 1, 2])  # outside the protocol's seeds
    assert artifacts.is_image([1, 8, 8]) and not artifacts.is_image([6998])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    rd = tmp_path_factory.mktemp("records")
    cmd = ["run", "-m", "vae,pca", "-p", "digits-v2"]
    cmd += ["--seeds", "0,1", "--budget", "256", "--threads", "1", "--quiet"]
    res = run_cli(*cmd, "--results-dir", str(rd))
    assert res.returncode == 0, res.stderr
    return rd


def _arrays(rd, model, seed):
    (path,) = rd.rglob(f"{model}/seed-{seed}.json")
    return path, artifacts.of_record({**storage.read_record(path), "_path": str(path)})


def test_a_run_stores_statistics_for_every_seed_and_pictures_for_the_first(runs):
    _, first = _arrays(runs, "vae", 0)
    _, second = _arrays(runs, "vae", 1)
    assert {"recon_mse", "nll", "picture_inputs", "picture_recons", "samples", "code_view"} <= set(
        first
    )
    assert {"recon_mse", "nll"} <= set(second)
    assert not set(artifacts.FIGURE_ONLY) & set(second)


def test_compact_drops_only_figure_arrays_and_keeps_the_record_readable(runs, tmp_path):
    path, before = _arrays(runs, "vae", 0)
    # a record made before the rule: figure arrays on a later seed
    later = path.with_name("seed-1.json")
    record = storage.read_record(later)
    extra = {**artifacts.of_record({**record, "_path": str(later)})}
    extra["code_view"] = before["code_view"]
    record["arrays_sha256"] = artifacts.write(artifacts.sidecar(later), extra)
    storage.write_record(later, record)
    res = run_cli("compact", str(runs))
    assert res.returncode == 0, res.stderr
    assert "compacted 1 record(s)" in res.stdout
    _, after = _arrays(runs, "vae", 1)  # the sha in the record matches the new file
    assert "code_view" not in after
    np.testing.assert_array_equal(after["recon_mse"], extra["recon_mse"])
    np.testing.assert_array_equal(after["nll"], extra["nll"])
    _, first = _arrays(runs, "vae", 0)  # the first seed's figures are untouched
    np.testing.assert_array_equal(first["code_view"], before["code_view"])


def test_compact_refuses_a_missing_directory(tmp_path):
    res = run_cli("compact", str(tmp_path / "nope"))
    assert res.returncode == 2 and "no such results directory" in res.stderr


def test_arrays_are_stored_deflated_and_read_back_exactly(tmp_path):
    import zipfile

    rng = np.random.default_rng(0)
    arrays = {
        "recon_mse": rng.random(500).astype(np.float32),
        "picture_inputs": (rng.random((16, 1, 28, 28)) > 0.8).astype(np.float32),
        "test_anomalous": rng.random(500) > 0.9,
        "code_labels": rng.integers(0, 10, 500),
    }
    path = tmp_path / "seed-0.npz"
    sha = artifacts.write(path, arrays)
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    # a sparse binary picture array compresses many times over (stored, it did not)
    pics = next(i for i in infos if i.filename == "picture_inputs.npy")
    assert pics.compress_size * 4 < pics.file_size
    back = artifacts.read(path, sha)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k], v)
    assert artifacts.write(tmp_path / "again.npz", arrays) == sha  # same arrays, same bytes


def test_an_array_equal_to_an_earlier_one_is_stored_once_and_read_under_both_names(tmp_path):
    import zipfile

    rng = np.random.default_rng(1)
    errors = rng.random(10_000).astype(np.float32)
    arrays = {"recon_mse": errors, "test_scores": errors.copy(), "other": errors[::-1].copy()}
    sha = artifacts.write(tmp_path / "a.npz", arrays)
    with zipfile.ZipFile(tmp_path / "a.npz") as z:
        names = sorted(z.namelist())
    assert names == ["__same_as__test_scores.npy", "other.npy", "recon_mse.npy"]
    back = artifacts.read(tmp_path / "a.npz", sha)
    assert sorted(back) == ["other", "recon_mse", "test_scores"]
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(back[k], v)
    separate = artifacts.write(tmp_path / "b.npz", {**arrays, "test_scores": errors + 1e-7})
    assert (tmp_path / "a.npz").stat().st_size < 0.7 * (tmp_path / "b.npz").stat().st_size
    assert separate != sha
    # values equal but a different dtype or a tiny array: stored as they are
    small = {"x": np.zeros(8, np.float32), "y": np.zeros(8, np.float32)}
    artifacts.write(tmp_path / "c.npz", small)
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        assert sorted(z.namelist()) == ["x.npy", "y.npy"]
    # a marker naming no member is a damaged file: one line, not a KeyError
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z, z.open("__same_as__y.npy", "w") as f:
        np.lib.format.write_array(f, np.array("missing"), allow_pickle=False)
    with pytest.raises(AebenchError, match=r"d\.npz: unreadable arrays"):
        artifacts.read(tmp_path / "d.npz")


def test_compact_deflates_arrays_stored_uncompressed(tmp_path):
    import hashlib
    import json
    import zipfile

    values = np.arange(2000, dtype=np.float32) % 7
    side = tmp_path / "g" / "d" / "m" / "seed-0.npz"
    side.parent.mkdir(parents=True)
    with zipfile.ZipFile(side, "w", zipfile.ZIP_STORED) as z, z.open("recon_mse.npy", "w") as f:
        np.lib.format.write_array(f, values, allow_pickle=False)  # as aebench wrote them before

    record = {"format": 1, "status": "ok", "group": "g", "seed": 0, "metrics": {}}
    record |= {"protocol": {"seeds": [0]}, "model": {"name": "m"}, "dataset": {"name": "d"}}
    record["arrays_sha256"] = hashlib.sha256(side.read_bytes()).hexdigest()
    side.with_suffix(".json").write_text(json.dumps(record))
    assert artifacts.compact(side.with_suffix(".json")) > 0
    stored = storage.read_record(side.with_suffix(".json"))
    np.testing.assert_array_equal(
        artifacts.read(side, stored["arrays_sha256"])["recon_mse"], values
    )
    assert artifacts.compact(side.with_suffix(".json")) == 0  # already in today's form


def test_compact_stores_equal_arrays_once_in_a_file_written_before(tmp_path):
    import hashlib
    import json
    import zipfile

    values = np.random.default_rng(2).random(5000).astype(np.float32)
    side = tmp_path / "g" / "d" / "m" / "seed-0.npz"
    side.parent.mkdir(parents=True)
    with zipfile.ZipFile(side, "w", zipfile.ZIP_DEFLATED) as z:  # as aebench wrote it before
        for name in ("recon_mse", "test_scores"):
            info = zipfile.ZipInfo(f"{name}.npy")
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w") as f:
                np.lib.format.write_array(f, values, allow_pickle=False)
    record = {"format": 1, "status": "ok", "group": "g", "seed": 0, "metrics": {}}
    record |= {"protocol": {"seeds": [0]}, "model": {"name": "m"}, "dataset": {"name": "d"}}
    record["arrays_sha256"] = hashlib.sha256(side.read_bytes()).hexdigest()
    side.with_suffix(".json").write_text(json.dumps(record))
    assert artifacts.compact(side.with_suffix(".json")) > 10_000
    stored = storage.read_record(side.with_suffix(".json"))
    back = artifacts.read(side, stored["arrays_sha256"])
    for name in ("recon_mse", "test_scores"):
        np.testing.assert_array_equal(back[name], values)
    assert artifacts.compact(side.with_suffix(".json")) == 0  # already in today's form


def test_a_superseded_boards_later_seeds_keep_no_arrays_and_it_is_not_tested(runs, tmp_path):
    import json
    import shutil

    from aebench.report import publication
    from aebench.report.formats import export

    (group,) = [p.name for p in runs.iterdir() if p.is_dir()]
    for new in ("toy-v1", "toy-v2"):  # the same runs as an old and a new protocol version
        shutil.copytree(runs / group, tmp_path / new)
        for path in (tmp_path / new).rglob("seed-*.json"):
            path.write_text(json.dumps({**json.loads(path.read_text()), "group": new}))
    n, saved = artifacts.drop_superseded(tmp_path)
    assert n == 2 and saved > 0  # vae and pca, seed 1 of toy-v1
    assert sorted(p.parent.name + "/" + p.name for p in (tmp_path / "toy-v1").rglob("*.npz")) == [
        "pca/seed-0.npz",
        "vae/seed-0.npz",
    ]
    assert len(list((tmp_path / "toy-v2").rglob("*.npz"))) == 4
    rec = storage.read_record(next((tmp_path / "toy-v1").rglob("vae/seed-1.json")))
    assert rec["arrays_sha256"] is None and "superseded by toy-v2" in rec["arrays_not_kept"]
    records, _ = storage.load_records(tmp_path)
    old, new = publication.compose(records).boards
    assert (old.group, old.superseded_by, new.superseded_by) == ("toy-v1", "toy-v2", "")
    assert any(line.startswith("SUPERSEDED by toy-v2") for line in old.caption)
    assert all(c.mark == "" for r in old.rows for c in r.cells.values())
    assert any(c.mark for r in new.rows for c in r.cells.values())
    assert export(old, "csv")  # its table still renders, from the records alone


#: boards written before the storage rule (every seed's pictures, stored uncompressed). When a
#: newer version of a protocol is published, the older board's later seeds' arrays are removed;
#: what is left of these is their first seed's, kept as committed (rewriting it would add it
#: to the history a second time).
_LEGACY = {f"sms-spam-v{v}" for v in (1, 2, 3)}
_LEGACY |= {f"sms-spam-contaminated-v{v}" for v in (1, 2, 3)}
_MB_PER_BOARD = 5.0


def test_every_published_board_adds_at_most_5_mb_to_the_repository():
    import zlib
    from pathlib import Path

    records = Path(__file__).resolve().parents[1] / "results" / "records"
    if not records.is_dir():
        pytest.skip("no results/records here")
    sizes = {}
    for board in sorted(p for p in records.iterdir() if p.is_dir() and p.name != "tuning"):
        # what git stores: each file zlib-compressed
        files = [f for f in board.rglob("*") if f.is_file()]
        sizes[board.name] = sum(len(zlib.compress(f.read_bytes(), 1)) for f in files) / 1e6
    over = {k: round(v, 1) for k, v in sizes.items() if v > _MB_PER_BOARD}
    assert set(over) <= _LEGACY, f"boards over {_MB_PER_BOARD} MB: {over}"


def test_codes_are_stored_as_the_2d_view_the_figure_draws():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(3)
    codes = rng.normal(size=(300, 16)).astype(np.float32)
    view = artifacts.code_view(codes)
    expected = PCA(n_components=2, random_state=0).fit_transform(codes.astype(np.float64))
    assert view.shape == (300, 2) and view.dtype == np.float32
    np.testing.assert_allclose(view, expected, rtol=1e-5, atol=1e-5)
    flat = codes[:, :2]
    np.testing.assert_array_equal(artifacts.code_view(flat), flat)  # 2-D codes are their view


def test_the_codes_figure_draws_from_the_stored_view(runs, tmp_path):
    pytest.importorskip("matplotlib")
    from aebench.report import plots

    records, _ = storage.load_records(runs)
    assert all("codes" not in artifacts.of_record(r) for r in records if r["seed"] == 0)
    path = plots.latent_views(records, tmp_path / "latent.png", "toy")
    assert path is not None and path.stat().st_size > 1000
