"""tutorials.lec05_nn_module.resnet builds torchvision's ResNets from BasicBlock and Bottleneck."""

import pytest
import torch
import torchvision

from tutorials.lec05_nn_module.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet50


def count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("ours,theirs,params", [
    (resnet18, torchvision.models.resnet18, 11_689_512),
    (resnet50, torchvision.models.resnet50, 25_557_032),
])
def test_equal_to_torchvision(ours, theirs, params):
    torch.manual_seed(0)
    mine, ref = ours().eval(), theirs(weights=None).eval()
    assert count(mine) == count(ref) == params
    assert list(mine.state_dict()) == list(ref.state_dict()), "same names, same order"
    mine.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(mine(x), ref(x))


def test_num_classes_matches_torchvision():
    assert count(resnet18(num_classes=10)) == count(torchvision.models.resnet18(num_classes=10))


@pytest.mark.parametrize("block,stride,in_ch,planes,out_shape", [
    (BasicBlock, 1, 16, 16, (2, 16, 8, 8)),
    (BasicBlock, 2, 16, 32, (2, 32, 4, 4)),
    (Bottleneck, 1, 16, 8, (2, 32, 8, 8)),
    (Bottleneck, 2, 16, 8, (2, 32, 4, 4)),
])
def test_block_shapes_and_shortcuts(block, stride, in_ch, planes, out_shape):
    b = block(in_ch, planes, stride=stride)
    assert tuple(b(torch.randn(2, in_ch, 8, 8)).shape) == out_shape
    identity = stride == 1 and in_ch == planes * block.expansion
    assert (b.downsample is None) == identity


def test_small_input_width_and_zero_init():
    m = resnet18(num_classes=10, width=8, small_input=True, in_channels=1, zero_init_residual=True)
    assert isinstance(m.maxpool, torch.nn.Identity) and m.conv1.kernel_size == (3, 3)
    assert m.fc.in_features == 64
    assert tuple(m(torch.randn(2, 1, 32, 32)).shape) == (2, 10)
    assert all(not blk.bn2.weight.any() for stage in (m.layer1, m.layer4) for blk in stage)
    m50 = resnet50(width=8, zero_init_residual=True)
    assert not m50.layer1[0].bn3.weight.any()


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(ValueError, match="layers must be 4 positive counts"):
        ResNet(BasicBlock, [2, 2, 2])
    with pytest.raises(ValueError, match="width must be a positive integer"):
        resnet18(width=0)
