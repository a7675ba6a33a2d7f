import pytest
import torch

from tutorials.lec02_tensors.tensor_memory import (
    draw_memory_layout,
    element_offset,
    layout,
    shares_storage,
    storage_positions,
)


def test_layout_of_views_and_formats():
    x = torch.arange(24.0).view(2, 3, 4)
    assert layout(x) == layout(x.clone())
    assert layout(x[:, 1]).offset == 4 and layout(x[:, 1]).stride == (12, 1)
    img = torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)
    info = layout(img)
    assert info.channels_last and not info.contiguous and info.stride == (60, 1, 15, 3)


def test_element_offset_matches_the_storage():
    x = torch.arange(60.0).view(3, 4, 5)
    flat = x.flatten()
    for view in (x, x.transpose(0, 2), x[1:, ::2, 3:], x.permute(1, 2, 0)):
        for idx, pos in storage_positions(view).items():
            assert view[idx].item() == flat[pos].item() == pos
    assert element_offset(x[0].t(), (2, 1)) == 7  # x[0] is 4×5; its transpose has stride (1, 5)


def test_element_offset_rejects_bad_indices():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="has 1 entries, the tensor has 2"):
        element_offset(x, (1,))
    with pytest.raises(ValueError, match=r"outside shape \(3, 4\)"):
        element_offset(x, (3, 0))


def test_shares_storage_tells_views_from_copies():
    x = torch.randn(4, 4)
    assert shares_storage(x, x[1:, 2]) and shares_storage(x, x.t())
    assert not shares_storage(x, x[[0, 1]]) and not shares_storage(x, x.t().contiguous())


def test_draw_memory_layout(tmp_path):
    x = torch.arange(12.0).view(3, 4)
    fig = draw_memory_layout({"x": x, "slice": x[:, 1:3],
                              "img": torch.arange(12.0).view(1, 3, 2, 2), "v": x[0]})
    fig.savefig(tmp_path / "layout.png")
    assert (tmp_path / "layout.png").stat().st_size > 0
    with pytest.raises(ValueError, match="expected 1-D, 2-D, or 4-D with batch size 1"):
        draw_memory_layout({"bad": torch.zeros(2, 3, 2, 2)})
    with pytest.raises(ValueError, match="spans 100 storage positions"):
        draw_memory_layout({"big": torch.zeros(10, 10)})
