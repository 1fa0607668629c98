"""docs/record-schema.md describes every field a record holds: checked against the published
records (results/records) and the committed test records."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "docs" / "record-schema.md"


def _documented() -> dict[str, bool]:
    """field -> whether the table says every record has it."""
    rows = re.findall(r"^\| `([a-z_0-9]+)` \| (yes|no) \|", SCHEMA.read_text(), re.M)
    return {name: always == "yes" for name, always in rows}


def _records() -> list[dict]:
    paths = sorted((ROOT / "results" / "records").rglob("seed-*.json"))
    paths += sorted((ROOT / "tests" / "data" / "records").rglob("seed-*.json"))
    if not paths:
        pytest.skip("no committed records")
    return [json.loads(p.read_text()) for p in paths]


def test_every_field_of_every_record_is_documented_and_always_fields_are_always_there():
    documented, records = _documented(), _records()
    assert len(documented) >= 20  # the table parsed
    seen: set[str] = set()
    for r in records:
        seen |= set(r)
        missing = [k for k, always in documented.items() if always and k not in r]
        assert not missing, f"{r.get('group')}/{r['model']['name']}/seed {r['seed']}: {missing}"
    undocumented = sorted(seen - set(documented))
    assert not undocumented, f"fields in records that docs/record-schema.md lacks: {undocumented}"


def test_the_frame_has_one_row_per_record_and_the_documented_identity():
    from aebench import load_results

    records = ROOT / "results" / "records" / "digits-v2"
    if not records.is_dir():
        pytest.skip("results/records/digits-v2 absent")
    frame = load_results(records)
    files = sorted(records.rglob("seed-*.json"))
    assert len(frame) == len(files)
    first = json.loads(files[0].read_text())
    row = frame[(frame.model == first["model"]["name"]) & (frame.seed == first["seed"])]
    assert len(row) == 1
    assert row.iloc[0]["protocol_fingerprint"] == first["protocol"]["fingerprint"]
    assert row.iloc[0]["recon_mse"] == pytest.approx(first["metrics"]["recon_mse"], rel=0, abs=0)
    assert row.iloc[0]["status"] == first["status"]
