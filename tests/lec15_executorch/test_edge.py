"""The helpers of Lecture 15: model, data, the pipeline in one call, program readers, plots."""

import pytest
import torch

from tutorials.lec15_executorch import edge


@pytest.fixture(scope="module")
def model():
    edge.import_executorch()
    torch.manual_seed(0)
    return edge.DigitsCNN().eval()


@pytest.fixture(scope="module")
def portable(model):
    return edge.build_pte(model, torch.zeros(1, 1, 8, 8), "portable")


def test_model_and_data_shapes(model):
    x_train, y_train, x_val, y_val = edge.digits_images8(seed=0)
    assert x_train.shape == (1438, 1, 8, 8) and x_val.shape == (359, 1, 8, 8)
    assert y_train.dtype == torch.int64 and 0 <= float(x_train.min()) and float(x_train.max()) <= 1
    assert model(x_val[:3]).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) == 13706


def test_train_cnn_lowers_the_loss_and_leaves_eval_mode():
    torch.manual_seed(0)
    m = edge.DigitsCNN()
    x_train, y_train, _, _ = edge.digits_images8(seed=0)
    losses = edge.train_cnn(m, x_train[:256], y_train[:256], epochs=3, lr=1e-2, batch_size=32)
    assert len(losses) == 3 and losses[-1] < losses[0] and not m.training
    assert edge.train_cnn(m, x_train, y_train, epochs=0) == []


def test_portable_program_runs_like_eager(model, portable, tmp_path):
    path = portable.save(tmp_path / "m.pte")
    assert path.stat().st_size == len(portable.buffer) > 54824  # the weights alone are 54,824 bytes
    pte = edge.PteModel(path)
    assert pte.input_shape == (1, 1, 8, 8)
    x = torch.rand(5, 1, 8, 8)
    out = pte.predict(x)  # five calls of batch 1
    assert out.shape == (5, 10)
    assert torch.allclose(out, model(x).detach(), atol=1e-4)
    assert edge.pte_operators(portable.program) == [
        "aten::convolution.out", "aten::relu.out", "aten::max_pool2d_with_indices.out",
        "aten::permute_copy.out", "aten::addmm.out"]
    assert edge.missing_kernels(portable.program) == []


def test_predict_pads_the_last_chunk(model):
    dyn = edge.build_pte(model, torch.zeros(4, 1, 8, 8), "portable")  # static batch of 4
    x = torch.rand(6, 1, 8, 8)
    out = edge.PteModel(dyn.buffer).predict(x)  # chunks of 4 and 2 (+2 zero rows dropped)
    assert out.shape == (6, 10) and torch.allclose(out, model(x).detach(), atol=1e-4)


def test_memory_plan_rows(portable):
    rows = edge.memory_plan(portable.program)
    assert [r["op"] for r in rows][:2] == ["aten_convolution_default", "aten_relu_default"]
    assert all(r["bytes"] > 0 and r["offset"] >= 0 and r["lifetime"][0] <= r["lifetime"][1] for r in rows)
    size = portable.program.executorch_program.execution_plan[0].non_const_buffer_sizes[1]
    assert max(r["offset"] + r["bytes"] for r in rows) <= size


def test_int8_needs_calibration_and_variants_are_checked(model):
    with pytest.raises(ValueError, match="needs calibration images"):
        edge.build_pte(model, torch.zeros(1, 1, 8, 8), "xnnpack-int8")
    with pytest.raises(ValueError, match="variant must be one of"):
        edge.build_pte(model, torch.zeros(1, 1, 8, 8), "vulkan")


def test_operator_profile_reads_an_etdump(portable, tmp_path):
    path = portable.save(tmp_path / "m.pte")
    pte = edge.PteModel(path, etdump=True)
    for _ in range(3):
        pte(torch.rand(1, 1, 8, 8))
    rows = edge.operator_profile(pte.write_etdump(tmp_path / "m.etdp"))
    assert rows[-1]["event"] == "Method::execute" and rows[-1]["backend"] == "runtime"
    assert all(r["calls"] == 3 for r in rows) and rows[0]["backend"] == "portable"
    assert rows[0]["event"] == "native_call_convolution.out" and all(r["p50_us"] >= 0 for r in rows)


def test_median_call_us_and_plots(tmp_path):
    import matplotlib.pyplot as plt

    calls = []
    assert edge.median_call_us(lambda: calls.append(1), iters=5, warmup=2) >= 0 and len(calls) == 7
    rows = [{"event": "a", "backend": "portable", "p50_us": 2.0},
            {"event": "b", "backend": "XnnpackBackend", "p50_us": 1.0}]
    fig = edge.plot_operator_profile({"p": rows, "x": rows}, tmp_path / "p.png", title="t")
    plt.close(fig)
    table = [{"variant": v, "size KB": 50.0, "latency us": 10.0, "accuracy": 0.9} for v in "abcd"]
    fig = edge.plot_variants(table, tmp_path / "v.png", title="t")
    plt.close(fig)
    assert (tmp_path / "p.png").stat().st_size > 0 and (tmp_path / "v.png").stat().st_size > 0
