"""The benchmark runs: a smoke test on tiny workloads of each kind (timing and memory)."""

import json
import sys
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


@pytest.fixture
def array_api(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import array_api

    return array_api


@pytest.mark.parametrize("how", ["--no-torch", "torch not installed"])
def test_array_api_smoke_numpy(array_api, tmp_path, capsys, monkeypatch, how):
    """The numpy rows of benchmarks/array_api.py, which need no torch."""
    out = tmp_path / "array_api.json"
    if how == "torch not installed":
        monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    array_api.main(["--smoke", "--json", str(out)] + ([how] if how.startswith("--") else []))
    assert "SECONDS PER EPOCH" in capsys.readouterr().out
    result = json.loads(out.read_text())
    ((timing,),) = [result["timings"]]
    assert set(timing["fits"]) == {"ours-numpy"}
    assert timing["fits"]["ours-numpy"]["median"] > 0
    assert result["summary"][0]["torch"] is None
    assert result["lbfgs"] == [] and result["profile"] is None


def test_array_api_smoke(array_api, tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "array_api.json"
    array_api.main(["--smoke", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "SECONDS PER EPOCH" in printed and "ARITHMETIC, NOT MEASURED" in printed
    result = json.loads(out.read_text())
    ((timing,),) = [result["timings"]]
    fits = timing["fits"]
    assert set(fits) == {"ours-numpy", "ours-torch", "ours-torch-rowgather", "torch.nn"}
    assert all(r["median"] > 0 for r in fits.values())
    # The benchmark's row gather changes the speed, not the values: the same fit.
    assert fits["ours-torch"]["loss"] == fits["ours-torch-rowgather"]["loss"]
    assert timing["gather"]["same_values"]
    # Both engines train the same network from the same seed.
    assert fits["ours-torch"]["loss"][0] == pytest.approx(fits["ours-numpy"]["loss"][0], rel=1e-4)
    (row,) = result["summary"]
    assert row["torch/numpy"] > 0 and not row["torch_estimated"]
    (lbfgs,) = result["lbfgs"]
    assert 0 < lbfgs["fraction"] < 1
    assert lbfgs["n_params"] == (784 + 1) * 256 + (256 + 1) * 128 + (128 + 1) * 10
    assert set(result["profile"]["loops"]) == {"ours-torch", "ours-torch-rowgather", "torch.nn"}
