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

An author hunting machine-dependent outputs wants every difference at once, not
the first failure: ``--outputs docs/lectures/NN-slug.md`` runs that page under each
configuration without stopping at a mismatch and lists every output block that
differs from the page, with the reason.
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
        env = config_env(capability, threads)
        env["COURSE_VERIFIED_RECORD"] = str(record)
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


def config_env(capability: str, threads: int) -> dict[str, str]:
    """The environment of one configuration."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    for key in ("MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA"):
        env.pop(key, None)
    env.update(CAPABILITIES[capability])
    return env


def output_differences(root: Path, page: Path, capability: str, threads: int) -> list[str]:
    """Every output block of ``page`` that differs under one configuration (the page runs to its end)."""
    from tutorials._book import blocks, runner
    from tutorials._book.update_outputs import load_snippet_config

    pre = blocks.snippet_preprocessor(load_snippet_config(root))
    expanded = blocks.expand_page(page.resolve(), root.resolve(), pre)
    page_blocks = [b for b in blocks.page_blocks(expanded) if not any("skip" in m for m in b.marks)]
    env = blocks.shell_env()
    env.update(config_env(capability, threads))
    with tempfile.TemporaryDirectory() as tmp:
        process = runner.PageProcess(page_blocks, Path(tmp), env, compare=False)
        process.wait_for(None)
        found = []
        for b in page_blocks:
            result = process.results.get(b.index)
            if result is None:
                found.append(f"{b.location}: not run")
            elif result["status"] != "passed":
                found.append(result["message"])
            elif b.expected_output is not None:
                why = blocks.output_mismatch(b, result["output"])
                if why:
                    found.append(f"{b.location}: {why}")
        return found


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
    p.add_argument("--outputs", type=Path, metavar="PAGE",
                   help="list every output block of PAGE that differs, per configuration")
    args = p.parse_args(argv)
    offered = available_capabilities()
    caps = args.capability or offered
    missing = [c for c in caps if c not in offered]
    if missing:
        p.error(f"--capability {missing[0]}: this CPU does not offer it (it offers {', '.join(offered)})")
    configs = [(c, t) for c in caps for t in (args.threads or [1, 2])]
    if args.outputs is not None:
        if not args.outputs.is_file():
            p.error(f"--outputs {args.outputs}: no such page")
        differs = False
        for cap, threads in configs:
            found = output_differences(args.root, args.outputs, cap, threads)
            differs |= bool(found)
            print(f"=== {cap}, {threads} thread(s): {len(found)} difference(s)")
            for line in found:
                print("  " + line.replace("\n", "\n    "))
        return 1 if differs else 0
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
