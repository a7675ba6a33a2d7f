"""Setup check, graph-node counter and layer diagram of Lecture 1."""

import pytest
import torch

from tutorials.lec01_big_picture.big_picture import (
    SetupReport,
    count_graph_nodes,
    draw_layer_diagram,
    setup_check,
)


def test_setup_check_on_cpu_passes_and_formats():
    report = setup_check("cpu")
    assert report.ok and report.problems == []
    assert report.device == torch.device("cpu") and report.device_name == "CPU"
    assert report.torch == str(torch.__version__)
    text = report.format()
    assert "status           OK" in text and "device           cpu (CPU)" in text


def test_setup_check_reports_an_old_version():
    report = setup_check("cpu", min_torch="99.0", min_python=(9, 0))
    assert not report.ok
    assert len(report.problems) == 2
    assert "older than 99.0" in report.problems[1] and "older than 9.0" in report.problems[0]
    assert "older than 99.0" in report.format()


def test_setup_check_rejects_a_bad_device():
    with pytest.raises(ValueError, match="--device must be one of"):
        setup_check("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a CPU-only machine")
def test_setup_check_cuda_without_gpu_is_an_error():
    with pytest.raises(RuntimeError, match="--device cuda was requested"):
        setup_check("cuda")


def test_report_is_a_plain_dataclass():
    r = SetupReport("3.11", "2.0", "none", False, torch.device("cpu"), "CPU", ["x broke"])
    assert not r.ok and "x broke" in r.format()


def test_count_graph_nodes_counts_shared_nodes_once():
    x = torch.ones(3, requires_grad=True)
    h = x * 2                    # MulBackward0, used twice below
    y = (h + h.sin()).sum()      # SumBackward0, AddBackward0, SinBackward0
    assert count_graph_nodes(y) == 5  # + MulBackward0 + AccumulateGrad
    assert count_graph_nodes(torch.ones(2)) == 0
    assert count_graph_nodes(x) == 0  # a leaf has no grad_fn


def test_draw_layer_diagram(tmp_path):
    fig = draw_layer_diagram([("A", "note"), ("B", "two\nlines")], title="t")
    fig.savefig(tmp_path / "layers.png")
    assert (tmp_path / "layers.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="at least one"):
        draw_layer_diagram([])
