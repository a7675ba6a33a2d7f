"""What the chapter computes, checked after its last block in the page's own session."""

import json
import math

import psutil

from tutorials._book.layout import files_written
from tutorials.lec26_debugging_hpc.caching_allocator import MiB


def claims(ns, out, workdir):
    assert files_written(workdir) == {
        "lec26/grad-norms.png", "lec26/loss-scale.png", "lec26/fragmentation.png",
        "lec26/flight/rank_0", "lec26/flight/rank_1", "lec26/logs/rank0.jsonl", "lec26/logs/rank1.jsonl",
        "lec26/environment.json"}
    # no rank outlived its launch: ranks come two or three per launch, and the only child allowed is
    # the page's learner run, a copy of the page's process forked at the first solution block
    alive = [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    assert len(alive) <= 1, alive
    assert all(p.cmdline() == psutil.Process().cmdline() for p in alive), alive
    # section 2: the corrupted batch makes the loss non-finite two steps later; clipping contains it
    plain, clipped, bad = ns["plain"], ns["clipped"], ns["BAD_STEP"]
    assert all(math.isfinite(loss) for _, loss, _ in plain[:-1]) and not math.isfinite(plain[-1][1])
    assert plain[-1][0] == bad + 2
    assert plain[bad][2] > 1e6 * plain[bad - 1][2], "the bad batch's gradient norm is a spike"
    assert len(clipped) == 60 and all(math.isfinite(loss) for _, loss, _ in clipped)
    assert clipped[-1][1] < 1.0
    # section 5: scaling rescues the gradients that float16 flushes to zero
    assert "scale       1:   0 of" not in out, "without scaling some gradients underflow"
    assert "scale   65536:   0 of 6208" in out
    skipped, scales = ns["skipped"], ns["scales"]
    assert skipped[:6] == [0, 1, 2, 3, 4, 5] and len(scales) == 60
    assert all(s in skipped for s, (a, b) in enumerate(zip(scales, scales[1:])) if b < a)
    # section 6: the same requests fail or fit depending on the allocation order
    titles = list(ns["layouts"])
    assert [len(ns["layouts"][t]) for t in titles] == [1, 2], "one 60 MiB segment vs a 20 and a 60"
    assert "CUDA out of memory. Tried to allocate 50.00 MiB" in out
    assert ns["gpu"].reserved == 80 * MiB
    # section 7 (recorded RSS): the kept graphs cost at least 80 % of their activations' bytes,
    # the loop without graphs less than a quarter of it
    activations = 12 * 256 * 2048 * 4 / 2**20
    rss_fixed = float(out.split("MiB with the graphs kept, ")[1].split(" MiB")[0])
    assert ns["leaked"] >= 0.8 * activations, (ns["leaked"], activations)
    assert rss_fixed < 0.25 * activations, rss_fixed
    assert ns["leaky"] == 5 * 132_096 and ns["fixed"] == 0
    # section 8: the flight recorder dumps and the analyzer's verdict
    assert "missing ranks: {1}" in out and "Not all ranks joining collective, sequence number: 3" in out
    assert "Ranks 2 failed to pass monitoredBarrier" in out
    # section 9: the logs and the environment record
    records = [json.loads(line) for r in (0, 1)
               for line in (workdir / f"lec26/logs/rank{r}.jsonl").read_text().splitlines()]
    assert [(r["rank"], r["event"]) for r in records] == [
        (0, "bound"), (0, "step"), (1, "bound"), (1, "step")]
    assert all(r["threads"] == len(r["cores"]) for r in records if r["event"] == "bound")
    env = json.loads((workdir / "lec26/environment.json").read_text())
    assert env["torch"]["version"] == ns["torch"].__version__
    assert env["git"] is None or len(env["git"]["commit"]) == 40
    # Common mistakes: the debug level is back to OFF, and the variable is gone
    assert str(ns["dist"].get_debug_level()) == "DebugLevel.OFF"
    assert "TORCH_DISTRIBUTED_DEBUG" not in ns["os"].environ
