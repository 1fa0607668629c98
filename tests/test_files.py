"""A user's own files (``aebench run -d PATH``): every accepted format and every bad input,
generated here in the real formats; the end-to-end runs go through the CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from idx_helpers import idx_bytes, write_idx

from aebench.errors import AebenchWarning, DataError, PluginError
from aebench.registry.loading import load_registry
from aebench_plugins.datasets import files as files_plugin
from aebench_plugins.datasets.files import Files, from_files


@pytest.fixture(autouse=True)
def _fresh_cache():
    files_plugin._PREPARED.clear()  # each test reads its files itself
    yield
    files_plugin._PREPARED.clear()


def _tabular(n: int = 60, d: int = 5, seed: int = 0):
    """Features in [2, 12) and labels with 1 in every fifth row (the anomalies)."""
    rng = np.random.default_rng(seed)
    x = 2 + 10 * rng.random((n, d))
    y = (np.arange(n) % 5 == 0).astype(np.int64)
    return x, y


def _load(protocol):
    """What a worker process would load: from the protocol alone, files read afresh."""
    files_plugin._PREPARED.clear()
    return Files().load(protocol, Path("unused"), download=False)


def _write_csv(path: Path, header: list[str] | None, rows: list[list]) -> Path:
    lines = [",".join(header)] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- accepted formats --------------------------------------------------------------------------


def test_adbench_npz_is_an_anomaly_task_with_label_1(tmp_path):
    x, y = _tabular()
    np.savez(tmp_path / "cardio.npz", X=x, y=y)
    protocol = from_files(tmp_path / "cardio.npz", {})
    assert protocol.task == "anomaly" and protocol.anomaly_train == "normal"
    assert protocol.params["anomaly"] == [1] and "ADBench" in protocol.params["anomaly_note"]
    assert protocol.params["split"] == "stratified" and protocol.params["scaling"] == "minmax"
    assert protocol.key.startswith("files-cardio-") and protocol.dataset == "files"
    assert protocol.code_size == 2  # half of the 5 features
    splits = _load(protocol)
    assert len(splits.train_x) == 42 and len(splits.test_x) == 18  # 70/30
    # stratified: the 12 anomalies split 70/30 as the rows do (3.6 rounds to 3 or 4)
    n_test_bad = int(splits.anomaly.test_anomalous.sum())
    assert n_test_bad in (3, 4) and int((~splits.anomaly.train_normal).sum()) == 12 - n_test_bad
    assert torch.equal(splits.anomaly.train_normal, splits.train_y == 0)
    # min-max from the training split, by hand
    lo, hi = splits.train_x.min(0).values, splits.train_x.max(0).values
    assert torch.allclose(lo, torch.zeros(5)) and torch.allclose(hi, torch.ones(5))
    files = splits.provenance["files"]
    assert files["cardio.npz"]["size"] == (tmp_path / "cardio.npz").stat().st_size
    assert len(files["cardio.npz"]["sha256"]) == 64


def test_scaling_uses_the_training_split_only(tmp_path):
    x, y = _tabular()
    xt, yt = _tabular(20, seed=1)
    xt[0, 0] = 100.0  # a test value far outside the training range stays outside
    np.savez(tmp_path / "d.npz", x_train=x, x_test=xt, y_train=y, y_test=yt)
    protocol = from_files(tmp_path / "d.npz", {"anomaly": "1", "scaling": "standardize"})
    splits = _load(protocol)
    mean, std = x.mean(0), x.std(0)
    np.testing.assert_allclose(splits.train_x.numpy(), (x - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(splits.test_x.numpy(), (xt - mean) / std, rtol=1e-5, atol=1e-5)
    assert protocol.params["split"] == "given"


def test_split_npz_without_labels_is_a_reconstruction_task(tmp_path):
    x, _ = _tabular()
    np.savez(tmp_path / "plain.npz", x_train=x[:40], x_test=x[40:])
    protocol = from_files(tmp_path / "plain.npz", {})
    assert protocol.task == "reconstruction" and protocol.params["anomaly"] is None
    splits = _load(protocol)
    assert splits.anomaly is None and splits.train_y is None
    assert splits.kinds == {"vector"}


def test_images_in_npz_are_images_scaled_globally(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (30, 8, 8)).astype(np.uint8)
    labels = np.arange(30) % 3
    np.savez(tmp_path / "imgs.npz", X=imgs, y=labels)
    protocol = from_files(tmp_path / "imgs.npz", {"anomaly": "2"})
    assert protocol.params["shape"] == [1, 8, 8] and protocol.params["scaling"] == "minmax-global"
    splits = _load(protocol)
    assert splits.kinds == {"vector", "image", "sequence"} and splits.shape == (1, 8, 8)
    assert float(splits.train_x.min()) == 0.0 and float(splits.train_x.max()) == 1.0


def test_npy_folders_and_a_lone_npy(tmp_path):
    x, y = _tabular()
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for name, arr in (
        ("x_train", x[:40]),
        ("x_test", x[40:]),
        ("y_train", y[:40]),
        ("y_test", y[40:]),
    ):
        np.save(pairs / f"{name}.npy", arr)
    p = from_files(pairs, {"anomaly": "1"})
    assert p.params["layout"] == "npy (x_train/x_test)" and p.params["split"] == "given"
    assert len(_load(p).test_x) == 20
    xy = tmp_path / "xy"
    xy.mkdir()
    np.save(xy / "X.npy", x)
    np.save(xy / "y.npy", y)
    assert from_files(xy, {"anomaly": "1"}).params["split"] == "stratified"
    np.save(tmp_path / "lone.npy", x)
    lone = from_files(tmp_path / "lone.npy", {})
    assert lone.params["split"] == "random" and lone.task == "reconstruction"


def test_csv_with_header_and_word_labels(tmp_path):
    x, y = _tabular()
    rows = [[*row, "spam" if lab else "ham"] for row, lab in zip(x.round(4), y)]
    path = _write_csv(tmp_path / "sms.csv", ["a", "b", "c", "d", "e", "label"], rows)
    protocol = from_files(path, {"anomaly": "spam"})
    assert protocol.params["label_column"] == "label" and protocol.params["anomaly"] == ["spam"]
    splits = _load(protocol)
    assert splits.train_x.shape[1] == 5
    names = splits.provenance["classes"]
    assert names == ["ham", "spam"]
    assert torch.equal(splits.anomaly.test_anomalous, splits.test_y == names.index("spam"))


def test_csv_without_header_takes_the_label_column_by_index(tmp_path):
    x, y = _tabular()
    path = _write_csv(tmp_path / "raw.csv", None, [[lab, *row] for row, lab in zip(x.round(4), y)])
    protocol = from_files(path, {"label_column": "0", "anomaly": "1"})
    splits = _load(protocol)
    assert splits.train_x.shape[1] == 5 and protocol.params["label_column"] == "0"
    # no label column named: every column is a feature
    assert _load(from_files(path, {})).train_x.shape[1] == 6


def test_csv_train_and_test_files(tmp_path):
    x, y = _tabular()
    folder = tmp_path / "csvs"
    folder.mkdir()
    head = ["a", "b", "c", "d", "e", "y"]
    _write_csv(folder / "train.csv", head, [[*r, lab] for r, lab in zip(x[:40], y[:40])])
    _write_csv(folder / "test.csv", head, [[*r, lab] for r, lab in zip(x[40:], y[40:])])
    protocol = from_files(folder, {"anomaly": "1"})
    assert protocol.params["layout"] == "csv (train/test)" and protocol.params["split"] == "given"
    assert set(protocol.params["files"]) == {"train", "test"}
    assert len(_load(protocol).test_x) == 20


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, gz):
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    ext = ".gz" if gz else ""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 6, 5), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(30) % 3).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (12, 6, 5), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(12) % 3).astype(np.uint8),
    }
    for name, arr in arrays.items():
        if gz:
            write_idx(folder / f"{name}{ext}", arr)
        else:
            (folder / name).write_bytes(idx_bytes(arr))
    protocol = from_files(folder, {"anomaly": "0"})
    assert protocol.params["shape"] == [1, 6, 5] and protocol.params["split"] == "given"
    splits = _load(protocol)
    assert splits.train_x.shape == (30, 30) and splits.shape == (1, 6, 5)


def test_shape_option_must_fit_the_examples(tmp_path):
    x, y = _tabular(d=6)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    assert from_files(tmp_path / "d.npz", {"shape": "2,3"}).params["shape"] == [2, 3]
    with pytest.raises(DataError, match="holds 8 values but each example has 6"):
        from_files(tmp_path / "d.npz", {"shape": "2,4"})


def test_sidecars_and_flags(tmp_path):
    x, y = _tabular()
    y = y * 7  # labels 0 and 7: not ADBench's, so the anomaly must be named
    np.savez(tmp_path / "d.npz", X=x, y=y)
    with pytest.raises(DataError, match="task=anomaly needs labels"):
        from_files(tmp_path / "d.npz", {"task": "anomaly"})
    (tmp_path / "d.aebench.toml").write_text('anomaly = 7\nscaling = "none"\ntest_fraction = 0.5\n')
    with pytest.warns(AebenchWarning, match="model values in \\[0, 1\\]"):
        p = from_files(tmp_path / "d.npz", {})
    assert p.params["anomaly"] == [7] and p.params["test_fraction"] == 0.5
    # a flag wins over the sidecar
    assert from_files(tmp_path / "d.npz", {"scaling": "minmax"}).params["scaling"] == "minmax"
    (tmp_path / "d.aebench.toml").unlink()
    (tmp_path / "d.aebench.json").write_text(json.dumps({"anomaly": [7], "budget_samples": 500}))
    p = from_files(tmp_path / "d.npz", {})
    assert p.params["anomaly"] == [7] and p.budget_samples == 500
    with pytest.raises(DataError, match="unknown data option"):
        from_files(tmp_path / "d.npz", {"colour": "red"})


def test_fingerprint_follows_the_content_and_the_choices_not_the_folder(tmp_path):
    x, y = _tabular()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        np.savez(tmp_path / folder / "d.npz", X=x, y=y)
    pa, pb = from_files(tmp_path / "a" / "d.npz", {}), from_files(tmp_path / "b" / "d.npz", {})
    assert pa.key == pb.key and pa.fingerprint() == pb.fingerprint()
    assert pa.location != pb.location and pa.to_dict()["location"] == pa.location
    x2 = x.copy()
    x2[0, 0] += 1
    np.savez(tmp_path / "b" / "d.npz", X=x2, y=y)
    changed = from_files(tmp_path / "b" / "d.npz", {})
    assert changed.key != pa.key and changed.fingerprint() != pa.fingerprint()
    assert from_files(tmp_path / "a" / "d.npz", {"scaling": "none"}).key != pa.key


def test_a_file_changed_after_planning_is_refused(tmp_path):
    x, y = _tabular()
    np.savez(tmp_path / "d.npz", X=x, y=y)
    protocol = from_files(tmp_path / "d.npz", {})
    np.savez(tmp_path / "d.npz", X=x + 1, y=y)
    with pytest.raises(DataError, match="changed since protocol"):
        _load(protocol)


def test_the_registry_resolves_a_path_to_the_files_data_set(tmp_path):
    x, y = _tabular()
    np.savez(tmp_path / "d.npz", X=x, y=y)
    registry = load_registry()
    names, key = registry.resolve([str(tmp_path / "d.npz")], None, ["scaling=none"])
    assert names == ["files"] and key.startswith("files-d-")
    assert registry.dataset("files").protocol(key).params["scaling"] == "none"
    assert registry.resolve(["digits"], None, []) == (["digits"], None)
    with pytest.raises(PluginError, match="one path and no -p"):
        registry.resolve([str(tmp_path / "d.npz")], "digits-v1", [])
    with pytest.raises(PluginError, match="one path and no -p"):
        registry.resolve(["digits"], None, ["scaling=none"])
    with pytest.raises(PluginError, match="expected KEY=VALUE"):
        registry.resolve([str(tmp_path / "d.npz")], None, ["scaling"])
    with pytest.raises(PluginError, match="unknown data set 'nosuch'"):
        registry.resolve(["nosuch"], None, [])


def test_the_template_protocol_alone_says_how_to_use_it():
    with pytest.raises(DataError, match="aebench run -d PATH"):
        Files().load(files_plugin.TEMPLATE, Path("unused"))


# -- bad input: one line naming the file and the fix -------------------------------------------


def _bad_cases(tmp: Path):
    x, y = _tabular()
    head = "a,b,label\n"
    cases = {}
    cases["ragged"] = (_text(tmp / "ragged.csv", head + "1,2,0\n3,4,1\n5,0\n6,7,0\n"), "line 4")
    cases["nan-csv"] = (_text(tmp / "nan.csv", head + "1,2,0\n3,nan,1\n"), "line 3")
    cases["inf-csv"] = (_text(tmp / "inf.csv", head + "1,inf,0\n3,4,1\n"), "not a finite number")
    cases["words"] = (_text(tmp / "words.csv", head + "1,2,0\n3,red,1\n"), "'red' is not a number")
    cases["empty-field"] = (_text(tmp / "gap.csv", head + "1,,0\n3,4,1\n"), "an empty field")
    xn = x.copy()
    xn[3, 1] = np.inf
    cases["inf-npz"] = (_npz(tmp / "inf.npz", X=xn, y=y), "NaN or infinite value in example 3")
    cases["widths"] = (
        _npz(tmp / "widths.npz", x_train=x, x_test=x[:, :4]),
        "training examples are 5 but test examples 4",
    )
    folder = tmp / "csvwidths"
    folder.mkdir()
    _text(folder / "train.csv", "a,b\n1,2\n3,4\n")
    _text(folder / "test.csv", "a,b,c\n1,2,3\n")
    cases["widths-csv"] = (folder, "test.csv: training examples are 2 but test examples 3")
    obj = np.empty(len(y), dtype=object)
    obj[:] = [f"row{i}" for i in range(len(y))]
    cases["object"] = (_npz(tmp / "obj.npz", X=x, y=obj), "array 'y' holds Python objects")
    cases["one-class"] = (_npz(tmp / "one.npz", X=x, y=np.zeros(len(y))), "a single class")
    cases["one-class-csv"] = (
        _text(tmp / "oneclass.csv", head + "1,2,0\n3,4,0\n"),
        "column 'label'): the labels hold a single class",
    )
    cases["empty-csv"] = (_text(tmp / "empty.csv", ""), "empty file")
    cases["header-only"] = (_text(tmp / "head.csv", head), "empty file (a header and no rows)")
    cases["empty-npz"] = (_text(tmp / "empty.npz", ""), "empty file")
    cases["no-rows"] = (_npz(tmp / "norows.npz", X=np.zeros((0, 3))), "no examples")
    cases["missing"] = (tmp / "nope.npz", "file not found")
    cases["not-npz"] = (_text(tmp / "junk.npz", "not a zip"), "not a valid .npz")
    cases["bad-anomaly"] = ((_npz(tmp / "bad.npz", X=x, y=y), {"anomaly": "3"}), "no label is '3'")
    cases["text-x"] = (_npz(tmp / "text.npz", X=x.astype(str), y=y), "are not numbers")
    return cases


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)  # object arrays pickle on save; loading them is what is refused
    return path


@pytest.mark.parametrize(
    "case",
    [
        "ragged", "nan-csv", "inf-csv", "words", "empty-field", "inf-npz", "widths",
        "widths-csv", "object", "one-class", "one-class-csv", "empty-csv", "header-only",
        "empty-npz", "no-rows", "missing", "not-npz", "bad-anomaly", "text-x",
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    target, needle = _bad_cases(tmp_path)[case]
    target, options = target if isinstance(target, tuple) else (target, {})
    with pytest.raises(DataError) as excinfo:
        from_files(target, options)
    message = str(excinfo.value)
    assert "\n" not in message and needle in message, message
    assert target.name in message


# -- end to end, in a subprocess ----------------------------------------------------------------


def test_cli_runs_models_on_a_generated_npz_and_csv(tmp_path):
    x, y = _tabular(120)
    np.savez(tmp_path / "cardio.npz", X=x, y=y)
    rows = [[*row.round(5), lab] for row, lab in zip(x, y)]
    _write_csv(tmp_path / "cardio.csv", ["a", "b", "c", "d", "e", "label"], rows)
    for data, extra in (
        (tmp_path / "cardio.npz", []),
        (tmp_path / "cardio.csv", ["--data-option", "anomaly=1"]),
    ):
        runs = tmp_path / f"runs-{data.suffix[1:]}"
        res = run_cli(
            "run", "-d", str(data), *extra, "-m", "pca,denoising_ae", "--seeds", "0",
            "--budget", "2000", "--threads", "1", "-q", "--results-dir", str(runs),
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert "files · files-cardio-" in res.stdout and "AUROC" in res.stdout
        records = [json.loads(p.read_text()) for p in runs.rglob("seed-0.json")]
        assert sorted(r["model"]["name"] for r in records) == ["denoising_ae", "pca"]
        for r in records:
            assert r["status"] == "ok", r.get("reason")
            assert r["dataset"]["name"] == "files" and r["protocol"]["location"] == str(data)
            (entry,) = r["dataset"]["files"].values()
            assert entry["size"] == data.stat().st_size and len(entry["sha256"]) == 64
            assert 0.0 <= r["metrics"]["anomaly.auroc"] <= 1.0 and "anomaly.f1" in r["metrics"]


def test_cli_bad_file_is_one_line_and_records_nothing(tmp_path):
    path = _text(tmp_path / "ragged.csv", "a,b,label\n1,2,0\n3,4\n")
    runs = tmp_path / "runs"
    res = run_cli("run", "-d", str(path), "-m", "pca", "--results-dir", str(runs))
    assert res.returncode == 2
    errors = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith("warning:")]
    assert len(errors) == 1 and "ragged.csv, line 3" in errors[0], res.stderr
    assert not runs.exists() or not list(runs.rglob("*.json"))


@pytest.mark.e2e  # --jobs 1: the run in a host process
def test_cli_with_jobs_loads_the_files_in_the_worker(tmp_path):
    x, y = _tabular(80)
    data = tmp_path / "w.npz"
    np.savez(data, X=x, y=y)
    res = run_cli(
        "run", "-d", str(data), "-m", "pca", "--seeds", "0", "--jobs", "1", "-q",
        "--results-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("seed-0.json")]
    assert record["status"] == "ok" and record["dataset"]["n_test"] == 24
