"""ResNet from its blocks: ``BasicBlock``, ``Bottleneck``, ResNet-18 and ResNet-50.

The attribute names follow ``torchvision.models.resnet`` (``conv1``, ``bn1``,
``layer1.0.downsample.0`` …), so a torchvision state dict loads into these models
with ``strict=True`` and the outputs agree. Two options adapt the network to small
images and small computers: ``small_input=True`` replaces the 7×7 stride-2 stem and
its max-pool by one 3×3 stride-1 convolution (the CIFAR variant), and ``width``
sets the channels of the first stage (64 in the paper; 16 gives a ResNet-18 with
1/16 of the convolution weights).

Examples:
    >>> import torch
    >>> model = resnet18(num_classes=10, width=8, small_input=True)
    >>> model(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> sum(p.numel() for p in resnet18().parameters())
    11689512
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50"]


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 and no bias (a BatchNorm follows it)."""
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution without bias: changes the channel count (and the stride)."""
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


def shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    """The projection a skip connection needs when the shape changes, else ``None``."""
    if stride == 1 and in_ch == out_ch:
        return None  # identity: add the input as it is
    return nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))


# --8<-- [start:basic_block]
class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a skip connection (ResNet-18/34)."""

    expansion = 1  # output channels = planes * expansion

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, planes, stride)  # may halve H and W
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = shortcut(in_ch, planes, stride)

    def forward(self, x: Tensor) -> Tensor:  # (N, in_ch, H, W)
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)  # (N, planes, H/stride, W/stride)
# --8<-- [end:basic_block]


# --8<-- [start:bottleneck]
class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (×4) and a skip connection (ResNet-50+).

    The stride sits on the 3×3 convolution ("ResNet v1.5", as in torchvision).
    """

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes)       # squeeze channels: cheap 3×3
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_ch)      # expand back
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_ch, out_ch, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)
# --8<-- [end:bottleneck]


# --8<-- [start:resnet]
class ResNet(nn.Module):
    """A stem, four stages of blocks (strides 1, 2, 2, 2), a classifier.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: blocks per stage, e.g. ``[2, 2, 2, 2]`` for ResNet-18.
        num_classes: outputs of the final ``fc`` layer.
        width: channels of the first stage; stages double it (64 in the paper).
        small_input: 3×3 stride-1 stem without max-pool, for 32×32 images.
        in_channels: channels of the input images.
        zero_init_residual: start each block's last BatchNorm at zero, so every
            block begins as the identity (helps short training runs).
    """

    def __init__(self, block: type[BasicBlock | Bottleneck],
                 layers: list[int], num_classes: int = 1000, width: int = 64,
                 small_input: bool = False, in_channels: int = 3,
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be 4 positive counts, got {layers}")
        if width < 1:
            raise ValueError(f"width must be a positive integer, got {width}")
        if small_input:  # 32×32 input: keep the resolution for the stages
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:            # 224×224 input: /4 before the first stage
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.in_ch = width
        self.layer1 = self._make_stage(block, width, layers[0], stride=1)
        self.layer2 = self._make_stage(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_stage(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_stage(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # any input size -> 1×1
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_stage(self, block, planes: int, blocks: int, stride: int):
        # only the first block of a stage changes the stride and channels
        stage = [block(self.in_ch, planes, stride)]
        self.in_ch = planes * block.expansion
        stage += [block(self.in_ch, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*stage)
# --8<-- [end:resnet]

    def _init_weights(self, zero_init_residual: bool) -> None:
        # torchvision's initialization, so that both models start alike
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W)
        """Logits of shape ``(N, num_classes)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(**kwargs) -> ResNet:
    """ResNet-18: ``BasicBlock`` × [2, 2, 2, 2]; keyword arguments go to :class:`ResNet`."""
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet50(**kwargs) -> ResNet:
    """ResNet-50: ``Bottleneck`` × [3, 4, 6, 3]; keyword arguments go to :class:`ResNet`."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)
