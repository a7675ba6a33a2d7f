"""What the chapter computes, checked after its last block in the page's own session."""

from pathlib import Path

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    assert files_written(workdir) == {
        "lec08/exported-graphs.png", "lec08/small_net.pt2", "lec08/small_net_aoti.pt2"}
    # section 1: the trace froze the positive branch, script kept both, both warned
    neg = -torch.ones(3)
    assert torch.equal(ns["traced"](neg), neg + 1) and torch.equal(ns["scripted"](neg), neg - 1)
    assert "`torch.jit.trace` is deprecated" in out and "`torch.jit.script` is deprecated" in out
    assert ns["deprecation"].category is FutureWarning  # torch 2.14 (older releases: DeprecationWarning)
    assert "TracerWarning too: True" in out
    # section 2-3: lifted state, a dynamic batch with the declared range, the 0/1 trap
    kinds = [k for k, _ in ns["placeholder_kinds"](ns["ep"])]
    assert kinds.count("PARAMETER") == 6 and kinds.count("BUFFER") == 3
    assert kinds[-2:] == ["CONSTANT_TENSOR", "USER_INPUT"]
    assert ns["bounds"] == [(1, 1024)]
    assert "specialized it to be a constant (1)" in out
    assert len(ns["ep_auto"].range_constraints) == 0 and len(ns["ep_fixed"].range_constraints) == 1
    # section 5-6: cond keeps both branches; decomposition replaced the composite ops
    assert "cond" in ns["call_targets"](ns["ep_cond"])
    assert {"linear", "conv2d", "batch_norm"} <= set(ns["before"])
    assert not {"linear", "conv2d", "batch_norm"} & set(ns["after"])
    assert {"addmm", "convolution", "_native_batch_norm_legit_no_training"} <= set(ns["after"])
    # section 8 (recorded output): the package is a real AOTI package that agrees with
    # eager; the compile took a plausible time; the compiled model is not slower than
    # twice eager on this tiny model (it removes per-module Python overhead)
    assert "AOTI == eager: True" in out
    # the package went through the chapter's content-keyed cache, whatever its state was
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    from tutorials.lec08_torch_export.aoti_deploy import package_key

    build = ns["build"]
    assert torch.get_num_threads() == ns["threads"]  # the page restored its thread count
    torch.set_num_threads(1)  # the package was compiled for one thread: the key says so
    try:
        assert build.key == package_key(ns["ep_dyn"], "cpu") and isinstance(build.cached, bool)
    finally:
        torch.set_num_threads(ns["threads"])
    stored = Path(cache_dir()) / "aoti_packages" / f"{build.key}.pt2"
    assert stored.read_bytes() == (workdir / "lec08" / "small_net_aoti.pt2").read_bytes()
    assert 0.1 < ns["compile_s"] < 600, f"compile took {ns['compile_s']:.1f} s"
    assert (workdir / "lec08" / "small_net_aoti.pt2").stat().st_size > 100_000  # a model.so inside
    assert 0 < ns["aoti_us"] < 2 * ns["eager_us"], (
        f"AOTI {ns['aoti_us']:.0f} us vs eager {ns['eager_us']:.0f} us")
    runner = torch._inductor.aoti_load_package(str(workdir / "lec08" / "small_net_aoti.pt2"))
    x = torch.randn(4, 1, 8, 8)
    with torch.inference_mode():
        assert torch.allclose(runner(x), ns["net"](x), atol=1e-5)
