"""What the chapter computes, checked after its last block in the page's own session."""

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    # sections 3-4: both programs compute what eager computes, up to float32 rounding
    assert 0 <= ns["portable_diff"] < 1e-4 and 0 <= ns["xnn_diff"] < 1e-4
    assert ns["eager_acc"] > 0.9, ns["eager_acc"]
    # section 4: the XNNPACK program leaves nothing to the runtime's kernels; sort has no kernel
    assert ns["missing_kernels"](ns["sorted_program"]) == ["aten::sort.values"]
    assert "error: 0x:14" in out, "OperatorMissing, as error.h numbers it"
    # section 5: int8 is much smaller and about as accurate
    sizes, accs = ns["sizes"], ns["accs"]
    assert sizes["xnnpack int8"] < 0.5 * sizes["xnnpack fp32"], sizes
    assert abs(accs["xnnpack int8"] - accs["xnnpack fp32"]) <= 0.03, accs
    # section 6 (recorded timings): every profiled event has 50 calls; XNNPACK's events are the
    # delegate's; the XNNPACK program runs clearly faster than the portable one
    portable, xnn = ns["profiles"]["portable"], ns["profiles"]["XNNPACK fp32"]
    assert all(r["calls"] == 50 for r in portable + xnn)
    assert len(portable) == 12 and all(r["backend"] == "portable" for r in portable[:-1])
    assert all(r["backend"] == "XnnpackBackend" for r in xnn[:-1])
    assert portable[-1]["event"] == xnn[-1]["event"] == "Method::execute"
    assert portable[-1]["backend"] == xnn[-1]["backend"] == "runtime"
    assert {"DELEGATE_CALL", "Fully Connected (NC, F32) GEMM #1"} <= {r["event"] for r in xnn}
    total = {name: next(r["p50_us"] for r in rows if r["event"] == "Method::execute")
             for name, rows in ns["profiles"].items()}
    assert 0 < total["XNNPACK fp32"] < total["portable"] / 2, total
    # section 7 (recorded timings): a call on 32 images costs clearly more than on one
    batch_us = ns["batch_us"]
    assert all(us > 0 for us in batch_us.values())
    assert batch_us[32] > 4 * batch_us[1], batch_us
    assert files_written(workdir) == {
        "lec15/digits_portable.pte", "lec15/digits_xnnpack.pte", "lec15/digits_xnnpack_int8.pte",
        "lec15/digits_portable.etdp", "lec15/digits_xnnpack.etdp", "lec15/digits_xnnpack.etrecord",
        "lec15/operator-profile.png", "lec15/linear.ptl"}
    assert "Lite Interpreter is deprecated. Please consider switching to ExecuTorch." in out
