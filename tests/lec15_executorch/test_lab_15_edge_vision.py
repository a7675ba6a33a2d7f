"""Lab 15: its dry run (the one the Lecture 15 page runs), and its command line."""

import pytest

import docs_support
from tutorials.lec15_executorch import lab_15_edge_vision as lab


@pytest.fixture(scope="module")
def results(sessions_root):
    """The dry run its chapter's page executes (run once per suite, read here)."""
    return docs_support.lab_dry_run("lab_15_edge_vision", "lab_15_edge_results.json", sessions_root)


def test_the_dry_run_is_small(results):
    assert results["dry_run"] is True and results["epochs"] == 2 and len(results["losses"]) == 2
    assert results["calibration"] == 16 and results["iters"] == 30


def test_four_builds_measured(results):
    rows = {r["variant"]: r for r in results["rows"]}
    assert list(rows) == ["eager fp32", ".pte portable", ".pte XNNPACK fp32", ".pte XNNPACK int8"]
    assert results["files"] == ["digits_portable.pte", "digits_xnnpack-int8.pte", "digits_xnnpack.pte"]
    for row in rows.values():
        assert row["size KB"] > 0 and row["latency us"] > 0 and 0 <= row["accuracy"] <= 1
    # float programs compute what eager computes; int8 rounds, but predicts nearly the same
    assert rows[".pte portable"]["max |diff|"] < 1e-4 and rows[".pte XNNPACK fp32"]["max |diff|"] < 1e-4
    for name in (".pte portable", ".pte XNNPACK fp32"):
        assert rows[name]["accuracy"] == pytest.approx(rows["eager fp32"]["accuracy"], abs=0.01)
    assert rows[".pte XNNPACK int8"]["accuracy"] == pytest.approx(rows["eager fp32"]["accuracy"], abs=0.1)
    assert rows[".pte XNNPACK int8"]["size KB"] < 0.5 * rows[".pte XNNPACK fp32"]["size KB"]


def test_xnnpack_is_faster_than_portable(results):
    rows = {r["variant"]: r for r in results["rows"]}
    assert rows[".pte XNNPACK fp32"]["latency us"] < rows[".pte portable"]["latency us"] / 2, rows


def test_files_and_terminal(results):
    out = results["_out"]
    assert (out / "lab_15_edge_vision.png").stat().st_size > 10_000
    assert "| variant" in results["_stdout"] and "Traceback" not in results["_stderr"]


def test_parser_defaults_and_help():
    parser = lab.build_parser()
    args = parser.parse_args([])
    assert (args.epochs, args.calibration, args.iters, args.device) == (4, 256, 300, "cpu")
    assert all(a.help.endswith(")") for a in parser._actions if a.help and a.dest != "help")


def test_only_cpu(usage_error, tmp_path):
    # without CUDA the device is refused by core.cli; with CUDA by the lab (the .pte runs on the CPU)
    err = usage_error(lab.main, ["--device", "cuda", "--out-dir", str(tmp_path / "o")])
    assert "--device" in err and not (tmp_path / "o").exists()
