"""Lecture 23: advanced computer vision — CNNs, transfer learning, detection, video, style, GANs.

The code of the chapter ``docs/lectures/23-computer-vision.md``, in the order the page
shows it. Run it top to bottom with ``python -m tutorials.lec23_computer_vision.chapter``;
it writes a tiny CIFAR-10-format archive, a backbone checkpoint and the chapter's figures
into ``lec23/`` under the current directory.
"""

# --8<-- [start:imports]
import itertools
from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
OUT = Path("lec23")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]


# --8<-- [start:conv_arithmetic]
def conv_out(n, k, s=1, p=0, d=1):
    """Output length of a convolution or pooling window along one axis."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


checked = 0
for n, k, s, p, d in itertools.product([7, 8, 13], [1, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2]):
    if d * (k - 1) + 1 > n + 2 * p:
        continue  # the window does not fit: PyTorch raises an error
    x = torch.zeros(1, 1, n, n)
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    assert conv(x).shape[-1] == conv_out(n, k, s, p, d)
    if p <= k // 2:  # pooling allows padding up to half the window
        pool = nn.MaxPool2d(k, stride=s, padding=p, dilation=d)
        assert pool(x).shape[-1] == conv_out(n, k, s, p, d)
    checked += 1
print(f"formula = nn.Conv2d and nn.MaxPool2d in {checked} settings")
print("32x32, 3x3 conv, stride 2, padding 1 ->", conv_out(32, 3, 2, 1))
# --8<-- [end:conv_arithmetic]


# --8<-- [start:pooling]
x = torch.arange(16.0).reshape(1, 1, 4, 4)  # rows 0-3, 4-7, 8-11, 12-15
print("max: ", F.max_pool2d(x, 2).flatten().tolist())  # the largest value of each 2x2 window
print("mean:", F.avg_pool2d(x, 2).flatten().tolist())  # their average
print("global average:", F.adaptive_avg_pool2d(x, 1).item())  # one value per channel, any size
# --8<-- [end:pooling]


# --8<-- [start:receptive_field]
def receptive_field(layers):
    """layers: (kernel, stride, dilation) of each conv/pool; returns (field, jump)."""
    field, jump = 1, 1  # one input pixel; neighbouring outputs 1 input pixel apart
    for k, s, d in layers:
        field += (k - 1) * d * jump
        jump *= s
    return field, jump


lenet_geometry = [(5, 1, 1), (2, 2, 1), (5, 1, 1), (2, 2, 1)]  # conv, pool, conv, pool
print("LeNet features: receptive field, jump =", receptive_field(lenet_geometry))

# check it: the input pixels that reach one output pixel get a non-zero gradient
probe = nn.Sequential(nn.Conv2d(1, 1, 5), nn.AvgPool2d(2), nn.Conv2d(1, 1, 5), nn.AvgPool2d(2))
for m in probe:
    if isinstance(m, nn.Conv2d):
        nn.init.ones_(m.weight)  # positive weights: no gradient cancels out
x = torch.zeros(1, 1, 40, 40, requires_grad=True)
probe(x)[0, 0, 3, 3].backward()
rows = x.grad[0, 0].abs().sum(dim=1).nonzero()
print("pixels with a gradient along one axis:", len(rows))
# --8<-- [end:receptive_field]


# --8<-- [start:lenet]
lenet = nn.Sequential(
    nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (1,28,28) -> (6,28,28) -> (6,14,14)
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),  # -> (16,10,10) -> (16,5,5)
    nn.Flatten(),  # -> 400
    nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
    nn.Linear(120, 84), nn.ReLU(),
    nn.Linear(84, 10),
)
h = torch.zeros(1, 1, 28, 28)
for layer in lenet:
    h = layer(h)
    if not isinstance(layer, nn.ReLU):
        print(f"{type(layer).__name__:9s} -> {tuple(h.shape[1:])}")
print("parameters:", sum(p.numel() for p in lenet.parameters()))
# --8<-- [end:lenet]


# --8<-- [start:vgg]
def vgg_block(c_in, c_out):
    """Two 3x3 convs (same size) and a 2x2 max pool (half size): VGG's unit."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.MaxPool2d(2),
    )


vgg = nn.Sequential(vgg_block(3, 32), vgg_block(32, 64), vgg_block(64, 128),
                    nn.Flatten(), nn.Linear(128 * 4 * 4, 10))
h = torch.zeros(2, 3, 32, 32)
for i, block in enumerate(vgg):
    h = block(h)
    print(f"{i}: {type(block).__name__:10s} -> {tuple(h.shape[1:])}, "
          f"{sum(p.numel() for p in block.parameters()):7d} parameters")
# a 3x3 conv c_in -> c_out holds 9 * c_in * c_out weights + c_out biases
assert sum(p.numel() for p in vgg[1][0].parameters()) == 9 * 32 * 64 + 64
# --8<-- [end:vgg]

# --8<-- [start:batchnorm]
bn = nn.BatchNorm2d(3)  # momentum 0.1: running = 0.9 * running + 0.1 * batch statistic
x = 5 + 2 * torch.randn(16, 3, 8, 8)  # mean about 5, std about 2
y = bn(x)  # train mode: normalised with this batch's own mean and variance
print("train: output mean", y.mean().abs().item() < 1e-5, "std", round(y.std().item(), 2))
print("running_mean", [round(v, 2) for v in bn.running_mean.tolist()])
bn.eval()  # eval mode: the running statistics, and no update
y = bn(x)
print("eval:  output mean", round(y.mean().item(), 2), "std", round(y.std().item(), 2))
print("running_mean unchanged in eval:", [round(v, 2) for v in bn.running_mean.tolist()])
# --8<-- [end:batchnorm]

# --8<-- [start:cifar_write]
from tutorials.lec23_computer_vision.vision_helpers import write_cifar10_archive

cifar_root = OUT / "cifar"
folder = write_cifar10_archive(cifar_root, per_batch=4)
print(f"wrote {folder}:", sorted(p.name for p in folder.iterdir()))
# --8<-- [end:cifar_write]

# --8<-- [start:cifar_read]
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import calculate_md5

try:
    CIFAR10(cifar_root, train=True, download=False)
except RuntimeError as err:
    print("stock CIFAR10:", err)


class CheckedCIFAR10(CIFAR10):
    """torchvision's CIFAR10 with the checksums of *our* files (their names are the same)."""

    train_list = [[f"data_batch_{i}", calculate_md5(folder / f"data_batch_{i}")] for i in range(1, 6)]
    test_list = [["test_batch", calculate_md5(folder / "test_batch")]]
    meta = {**CIFAR10.meta, "md5": calculate_md5(folder / "batches.meta")}


train_set = CheckedCIFAR10(cifar_root, train=True, download=False)
test_set = CheckedCIFAR10(cifar_root, train=False, download=False)
image, label = train_set[1]
print(len(train_set), len(test_set), train_set.data.shape, train_set.data.dtype)
print(type(image).__name__, image.size, label, train_set.classes[label])

DOWNLOAD_REAL_CIFAR = False  # online? set True: about 170 MB once, into ./data
if DOWNLOAD_REAL_CIFAR:
    real = CIFAR10("data", train=True, download=True)  # checks the real md5s
# --8<-- [end:cifar_read]

# --8<-- [start:augment]
from torchvision.transforms import v2

from tutorials.lec23_computer_vision.backbone import digits_images
from tutorials.lec23_computer_vision.vision_helpers import save_image_grid

digits, digit_labels = digits_images(size=32)  # (1797, 1, 32, 32), normalised
augment = v2.Compose([
    v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.85, 1.1)),
    v2.RandomErasing(p=0.5, scale=(0.02, 0.1), value=-0.75),  # -0.75: the background
])  # no flips: a mirrored 2 or 7 is not a digit
torch.manual_seed(3)
picks = [int((digit_labels == d).nonzero()[0]) for d in range(5)]
grid = [[digits[i]] + [augment(digits[i]) for _ in range(6)] for i in picks]
grid = [[img * 0.4 + 0.3 for img in row] for row in grid]  # undo the normalisation for display
save_image_grid(grid, OUT / "augmentations.png", col_titles=["original"] + ["augmented"] * 6)
print(f"wrote {OUT / 'augmentations.png'}")
# --8<-- [end:augment]

# --8<-- [start:pretrain]
from tutorials.lec23_computer_vision.backbone import (
    TRANSFER_CLASSES,
    evaluate,
    load_backbone,
    pretrain_backbone,
    split_digits,
)

checkpoint = OUT / "backbone.pt"
info = pretrain_backbone(checkpoint, classes=(0, 1, 2, 3, 4), epochs=2, size=16, lr=1e-2, seed=0)
print(f"wrote {checkpoint}; accuracy on held-out digits 0-4: {info['val_accuracy']:.2f}")
# --8<-- [end:pretrain]

# --8<-- [start:new_head]
model = load_backbone(checkpoint)  # torch.load(weights_only=True) + load_state_dict
print("pretrained on", model.pretrained_classes, "head", model.head)
model.head = nn.Linear(model.feature_dim, len(TRANSFER_CLASSES))  # new, random head for 5-9
for p in model.features.parameters():
    p.requires_grad_(False)  # freeze the backbone
trainable = [name for name, p in model.named_parameters() if p.requires_grad]
print("trainable:", trainable, sum(p.numel() for p in model.parameters() if p.requires_grad))
print("frozen:", sum(p.numel() for p in model.parameters() if not p.requires_grad))
# --8<-- [end:new_head]

# --8<-- [start:train_head]
from torch.utils.data import DataLoader

train_t, val_t, test_t = split_digits(TRANSFER_CLASSES, seed=0, size=16)  # 5..9 -> labels 0..4
optimizer = torch.optim.AdamW(model.head.parameters(), lr=1e-2)  # only what trains
loader = DataLoader(train_t, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
head_curve = []
for _epoch in range(4):
    model.train()
    model.features.eval()  # frozen BN: use (and keep) the pretrained running statistics
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    head_curve.append((loss.item(), evaluate(model, val_t)))
accuracy = evaluate(model, test_t)
print(f"held-out accuracy on digits 5-9 (head only, 4 epochs): {accuracy:.2f}")
# --8<-- [end:train_head]

# --8<-- [start:param_groups]
for p in model.features.parameters():
    p.requires_grad_(True)  # unfreeze to fine-tune everything...
optimizer = torch.optim.AdamW([
    {"params": model.features.parameters(), "lr": 1e-4},  # ...the pretrained part gently
    {"params": model.head.parameters()},  # the new head with the default lr below
], lr=1e-2, weight_decay=1e-4)
for group in optimizer.param_groups:
    print(group["lr"], sum(p.numel() for p in group["params"]))
# --8<-- [end:param_groups]

# --8<-- [start:torchvision_weights]
from torchvision.models import ResNet18_Weights, resnet18

ONLINE = False  # True on a machine that can download the 45 MB of weights
weights = ResNet18_Weights.IMAGENET1K_V1
net = resnet18(weights=weights if ONLINE else None)  # None: random weights, no download
print(weights.transforms())  # the preprocessing these weights were trained with
net.fc = nn.Linear(net.fc.in_features, len(TRANSFER_CLASSES))  # the new head
print("fc:", net.fc, "| categories of the weights:", len(weights.meta["categories"]))
# --8<-- [end:torchvision_weights]

# --8<-- [start:detection_model]
from torchvision.models import detection

from tutorials.lec23_computer_vision.vision_helpers import draw_scene

scene, target = draw_scene(seed=0)  # uint8 (3, 64, 64); boxes, labels, masks we drew
torch.manual_seed(0)
detector = detection.fasterrcnn_mobilenet_v3_large_320_fpn(
    weights=None, weights_backbone=None, num_classes=3,  # background + rectangle + ellipse
    min_size=64, max_size=64)  # the model resizes inputs: keep our tiny image tiny
images = [scene.float() / 255]  # a list of (3, H, W) images in [0, 1], any sizes
targets = [{"boxes": target["boxes"], "labels": target["labels"]}]
detector.train()
losses = detector(images, targets)  # train mode: a dict of losses to sum and backward
print({name: tuple(v.shape) for name, v in losses.items()})
detector.eval()
with torch.no_grad():
    prediction = detector(images)[0]  # eval mode: one dict per image
print({name: v.dtype for name, v in prediction.items()})
# --8<-- [end:detection_model]

# --8<-- [start:segmentation_model]
from torchvision.models import segmentation

segmenter = segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                      num_classes=3).eval()
with torch.no_grad():
    out = segmenter(scene.float()[None] / 255)  # a batch tensor (N, 3, H, W)
print({name: tuple(v.shape) for name, v in out.items()}, "-> per-pixel class:",
      tuple(out["out"].argmax(1).shape))
semantic = torch.zeros(64, 64, dtype=torch.int64)  # the target: a class index per pixel
for mask, lab in zip(target["masks"], target["labels"]):
    semantic[mask.bool()] = lab
print("pixels per class in the target:", semantic.flatten().bincount(minlength=3).tolist())
# --8<-- [end:segmentation_model]

# --8<-- [start:tv_tensors]
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes

boxes = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=(64, 64))
masks = tv_tensors.Mask(target["masks"])
flip_pad = v2.Compose([v2.RandomHorizontalFlip(p=1.0), v2.Pad(8)])
img2, boxes2, masks2 = flip_pad(tv_tensors.Image(scene), boxes, masks)
print(tuple(img2.shape), boxes2.canvas_size, boxes.tolist()[0], "->", boxes2.tolist()[0])
# masks_to_boxes gives the last pixel inside, a box the first pixel outside: + 1
from_masks = masks_to_boxes(masks2) + torch.tensor([0, 0, 1, 1])
print("boxes moved with the masks:", torch.equal(from_masks, boxes2.as_subclass(torch.Tensor)))
# --8<-- [end:tv_tensors]

# --8<-- [start:iou_nms]
from torchvision.ops import box_iou, nms


def iou_by_hand(a, b):
    """IoU of two XYXY boxes: intersection area / union area."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


dets = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 5, 5]])
scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
print("IoU(0, 1) by hand:", round(iou_by_hand(dets[0].tolist(), dets[1].tolist()), 4), "= 81/119")
table = box_iou(dets, dets)
print("box_iou agrees:", all(abs(iou_by_hand(a.tolist(), b.tolist()) - table[i, j].item()) < 1e-6
                              for (i, a), (j, b) in itertools.product(enumerate(dets), repeat=2)))
print("nms(0.5) keeps", nms(dets, scores, 0.5).tolist(), "| nms(0.7) keeps", nms(dets, scores, 0.7).tolist())
# --8<-- [end:iou_nms]

# --8<-- [start:average_precision]
gt = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
found = torch.tensor([[1.0, 0, 10, 10], [0, 0, 9, 10], [20, 21, 30, 30], [60, 60, 70, 70], [40, 40, 50, 49]])
conf = torch.tensor([0.95, 0.9, 0.8, 0.7, 0.6])
order = conf.argsort(descending=True)
matched, hits = set(), []
for i in order.tolist():  # greedy, most confident first: a true positive takes its object
    ious = box_iou(found[i:i + 1], gt)[0]
    j = int(ious.argmax())
    hit = ious[j] >= 0.5 and j not in matched
    matched |= {j} if hit else set()
    hits.append(bool(hit))
print("true positives in score order:", hits)
tp = list(itertools.accumulate(hits))
precision = [Fraction(t, k + 1) for k, t in enumerate(tp)]
recall = [Fraction(t, len(gt)) for t in tp]
ap, previous_recall = Fraction(0), Fraction(0)
for k in range(len(hits)):  # all-point interpolation: area under the precision envelope
    if recall[k] > previous_recall:
        ap += (recall[k] - previous_recall) * max(precision[k:])
        previous_recall = recall[k]
print("AP@0.5 =", ap, "=", round(float(ap), 4))
# --8<-- [end:average_precision]

# --8<-- [start:draw_boxes]
from torchvision.utils import draw_bounding_boxes

noisy = torch.cat([target["boxes"], target["boxes"] + torch.tensor([2.0, 1, 3, 2])])
noisy_scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.85, 0.5])
kept = nms(noisy, noisy_scores, iou_threshold=0.5)
big = F.interpolate(scene[None].float(), scale_factor=4, mode="nearest")[0].to(torch.uint8)
panels = [
    draw_bounding_boxes(big, target["boxes"] * 4, colors="lime", width=2,
                        labels=["rectangle" if c == 1 else "ellipse" for c in target["labels"]]),
    draw_bounding_boxes(big, noisy * 4, colors="red", width=1),
    draw_bounding_boxes(big, noisy[kept] * 4, colors="red", width=2,
                        labels=[f"{s:.2f}" for s in noisy_scores[kept].tolist()]),
]
save_image_grid([panels], OUT / "detections.png", cell=2.6,
                col_titles=["ground truth", f"{len(noisy)} detections", f"after NMS: {len(kept)}"])
print("kept", kept.tolist(), f"-> wrote {OUT / 'detections.png'}")
# --8<-- [end:draw_boxes]

# --8<-- [start:weighted_sampler]
from torch.utils.data import WeightedRandomSampler

labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)  # a 90 / 9 / 1 imbalance
counts = labels.bincount()
weights_per_sample = 1.0 / counts[labels].double()  # each class gets equal total weight
sampler = WeightedRandomSampler(weights_per_sample, num_samples=3000, replacement=True,
                                generator=torch.Generator().manual_seed(0))
drawn = labels[list(sampler)].bincount()
print("class counts in the data:", counts.tolist(), "| in 3000 draws:", drawn.tolist())
# --8<-- [end:weighted_sampler]

# --8<-- [start:video]
from torchvision.models.video import r3d_18

clip = torch.randn(1, 3, 8, 32, 32)  # (N, C, T, H, W): 8 frames of 32x32
conv3d = nn.Conv3d(3, 16, kernel_size=(3, 3, 3), stride=(1, 2, 2), padding=1)
print("Conv3d:", tuple(conv3d(clip).shape), "weights", tuple(conv3d.weight.shape))
video_net = r3d_18(weights=None).eval()  # R3D-18, Kinetics-400's 400 classes
with torch.no_grad():
    print("r3d_18:", tuple(video_net(clip[:, :, :4]).shape),
          f"{sum(p.numel() for p in video_net.parameters()):,} parameters")
# --8<-- [end:video]

# --8<-- [start:style_setup]
from PIL import Image
from sklearn.datasets import load_sample_image

from tutorials.lec23_computer_vision.backbone import DIGITS_MEAN, DIGITS_STD


def photo(name, size=(64, 48)):
    """A sample photo, downscaled, as a float (3, H, W) tensor in [0, 1]."""
    pil = Image.fromarray(load_sample_image(name)).resize(size, Image.BILINEAR)
    return v2.functional.to_dtype(v2.functional.to_image(pil), torch.float32, scale=True)


content, style = photo("china.jpg"), photo("flower.jpg")
cnn = load_backbone(checkpoint).eval()  # the course's backbone, pretrained on digits 0-4
for p in cnn.parameters():
    p.requires_grad_(False)
stages = [2, 6, 10]  # the ReLU of each conv-BN-ReLU-pool stage


def features(img):
    """Activations after each stage; the 1-channel CNN sees R, G and B as a batch of 3."""
    h, acts = (img[:, None] - DIGITS_MEAN) / DIGITS_STD, []
    for i, layer in enumerate(cnn.features):
        h = layer(h)
        if i in stages:
            acts.append(h)
    return acts


def gram(f):
    """Channel-by-channel correlations of (N, C, H, W) features, normalised: (N, C, C)."""
    n, c, hh, ww = f.shape
    flat = f.reshape(n, c, hh * ww)
    return flat @ flat.transpose(1, 2) / (c * hh * ww)


print([tuple(a.shape) for a in features(content)], "gram", tuple(gram(features(style)[0]).shape))
# --8<-- [end:style_setup]

# --8<-- [start:style_optimise]
content_target = [a.detach() for a in features(content)]
style_target = [gram(a).detach() for a in features(style)]


def style_losses(img):
    acts = features(img)
    content_loss = F.mse_loss(acts[1], content_target[1])
    style_loss = sum(F.mse_loss(gram(a), g) for a, g in zip(acts, style_target))
    return content_loss, style_loss


result = content.clone().requires_grad_(True)  # start from the content photo
opt = torch.optim.Adam([result], lr=0.02)
before = style_losses(result)
for _step in range(60):
    c_loss, s_loss = style_losses(result)
    loss = c_loss + 1e3 * s_loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        result.clamp_(0, 1)
after = style_losses(result)
print(f"style loss {before[1].item():.2e} -> {after[1].item():.2e}, "
      f"content loss {before[0].item():.3f} -> {after[0].item():.3f}")
save_image_grid([[content, style, result.detach()]], OUT / "style-transfer.png", cell=2.2,
                col_titles=["content", "style", "60 steps"])
print(f"wrote {OUT / 'style-transfer.png'}")
# --8<-- [end:style_optimise]


# --8<-- [start:dcgan_models]
class Generator(nn.Module):
    """z (N, nz, 1, 1) -> (N, 1, 16, 16) in [-1, 1]: transposed convs, BN, ReLU, tanh."""

    def __init__(self, nz=32, width=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 2 * width, 4, 1, 0, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())  # 1 -> 4 -> 8 -> 16

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    """(N, 1, 16, 16) -> one logit each: strided convs, LeakyReLU, no BN on the input layer."""

    def __init__(self, width=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),  # 16 -> 8
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2),  # 8 -> 4
            nn.Conv2d(2 * width, 1, 4, 1, 0))  # 4 -> 1

    def forward(self, x):
        return self.net(x).flatten()


def dcgan_init(m):
    """DCGAN's initialisation: weights N(0, 0.02) (the paper); BN scale N(1, 0.02), shift 0 (its code)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


torch.manual_seed(0)
G, D = Generator(), Discriminator()
G.apply(dcgan_init)
D.apply(dcgan_init)
z_fixed = torch.randn(8, 32, 1, 1)  # the same noise after every epoch
print("G:", tuple(G(z_fixed).shape), "D:", tuple(D(G(z_fixed)).shape))
# --8<-- [end:dcgan_models]

# --8<-- [start:dcgan_train]
real_images = digits_images(size=16)[0] * DIGITS_STD + DIGITS_MEAN  # back to [0, 1]
real_images = real_images * 2 - 1  # [-1, 1], the range of tanh
gan_loader = DataLoader(real_images, batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()
samples, gan_curve = [], []
for _epoch in range(3):
    for real in gan_loader:
        n = len(real)
        fake = G(torch.randn(n, 32, 1, 1))
        # D: real -> 1, fake -> 0 (fake detached: this step does not train G)
        d_loss = bce(D(real), torch.ones(n)) + bce(D(fake.detach()), torch.zeros(n))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # G: make D say 1 on fakes (the non-saturating loss)
        g_loss = bce(D(fake), torch.ones(n))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        gan_curve.append((d_loss.item(), g_loss.item()))
    G.eval()
    with torch.no_grad():
        samples.append([(s + 1) / 2 for s in G(z_fixed)])
    G.train()
save_image_grid(samples, OUT / "gan-samples.png", cell=0.8,
                row_titles=[f"epoch {e + 1}" for e in range(len(samples))])
print(f"{len(gan_curve)} steps; wrote {OUT / 'gan-samples.png'}")
# --8<-- [end:dcgan_train]

# --8<-- [start:curves]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 2.8))
ax1.plot(range(1, len(head_curve) + 1), [acc for _, acc in head_curve], "o-")
ax1.set(xlabel="epoch", ylabel="validation accuracy", title="transfer: new head on digits 5-9")
ax2.plot([d for d, _ in gan_curve], label="discriminator")
ax2.plot([g for _, g in gan_curve], label="generator")
ax2.set(xlabel="step", ylabel="loss", title="DCGAN on digits")
ax2.legend()
fig.tight_layout()
fig.savefig(OUT / "training-curves.png", dpi=80)
plt.close(fig)
print(f"wrote {OUT / 'training-curves.png'}")
# --8<-- [end:curves]

# --8<-- [start:mistake_flatten]
wrong = nn.Sequential(*list(lenet)[:7], nn.Linear(16 * 4 * 4, 120))  # 4x4: a wrong guess
try:
    wrong(torch.zeros(1, 1, 28, 28))
except RuntimeError as err:
    print(err)
# --8<-- [end:mistake_flatten]

# --8<-- [start:mistake_eval]
probe_model = load_backbone(checkpoint)  # has BatchNorm layers
one = digits_images(size=16)[0][:8]
probe_model.train()  # forgot .eval(): BN normalises with the batch's statistics
print("train mode: image 0 gets the same logits alone and in a batch of 8:",
      torch.allclose(probe_model(one[:1]), probe_model(one)[:1], atol=1e-3))
probe_model.eval()
print("eval mode: the same logits either way:",
      torch.allclose(probe_model(one[:1]), probe_model(one)[:1], atol=1e-5))
# --8<-- [end:mistake_eval]

# --8<-- [start:mistake_xywh]
from torchvision.ops import box_convert

a_xywh = torch.tensor([[10.0, 10, 20, 20]])  # x, y, width, height (COCO's json format)
b_xyxy = torch.tensor([[10.0, 10, 30, 30]])  # the same square as corners
print("read as XYXY by mistake:", round(box_iou(a_xywh, b_xyxy).item(), 2))
print("converted first:", box_iou(box_convert(a_xywh, "xywh", "xyxy"), b_xyxy).item())
# --8<-- [end:mistake_xywh]

# --8<-- [start:mistake_frozen_bn]
frozen = load_backbone(checkpoint)
for p in frozen.features.parameters():
    p.requires_grad_(False)
before_stats = frozen.features[1].running_mean.clone()
frozen.train()  # requires_grad=False does not stop BN from updating its running statistics
frozen(one)
print("running stats changed in train mode:", not torch.equal(before_stats, frozen.features[1].running_mean))
frozen.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
frozen.train()
frozen.features.eval()  # the fix: keep the frozen part in eval mode
frozen(one)
print("... with features.eval():", not torch.equal(before_stats, frozen.features[1].running_mean))
# --8<-- [end:mistake_frozen_bn]
