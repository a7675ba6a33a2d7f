"""The helpers of Lab 8.1: model, export, the package cache, timing, the C++ runner's plumbing."""

import hashlib
import json
import stat
import sys
import time

import pytest
import torch

from tutorials.lec08_torch_export import aoti_deploy as ad


@pytest.fixture(scope="module")
def ep():
    torch.manual_seed(0)
    model = ad.DigitsCNN(width=4).eval()
    return ad.export_dynamic_batch(model, torch.randn(4, 1, 8, 8), max_batch=64)


def test_model_shapes_and_training_lowers_the_loss():
    torch.manual_seed(0)
    model = ad.DigitsCNN(width=4)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    assert model(x).shape == (64, 10)
    losses = ad.train_digits(model, x, y, epochs=5, lr=1e-2, batch_size=16)
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert ad.train_digits(model, x, y, epochs=0) == []
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 8, 8\), got \(64, 64\)"):
        ad.train_digits(model, x.flatten(1), y, epochs=1)


def test_export_has_a_dynamic_batch(ep):
    user_inputs = ep.graph_signature.user_inputs
    (x_node,) = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in user_inputs]
    batch = x_node.meta["val"].shape[0]
    assert isinstance(batch, torch.SymInt)
    assert str(ep.range_constraints[batch.node.expr]) == "VR[1, 64]"
    out = ep.module()(torch.randn(1, 1, 8, 8))  # a batch of 1 is accepted, though the example had 4
    assert out.shape == (1, 10)


def test_an_example_batch_of_one_is_refused():
    with pytest.raises(ValueError, match=r"must be in \[2, 8\] \(a batch of 0 or 1 would be specialized"):
        ad.export_dynamic_batch(ad.DigitsCNN(4), torch.randn(1, 1, 8, 8), max_batch=8)


def test_package_key_follows_weights_and_threads(ep):
    key = ad.package_key(ep, "cpu")
    assert key == ad.package_key(ep, "cpu") and len(key) == 24
    changed = ad.export_dynamic_batch(ep.module(), torch.randn(4, 1, 8, 8), max_batch=64)
    assert ad.package_key(changed, "cpu") == key  # the same program and weights, exported again
    with torch.no_grad():
        next(iter(changed.state_dict.values())).add_(1.0)
    assert ad.package_key(changed, "cpu") != key
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert ad.package_key(ep, "cpu") != key  # CPU kernels are generated for a thread count
    finally:
        torch.set_num_threads(threads)


def test_package_key_hashes_zero_dim_buffers():
    """BatchNorm's num_batches_tracked is a 0-dim int64 buffer: hashed like any other tensor."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2)).eval()
    program = torch.export.export(model, (torch.randn(2, 1, 5, 5),))
    assert program.state_dict["1.num_batches_tracked"].dim() == 0
    key = ad.package_key(program, "cpu")
    with torch.no_grad():
        program.state_dict["1.num_batches_tracked"].add_(1)  # only the 0-dim value changes
    assert ad.package_key(program, "cpu") != key
    empty = hashlib.sha256()
    ad._tensor_digest(empty, "e", torch.zeros(0, 3))  # no elements: only name, dtype and shape
    assert empty.hexdigest() == hashlib.sha256(b"e:torch.float32:(0, 3)\n").hexdigest()


def test_compile_package_reuses_and_stores(ep, tmp_path, monkeypatch):
    key = ad.package_key(ep, "cpu")
    store = tmp_path / "cache" / "aoti_packages"
    calls = []

    def fake_compile(program, package_path):
        calls.append(package_path)
        with open(package_path, "wb") as f:
            f.write(b"pt2" * 100)
        return package_path

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", fake_compile)
    built = ad.compile_package(ep, tmp_path / "a" / "m.pt2", "cpu", cache_root=tmp_path / "cache")
    assert calls == [str(tmp_path / "a" / "m.pt2")] and built.cached is False and built.key == key
    assert (store / f"{key}.pt2").read_bytes() == b"pt2" * 100 and built.size_bytes == 300
    assert json.loads((store / f"{key}.json").read_text())["compile_s"] == built.compile_s
    again = ad.compile_package(ep, tmp_path / "b" / "m.pt2", "cpu", cache_root=tmp_path / "cache")
    assert len(calls) == 1 and again.cached is True and again.compile_s == built.compile_s
    assert (tmp_path / "b" / "m.pt2").read_bytes() == b"pt2" * 100
    ad.compile_package(ep, tmp_path / "c" / "m.pt2", "cpu", reuse=False, cache_root=tmp_path / "cache")
    assert len(calls) == 2
    assert sorted(p.name for p in store.iterdir()) == [f"{key}.json", f"{key}.pt2"]  # no temporary left


def test_median_us():
    assert 900 < ad.median_us(lambda: time.sleep(0.001), iters=5, warmup=1) < 100_000
    with pytest.raises(ValueError, match="iters must be at least 1, got 0"):
        ad.median_us(lambda: None, iters=0)


def test_max_abs_diff_and_raw_files(tmp_path):
    a = torch.arange(6.0).reshape(2, 3)
    assert ad.max_abs_diff(a, a + 0.5) == 0.5
    with pytest.raises(ValueError, match=r"shapes differ: \(2, 3\) vs \(3, 2\)"):
        ad.max_abs_diff(a, a.T)
    path = ad.write_float32(a.double(), tmp_path / "x.bin")
    assert path.stat().st_size == 6 * 4
    assert torch.equal(ad.read_float32(path, (2, 3)), a)
    with pytest.raises(ValueError, match=r"x.bin: holds 6 float32 values, shape \(4, 2\) needs 8"):
        ad.read_float32(path, (4, 2))


def test_parse_runner_output():
    text = ("loaded m.pt2 in 2.0 ms (1 threads)\n"
            "result shape=1,10 sum=0.091016 first=-0.016268,-0.032554,-0.071158 median_us=24.0 "
            "min_us=22.7 iters=5\n"
            "result shape=32,10 sum=3.665179 first=1.0,2.0,3.0 median_us=279.0 min_us=277.1 iters=5\n")
    first, second = ad.parse_runner_output(text)
    assert first.shape == (1, 10) and first.checksum == pytest.approx(0.091016)
    assert first.first == (-0.016268, -0.032554, -0.071158) and first.median_us == 24.0
    assert second.shape == (32, 10) and second.min_us == 277.1 and second.iters == 5
    assert ad.parse_runner_output("garbage") == []


def test_run_cpp_plumbing_with_a_stand_in_program(tmp_path):
    """A Python stand-in for aoti_runner: doubles each input, prints the result line."""
    fake = tmp_path / "fake_runner"
    fake.write_text(f"#!{sys.executable}\n" + """import sys
import numpy as np
package, device, threads, iters, *triples = sys.argv[1:]
for i in range(0, len(triples), 3):
    x = np.fromfile(triples[i], dtype="<f4").reshape([int(s) for s in triples[i + 1].split(",")])
    y = (2 * x).reshape(len(x), -1)
    y.astype("<f4").tofile(triples[i + 2])
    print(f"result shape={y.shape[0]},{y.shape[1]} sum={y.sum():.6f} first={y.flat[0]:.6f} "
          f"median_us=1.5 min_us=1.0 iters={iters}")
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    xs = [torch.ones(1, 1, 2, 2), torch.arange(8.0).reshape(2, 1, 2, 2)]
    outs, results, stdout, command = ad.run_cpp(fake, tmp_path / "m.pt2", xs, tmp_path / "io", iters=3)
    assert command[:5] == [str(fake), str(tmp_path / "m.pt2"), "cpu", "1", "3"]
    io = tmp_path / "io"
    assert command[5:8] == [str(io / "input_0.bin"), "1,1,2,2", str(io / "output_0.bin")]
    assert [r.shape for r in results] == [(1, 4), (2, 4)] and results[1].iters == 3
    assert torch.equal(outs[1], 2 * xs[1].reshape(2, 4))
    assert (tmp_path / "io" / "input_0.bin").is_file()


def test_run_cpp_failure_names_the_command(tmp_path):
    from tutorials.core.cpp_build import CppBuildError

    fake = tmp_path / "failing_runner"
    fake.write_text("#!/bin/sh\necho 'aoti_runner: cannot open input file' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(CppBuildError, match="exited with 1(.|\n)*cannot open input file"):
        ad.run_cpp(fake, tmp_path / "m.pt2", [torch.ones(1, 1, 8, 8)], tmp_path / "io")


def test_build_runner_without_a_compiler_says_why(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    build = ad.build_runner()
    assert build.executable is None
    assert build.reason.startswith("No C++ compiler found: looked for no-such-compiler-here")


def test_the_runner_source_has_the_page_sections():
    text = ad.CPP_SOURCE.read_text()
    for name in ("include", "load", "run"):
        assert f"// --8<-- [start:{name}]" in text and f"// --8<-- [end:{name}]" in text
    assert "torch::inductor::AOTIModelPackageLoader" in text


def test_plot_latency(tmp_path):
    rows = [{"batch": 1, "eager us": 50.0, "AOTI-Python us": 30.0, "AOTI-C++ us": None},
            {"batch": 32, "eager us": 600.0, "AOTI-Python us": 300.0, "AOTI-C++ us": None}]
    fig = ad.plot_latency(rows, tmp_path / "f.png", title="t", note="AOTI-C++: not built here")
    assert (tmp_path / "f.png").stat().st_size > 5_000
    assert len(fig.axes) == 2 and [t.get_text() for t in fig.axes[0].texts] == ["50", "30", "n/a"]
    with pytest.raises(ValueError, match="no rows"):
        ad.plot_latency([])


def test_inductor_compiler_problem_names_the_compiler(monkeypatch):
    import torch._inductor.config as inductor_config

    assert ad.inductor_compiler_problem() is None  # g++ here
    monkeypatch.setattr(inductor_config.cpp, "cxx", (None, "no-such-compiler-here"))
    problem = ad.inductor_compiler_problem()
    assert problem.startswith("AOTInductor compiles the code it generates with a C++ compiler, and none")
    assert "no-such-compiler-here" in problem and "point $CXX at one" in problem
