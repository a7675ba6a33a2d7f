"""Run the pages under every CPU capability this machine offers, with 1 and 2 threads.

Usage::

    python -m tutorials._book.matrix                       # every page, every configuration
    python -m tutorials._book.matrix -k 02-tensors --threads 1

A reader's CPU may lack AVX-512 or AVX2, and GitHub's runners change CPU from run
to run: the kernels then differ (ATen's vectorised kernels, MKL's BLAS, oneDNN's
convolutions), and so do the last bits of every float. Each configuration runs the
page tests (``tests/test_docs_pages.py``) in a fresh pytest with

* ``ATEN_CPU_CAPABILITY`` = ``default`` / ``avx2`` / ``avx512`` (those the CPU has),
  and MKL and oneDNN held to the same instruction set
  (``MKL_ENABLE_INSTRUCTIONS``, ``ONEDNN_MAX_CPU_ISA``), as on a CPU without the
  wider ones;
* ``OMP_NUM_THREADS`` = 1 and 2 (torch's intra-op threads).

It prints a table, pages × configurations, of blocks passed / executed, and exits
non-zero when any page fails anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ATen capability -> the same limit for MKL and oneDNN (None: the library's own choice).
CAPABILITIES = {
    "default": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {},
}


def available_capabilities() -> list[str]:
    """The ``ATEN_CPU_CAPABILITY`` values this CPU can run (x86-64; elsewhere ``default`` only)."""
    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        pass
    out = ["default"]
    if " avx2" in flags:
        out.append("avx2")
    if " avx512f" in flags and " avx512bw" in flags and " avx512vl" in flags and " avx512dq" in flags:
        out.append("avx512")
    return out


def run_config(root: Path, capability: str, threads: int, select: str | None,
               workers: str) -> tuple[dict, float, int]:
    """Run the page tests under one configuration; return the verified record, seconds, exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "verified.json"
        env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads), COURSE_VERIFIED_RECORD=str(record))
        for key in ("MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA"):
            env.pop(key, None)
        env.update(CAPABILITIES[capability])
        cmd = [sys.executable, "-m", "pytest", "tests/test_docs_pages.py", "-q", "-n", workers,
               "-p", "no:cacheprovider"]
        if select:
            cmd += ["-k", select]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        pages = json.loads(record.read_text(encoding="utf-8"))["pages"] if record.is_file() else {}
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-40:])
            print(f"--- {capability}, {threads} thread(s): pytest exited {proc.returncode}\n{tail}\n",
                  file=sys.stderr)
        return pages, seconds, proc.returncode


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-k", dest="select", help="pytest -k expression selecting pages (default: all)")
    p.add_argument("--capability", action="append", choices=sorted(CAPABILITIES),
                   help="capabilities to run (repeatable; default: every one this CPU offers)")
    p.add_argument("--threads", action="append", type=int, choices=[1, 2],
                   help="torch threads (repeatable; default: 1 and 2)")
    p.add_argument("-n", dest="workers", default="auto", help="pytest-xdist workers (default: auto)")
    p.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    args = p.parse_args(argv)
    offered = available_capabilities()
    caps = args.capability or offered
    missing = [c for c in caps if c not in offered]
    if missing:
        p.error(f"--capability {missing[0]}: this CPU does not offer it (it offers {', '.join(offered)})")
    configs = [(c, t) for c in caps for t in (args.threads or [1, 2])]
    results, failed = {}, False
    for cap, threads in configs:
        pages, seconds, code = run_config(args.root, cap, threads, args.select, args.workers)
        results[(cap, threads)] = pages
        failed |= code != 0
        print(f"{cap:8s} {threads} thread(s): pytest exit {code}, {seconds:.0f} s", flush=True)
    names = sorted({page for pages in results.values() for page in pages})
    header = ["page"] + [f"{c}/{t}t" for c, t in configs]
    rows = []
    for page in names:
        row = [page.removeprefix("docs/")]
        for config in configs:
            rec = results[config].get(page)
            if rec is None:
                row.append("not run")
                failed = True
            else:
                row.append(f"{rec['passed']}/{rec['executed']}" + ("" if rec["passed"] == rec["executed"]
                                                                   else " FAIL"))
                failed |= rec["passed"] != rec["executed"]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
