"""The demo: builds and signs its plugins on first run, then reuses them; prints a summary."""

from __future__ import annotations

import json

from dataflare.kernel import TrustStore
from dataflare.kernel._cli import main


def test_the_demo_runs_end_to_end_and_reuses_its_signed_plugins(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["streaming", "demo", "--records", "30000", "--workdir", str(workdir)]) == 0
    first = capsys.readouterr().err
    assert "built from examples/plugins and signed" in first
    assert "30,000 orders in" in first
    assert "kept by the WASM filter" in first
    # The map masked the card numbers of what the filter kept.
    assert '"card":"####-####-####-####"' in first
    results = [
        json.loads(line)
        for line in (workdir / "out" / "revenue-per-region.jsonl").read_text().splitlines()
    ]
    assert {r["key"] for r in results} <= {"0", "1", "2", "3", "4"}
    kept = sum(r["fields"]["orders"] for r in results)
    assert f"{kept:,} of at least 100 kept" in first
    assert all(r["fields"]["p95"] >= 100 for r in results)  # only orders >= 100 got through
    # Its key is trusted by the demo's own trust store only.
    assert len(TrustStore.load(workdir / "trust.json").list()) == 1

    assert main(["streaming", "demo", "--records", "30000", "--workdir", str(workdir)]) == 0
    second = capsys.readouterr().err
    assert "reused from the cache" in second
    again = [
        json.loads(line)
        for line in (workdir / "out" / "revenue-per-region.jsonl").read_text().splitlines()
    ]
    assert again == results  # a fresh run, the same results
