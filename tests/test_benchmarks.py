"""The benchmark runs: a smoke test on tiny workloads of each kind (timing and memory)."""

import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench

    return bench


def test_benchmark_smoke(bench, tmp_path, capsys):
    out = tmp_path / "results.json"
    bench.main(["--smoke", "--threads", "1", "--repeats", "1", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "SUMMARY" in printed
    results = {r["name"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"T1", "T2", "T3", "T4"}
    for name in ("T1", "T2", "T3"):
        timing = results[name]["threads"]["1"]
        assert timing["ours"]["median"] > 0 and timing["sklearn"]["median"] > 0
        assert timing["ratio"] > 0
    # Both estimators compute the same training loss on the same data and seed.
    for name in ("T1", "T2"):
        loss = results[name]["threads"]["1"]["loss"]
        assert loss["ours"] == pytest.approx(loss["sklearn"], rel=1e-6)
    # The memory probes ran in subprocesses: a predict_proba and a fit.
    assert results["T3"]["memory_predict"]["ours"]["tracemalloc_peak"] > 0
    (case,) = results["T4"]["memory_cases"]
    assert case["ours"]["tracemalloc_peak"] > 0 and case["sklearn"]["tracemalloc_peak"] > 0
    assert case["ours_buffers"] > 0


def test_memory_formula_reads_the_library_constants(bench):
    import memory
    from workloads import tiny_workloads

    from scratchmlp._inference import MAX_CHUNK

    w = tiny_workloads()[2]
    b, formula = memory.ours_buffer_bytes(w, "predict_proba", w.estimator_params(), 10**6)
    assert f"* {MAX_CHUNK} +" in formula
