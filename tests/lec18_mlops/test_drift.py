"""PSI, the drift report, the simulated scanner, and the module as a command (the TorchX job)."""

import json
import subprocess
import sys

import numpy as np

from tutorials.lec18_mlops.drift import brightness, drift_report, main, new_scanner, psi


def test_psi_properties():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    assert psi(ref, ref) < 1e-9
    assert psi(ref, rng.normal(size=5000)) < 0.1
    assert psi(ref, rng.normal(0.5, 1, 5000)) > 0.1
    assert np.isfinite(psi(ref, np.full(100, 99.0))), "a batch outside the reference's range stays finite"


def test_new_scanner_drifts_and_report(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.random((300, 64)).astype(np.float32) * 0.6
    assert brightness(pixels).shape == (300,)
    shifted = new_scanner(pixels)
    assert shifted.min() >= 0.3 - 1e-6
    report = drift_report(pixels[:150], shifted[150:], threshold=0.25)
    assert report["drifted"] and report["ks_statistic"] > 0.9
    same = drift_report(pixels[:150], pixels[150:])
    assert not same["drifted"] and same["n_current"] == 150


def test_command_line(tmp_path):
    rng = np.random.default_rng(2)
    np.save(tmp_path / "ref.npy", rng.random((200, 65)).astype(np.float32))
    np.save(tmp_path / "cur.npy", rng.random((200, 65)).astype(np.float32))
    report = main(
        [
            "--reference",
            str(tmp_path / "ref.npy"),
            "--current",
            str(tmp_path / "cur.npy"),
            "--out",
            str(tmp_path / "r" / "report.json"),
        ]
    )
    assert json.loads((tmp_path / "r" / "report.json").read_text()) == report
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tutorials.lec18_mlops.drift",
            "--reference",
            str(tmp_path / "ref.npy"),
            "--current",
            str(tmp_path / "cur.npy"),
            "--out",
            str(tmp_path / "r2.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "drifted False" in done.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, tutorials.lec18_mlops.drift; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    assert imported == "False", "the job's module imports no torch: it starts in well under a second"
