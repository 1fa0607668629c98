"""The reproduction check: a fresh run of a stored record matches it, a changed metric fails;
exact on the record's CPU kind, the measured tolerance (or "unmeasured") across kinds."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import REPO, run_cli

from aebench.execute.reproduce import compare, verdict
from aebench.run import provenance, reproducibility

HERE = "AMD EPYC [AuthenticAMD family 25 model 1] / AVX2"
OTHER = "Intel(R) Xeon(R) Platinum 8480+ [GenuineIntel family 6 model 143] / AVX512"
TABLE = {
    "useful_rtol": 0.05,
    "models": {
        "pca": {
            "kinds": [HERE, OTHER],
            "protocol": "digits-v1",
            "seeds": [0],
            "metric": "recon_mse",
            "max_rel_diff": 0.003,
            "tolerance": 0.005,
        },
        "lstm_ae": {
            "kinds": [HERE, OTHER],
            "protocol": "digits-v1",
            "seeds": [0],
            "metric": "recon_mse",
            "max_rel_diff": 0.051,
            "tolerance": 0.06,
        },
    },
}


def _rec(**metrics):
    return {"status": "ok", "metrics": {"fit_s": 1.0, **metrics}}


def test_compare_exact_and_with_tolerance_and_ignores_timings():
    a, b = _rec(recon_mse=0.01919), _rec(recon_mse=0.01913)
    b["metrics"]["fit_s"] = 99.0  # a timing: never compared
    assert compare(a, a, 0.0) == []
    assert compare(a, b, 0.0) and "recon_mse" in compare(a, b, 0.0)[0]
    assert compare(a, b, 0.05) == []  # 0.3 %: within a 5 % tolerance
    assert compare(a, _rec(recon_mse=0.03), 0.05)
    assert compare(a, _rec(), 0.05) == ["recon_mse: 0.01919 → None"]
    assert compare(a, {"status": "failed", "reason": "x"}, 0.05)[0].startswith("status")


def test_reproduce_passes_on_a_fresh_record_and_fails_on_a_tampered_one(tmp_path):
    results = tmp_path / "r"
    args = ("run", "-p", "digits-v1", "-m", "pca,mean", "--seeds", "0", "--threads", "1", "-q")
    assert run_cli(*args, "--results-dir", str(results)).returncode == 0
    cmd = ("reproduce", "-p", "digits-v1", "--against", str(results))
    ok = run_cli(*cmd)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("same CPU kind: exact") == 2
    path = results / "digits-v1" / "digits" / "pca" / "seed-0.json"
    rec = json.loads(path.read_text())
    rec["metrics"]["recon_mse"] *= 1.001
    path.write_text(json.dumps(rec))
    bad = run_cli(*cmd)
    assert bad.returncode == 1 and "FAIL pca seed 0" in bad.stdout and "recon_mse" in bad.stdout
    # the same difference on a record from another CPU kind: within pca's measured tolerance?
    rec["device"]["cpu_kind"] = OTHER
    path.write_text(json.dumps(rec))
    unmeasured = run_cli(*cmd, "-m", "pca")
    assert unmeasured.returncode == 1 and "unmeasured across CPU kinds" in unmeasured.stdout
    (tmp_path / "reproducibility.json").write_text(json.dumps(TABLE))
    table_cmd = (*cmd, "-m", "pca", "--table", str(tmp_path / "reproducibility.json"))
    measured = run_cli(*table_cmd)
    assert measured.returncode == 0, measured.stdout + measured.stderr
    assert "rtol 0.005 measured for pca" in measured.stdout


def test_cpu_provenance_names_model_vector_kernels_and_math_libraries():
    dev = provenance.device_info(torch.device("cpu"))
    cpu = dev["cpu"]
    assert isinstance(cpu["model_name"], str) and cpu["model_name"]
    assert cpu["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert all(isinstance(f, str) for f in cpu["vector_isa"])
    for key in ("family", "model", "stepping"):
        assert cpu[key] is None or isinstance(cpu[key], int)
    assert dev["cpu_kind"] == cpu["kind"] == provenance.cpu_kind(cpu)
    assert cpu["kind"].endswith(f"/ {cpu['cpu_capability']}")
    assert dev["name"] == provenance.cpu_model()  # the old field stays
    libs = provenance.software()["math_libraries"]
    assert set(libs) >= {"torch_blas", "torch_mkl", "torch_onednn", "python_blas"}
    assert all({"internal_api", "version", "architecture"} <= set(b) for b in libs["python_blas"])
    json.dumps(dev), json.dumps(libs)  # plain data, as stored


def test_cpu_kind_tells_microarchitectures_and_kernels_apart():
    a = {
        "model_name": "AMD EPYC",
        "vendor": "AuthenticAMD",
        "family": 25,
        "model": 1,
        "stepping": 1,
        "cpu_capability": "AVX2",
    }
    assert provenance.cpu_kind(a) == HERE
    assert provenance.cpu_kind({**a, "stepping": 2}) == HERE
    assert provenance.cpu_kind({**a, "model": 17}) != HERE
    assert provenance.cpu_kind({**a, "cpu_capability": "AVX512"}) != HERE


def _record(model="pca", kind=HERE, **metrics):
    return {
        "status": "ok",
        "model": {"name": model},
        "metrics": {"fit_s": 1.0, **metrics},
        "device": {"type": "cpu", "name": "AMD EPYC", "cpu_kind": kind},
    }


def test_same_cpu_kind_is_exact_to_the_last_bit():
    x = 0.01913295662789433
    ok, line = verdict(_record(recon_mse=x), _record(recon_mse=x), HERE, TABLE)
    assert ok and "same CPU kind: exact" in line
    ulp = _record(recon_mse=math.nextafter(x, 1.0))
    ok, line = verdict(_record(recon_mse=x), ulp, HERE, TABLE)
    assert not ok and "recon_mse" in line


@pytest.mark.parametrize(("factor", "passes"), [(1.004, True), (1.006, False)])
def test_across_cpu_kinds_the_models_measured_tolerance_holds(factor, passes):
    x = 0.0200
    ok, line = verdict(_record(kind=OTHER, recon_mse=x), _record(recon_mse=x * factor), HERE, TABLE)
    assert ok is passes, line
    assert "rtol 0.005 measured for pca: 0.30% between" in line
    ok, _ = verdict(_record(kind=OTHER, recon_mse=x), _record(recon_mse=x), HERE, TABLE)
    assert ok  # equal bits pass on any kind


def test_a_model_unmeasured_across_kinds_says_so_and_is_not_passed():
    old = _record("vae", kind=OTHER, recon_mse=0.03)
    new = _record("vae", recon_mse=0.0301)
    ok, line = verdict(old, new, HERE, TABLE)
    assert not ok and "vae is unmeasured across CPU kinds" in line
    ok, line = verdict(old, new, HERE, TABLE, rtol=0.01)  # a tolerance the user chose
    assert ok and "from --rtol" in line and "unmeasured" in line


def test_a_record_without_a_cpu_kind_is_of_unknown_kind():
    legacy = _record(recon_mse=0.02)
    del legacy["device"]["cpu_kind"]
    assert reproducibility.record_cpu_kind(legacy) == "unknown"
    ok, line = verdict(legacy, _record(recon_mse=0.02), HERE, {"models": {}})
    assert ok and "unknown (it names only 'AMD EPYC')" in line and "bit for bit" in line
    ok, line = verdict(legacy, _record(recon_mse=0.0201), HERE, {"models": {}})
    assert not ok and "unmeasured across CPU kinds" in line


def test_reproducibility_note_only_where_the_measured_tolerance_is_not_useful(tmp_path):
    assert reproducibility.reproducibility_note("pca", TABLE) is None
    assert reproducibility.reproducibility_note("vae", TABLE) is None  # unmeasured
    note = reproducibility.reproducibility_note("lstm_ae", TABLE)
    assert note.startswith("not reproducible across CPU kinds within 5%") and "5.1%" in note
    path = tmp_path / "reproducibility.json"
    path.write_text(json.dumps(TABLE))
    assert reproducibility.reproducibility_note("lstm_ae", path) == note
    assert reproducibility.load_table(tmp_path / "absent.json") == {"models": {}}


def test_a_model_that_kernel_switching_alone_moves_beyond_useful_says_so():
    entry = {"protocol": "sms-spam-contaminated-v4", "seeds": [0], "metric": "anomaly.auroc"}
    table = {
        "models": {},
        "kernel_sensitivity": {
            "models": {
                "lstm_ae": [{**entry, "max_rel_diff": 0.053}],
                "vae": [{**entry, "max_rel_diff": 0.0025}],
            }
        },
    }
    note = reproducibility.reproducibility_note("lstm_ae", table)
    assert "switching only the vector kernels" in note and "anomaly.auroc by 5.3%" in note
    assert reproducibility.reproducibility_note("vae", table) is None
    assert reproducibility.measurement("lstm_ae", table) is None  # never a tolerance


def test_the_committed_table_holds_only_measured_pairs_of_kinds():
    path = REPO / "results" / reproducibility.TABLE_NAME
    table = reproducibility.load_table(path)
    assert reproducibility.default_table_path(REPO / "results" / "records") == path
    for model, m in table["models"].items():
        assert len(set(m["kinds"])) == 2, model  # two different kinds both ran it
        assert 0 <= m["max_rel_diff"] <= m["tolerance"], model
        assert m["protocol"] and m["seeds"] and m["metric"], model
    for model, entries in (table.get("kernel_sensitivity") or {}).get("models", {}).items():
        for e in entries:
            assert e["protocol"] and e["seeds"] and e["max_rel_diff"] >= 0, model
