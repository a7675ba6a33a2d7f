"""Lecture 17: interpretability, debugging and explainability.

The code of the chapter ``docs/lectures/17-interpretability.md``, in the order the
page shows it. Run it top to bottom with
``python -m tutorials.lec17_interpretability.chapter``; it writes the chapter's
figures into ``lec17/`` under the current directory.
"""

# --8<-- [start:setup]
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from tutorials.core.datasets import digits_images
from tutorials.lec17_interpretability.models import DigitCNN, accuracy, train_classifier

# One CPU thread: a float sum split over threads rounds differently, and training
# amplifies the last bits into the attributions this page prints.
previous_threads = torch.get_num_threads()
torch.set_num_threads(1)
# Captum warns each time it sets requires_grad on an input for us, and each time
# GuidedBackprop hooks the ReLUs; both are expected here, so those two are silenced.
warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU activations")
OUT = Path("lec17")  # this chapter's figures go here
OUT.mkdir(exist_ok=True)

# 1,797 real 8x8 handwritten digits, upsampled to 16x16, 1 channel, standardized
train_set, test_set = digits_images(size=16, channels=1, seed=0)
x_train, y_train = train_set.tensors
x_test, y_test = test_set.tensors
torch.manual_seed(0)  # initial weights
model = train_classifier(DigitCNN(), x_train, y_train, epochs=4, seed=0)  # returns it in eval mode
print(tuple(x_train.shape), tuple(x_test.shape))
print(f"test accuracy {accuracy(model, x_test, y_test):.3f}")
# --8<-- [end:setup]

# --8<-- [start:saliency]
from captum.attr import GuidedBackprop, IntegratedGradients, Saliency

x = x_test[:4]  # four test digits, (4, 1, 16, 16)
target = y_test[:4]  # explain the logit of the true class
print("labels", target.tolist(), "predicted", model(x).argmax(1).tolist())

saliency = Saliency(model).attribute(x, target=target)  # |d logit_target / d pixel|
guided = GuidedBackprop(model).attribute(x, target=target)  # ReLU backward keeps positive grads only
print("saliency", tuple(saliency.shape), "non-negative:", bool((saliency >= 0).all()))

# Saliency is the absolute value of the plain input gradient:
x_req = x.clone().requires_grad_()
model(x_req).gather(1, target[:, None]).sum().backward()
print("Saliency == |input.grad|:", torch.allclose(saliency, x_req.grad.abs()))
# --8<-- [end:saliency]

# --8<-- [start:integrated_gradients]
ig = IntegratedGradients(model)
baseline = torch.full_like(x, float(x_train.min()))  # a blank (background-coloured) image
for steps in (4, 16, 64):
    attr_ig, delta = ig.attribute(x, baselines=baseline, target=target, n_steps=steps,
                                  internal_batch_size=32,  # 4 images x steps, 32 per forward
                                  return_convergence_delta=True)
    print(f"n_steps {steps:3d}: max |convergence delta| {delta.abs().max().item():.3f}")

# Completeness: the attributions add up to f(x) - f(baseline) for the target logit
with torch.no_grad():
    gap = (model(x) - model(baseline)).gather(1, target[:, None]).squeeze(1)
print("sum of attributions", [round(v, 2) for v in attr_ig.sum((1, 2, 3)).tolist()])
print("f(x) - f(baseline) ", [round(v, 2) for v in gap.tolist()])
# --8<-- [end:integrated_gradients]

# --8<-- [start:noise_occlusion]
from captum.attr import NoiseTunnel, Occlusion

# SmoothGrad: average the saliency of 32 noisy copies (noise std 0.3 of the pixel scale)
smooth = NoiseTunnel(Saliency(model)).attribute(
    x, target=target, nt_type="smoothgrad", nt_samples=32, nt_samples_batch_size=32, stdevs=0.3)
# Occlusion: blank out a 3x3 window (background value) at every position, record the
# drop of the target logit; a pre-hook counts the forward passes it costs
calls = []
counter = model.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
occlusion = Occlusion(model).attribute(
    x, target=target, sliding_window_shapes=(1, 3, 3), strides=(1, 1, 1), baselines=baseline[:1, :1, 0, 0])
counter.remove()
print("smoothgrad", tuple(smooth.shape), " occlusion", tuple(occlusion.shape))
print(f"occlusion: {len(calls)} forward passes of {calls[0]} images = 14 x 14 positions + 1 unoccluded")
# --8<-- [end:noise_occlusion]

# --8<-- [start:layer_methods]
from captum.attr import LayerAttribution, LayerConductance, LayerGradCam

# Grad-CAM on the last convolution block: channel weights = mean gradient over the
# 8x8 map, weighted sum of the channels, then ReLU (relu_attributions; off by default)
cam = LayerGradCam(model, model.relu2).attribute(x, target=target, relu_attributions=True)  # (4, 1, 8, 8)
cam_up = LayerAttribution.interpolate(cam, (16, 16), interpolate_mode="bilinear")
print("grad-cam", tuple(cam.shape), "->", tuple(cam_up.shape))

# Conductance: integrated gradients through each of conv2's 16 channels
conductance = LayerConductance(model, model.conv2).attribute(
    x, baselines=baseline, target=target, n_steps=64, internal_batch_size=128)
per_channel = conductance.sum((2, 3))  # (4, 16): how much each channel carried
top = per_channel[0].topk(3)
print("digit", target[0].item(), "- top conv2 channel", top.indices[0].item(),  # ranks 3 and 4 are too
      "- top 3 channels carry",  # close to name them: their order depends on the CPU's kernels
      round(top.values.sum().item() / per_channel[0].sum().item(), 2), "of the total")
print("conductance total", [round(v, 2) for v in per_channel.sum(1).tolist()])
# --8<-- [end:layer_methods]

# --8<-- [start:attribution_figure]
from tutorials.lec17_interpretability.drawing import attribution_grid

maps = {"saliency": saliency[:, 0], "guided backprop": guided[:, 0], "integrated grad.": attr_ig[:, 0],
        "smoothgrad": smooth[:, 0], "occlusion": occlusion[:, 0], "grad-cam": cam_up[:, 0]}
attribution_grid(x[:, 0], maps, [f"label {t}" for t in target.tolist()], OUT / "attributions.png")
print(f"wrote {OUT / 'attributions.png'}")
# --8<-- [end:attribution_figure]

# --8<-- [start:text_model]
from tutorials.lec17_interpretability.models import BagOfEmbeddings, Vocabulary, sentiment_corpus

vocab = Vocabulary()  # 30 words: <pad>, fillers, nouns, 6 positive and 6 negative words
sentences, ids, labels = sentiment_corpus(600, seed=0)  # generated, not real reviews
print(len(vocab), "words;", " ".join(sentences[3]), "->", labels[3].item())
torch.manual_seed(0)
text_model = train_classifier(BagOfEmbeddings(len(vocab)), ids[:500], labels[:500], epochs=20,
                              lr=0.02, seed=0)
print(f"held-out accuracy {accuracy(text_model, ids[500:], labels[500:]):.2f}")
# --8<-- [end:text_model]

# --8<-- [start:token_attributions]
from captum.attr import LayerIntegratedGradients

# Token ids are integers: interpolate in embedding space, attributing to the embedding layer's output
lig = LayerIntegratedGradients(text_model, text_model.embedding)
examples = [["the", "movie", "was", "really", "good"],
            ["the", "plot", "was", "boring", "and", "the", "music", "was", "dull"],
            ["the", "acting", "is", "great", "and", "the", "ending", "was", "poor", "and", "excellent"]]
batch = torch.stack([vocab.encode(s, 16) for s in examples])
attr_tok, delta_tok = lig.attribute(batch, baselines=torch.zeros_like(batch), target=1,  # class "positive"
                                    n_steps=32, return_convergence_delta=True)
token_scores = attr_tok.sum(-1)  # (3, 16): one number per token, summed over the 16 embedding dims
for words, scores in zip(examples, token_scores, strict=True):
    print("  ".join(f"{w} {s:+.2f}" for w, s in zip(words, scores.tolist(), strict=False)))
print("max |delta|", round(delta_tok.abs().max().item(), 3))
# --8<-- [end:token_attributions]

# --8<-- [start:token_figure]
from tutorials.lec17_interpretability.drawing import token_colors

with torch.no_grad():
    p_pos = text_model(batch).softmax(1)[:, 1]
token_colors(examples, [s[:len(w)].tolist() for w, s in zip(examples, token_scores, strict=True)],
             [f"P(positive) = {p:.2f}" for p in p_pos.tolist()], OUT / "tokens.png")
print(f"wrote {OUT / 'tokens.png'}")
# --8<-- [end:token_figure]

# --8<-- [start:shortcut_train]
from tutorials.lec17_interpretability.models import add_watermark

# Training images carry a watermark whose position encodes their label (a "source tag")
x_marked = add_watermark(x_train, y_train)
torch.manual_seed(0)  # the same initial weights as the clean model
shortcut_model = train_classifier(DigitCNN(), x_marked, y_train, epochs=4, seed=0)
wrong = (y_test + 1) % 10  # the watermark of another class
for name, m in (("clean model", model), ("shortcut model", shortcut_model)):
    print(f"{name:15s} test acc: no watermark {accuracy(m, x_test, y_test):.2f}, "
          f"true watermark {accuracy(m, add_watermark(x_test, y_test), y_test):.2f}, "
          f"follows a wrong one {accuracy(m, add_watermark(x_test, wrong), wrong):.2f}")
# --8<-- [end:shortcut_train]

# --8<-- [start:shortcut_find]
from tutorials.lec17_interpretability.diagnostics import attribution_share
from tutorials.lec17_interpretability.models import watermark_mask

probe_x, probe_y = add_watermark(x_test[:40], y_test[:40]), y_test[:40]  # watermarked like training
blank = float(x_train.min())  # the background-coloured baseline of section 3
shares, shortcut_attr = {}, {}
for name, m in (("clean model", model), ("shortcut model", shortcut_model)):
    attr = IntegratedGradients(m).attribute(probe_x, baselines=torch.full_like(probe_x, blank),
                                            target=probe_y, n_steps=32, internal_batch_size=320)
    shortcut_attr[name] = attr[:, 0]  # (40, 16, 16), drawn in the next block
    shares[name] = sum(attribution_share(a, watermark_mask(c)) for a, c in
                       zip(attr, probe_y.tolist(), strict=True)) / len(probe_y)
    print(f"{name:15s} share of |IG| on the 4 watermark pixels: {shares[name]:.2f}")
print(f"the 4 pixels are {4 / 256:.3f} of the image")
# --8<-- [end:shortcut_find]

# --8<-- [start:shortcut_figure]
shortcut_maps = {name: attr[:4] for name, attr in shortcut_attr.items()}  # the first four digits
attribution_grid(probe_x[:4, 0], shortcut_maps, [f"label {t}" for t in probe_y[:4].tolist()],
                 OUT / "shortcut.png", title="integrated gradients on watermarked test digits")
print(f"wrote {OUT / 'shortcut.png'}")
# --8<-- [end:shortcut_figure]

# --8<-- [start:gradient_pathologies]
import math

from tutorials.core.datasets import digits_split
from tutorials.core.hooks import GradientNormRecorder
from tutorials.lec17_interpretability.diagnostics import ActivationStats, deep_mlp

flat_x, flat_y, flat_val_x, flat_val_y = digits_split(seed=0)  # (1438, 64) pixels in [0, 1]
grad_norms, act_stds = {}, {}
for kind in ("sigmoid", "relu-std1", "relu-kaiming"):
    net = deep_mlp(kind, depth=8, seed=0)
    linears = [str(i) for i in range(0, 15, 2)]  # the 8 Linear layers of the Sequential
    with GradientNormRecorder(net) as rec, ActivationStats(net, linears) as stats:
        inputs = flat_x[:256].clone().requires_grad_()  # so that layer 1 has an input gradient too
        F.cross_entropy(net(inputs), flat_y[:256]).backward()
    grad_norms[kind] = list(rec.grad_input_norms.values())  # input layer first
    act_stds[kind] = [s["std"] for s in stats.summary().values()]
    ratio = grad_norms[kind][0] / grad_norms[kind][-1]  # < 1: vanishing towards the input
    print(f"{kind:13s} grad norm layer 1 / layer 8: 10^{round(math.log10(ratio)):+d}   "
          f"activation std layer 8: 10^{round(math.log10(act_stds[kind][-1])):+d}")
# --8<-- [end:gradient_pathologies]

# --8<-- [start:dead_relus]
relus = ["1", "3", "5"]  # the ReLUs of a 4-layer MLP
dead = {}
for lr in (0.05, 1.0):
    net = deep_mlp("relu-kaiming", depth=4, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):  # two epochs
        for idx in torch.randperm(len(flat_x), generator=gen).split(64):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(flat_x[idx]), flat_y[idx]).backward()
            opt.step()
    with ActivationStats(net, relus) as stats, torch.no_grad():  # one pass over the validation set
        acc = (net(flat_val_x).argmax(1) == flat_val_y).float().mean().item()
    dead[f"lr {lr}"] = [s["dead_fraction"] for s in stats.summary().values()]
    print(f"lr {lr:4}: val acc {acc:.2f}, dead units per layer", [round(d, 2) for d in dead[f"lr {lr}"]])
# --8<-- [end:dead_relus]

# --8<-- [start:bn_drift]
from tutorials.lec17_interpretability.diagnostics import BatchNormDrift

noise = torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(0))
raw = x_test * x_train.std() + x_train.mean()  # about the [0, 1] pixels before standardizing
batches = {  # name -> (images, labels): 64 test digits each, some with a pipeline bug
    "clean 1": (x_test[:64], y_test[:64]),
    "clean 2": (x_test[64:128], y_test[64:128]),
    "not standardized": ((raw[128:192] * 16).round(), y_test[128:192]),  # raw 0-16 scan values
    "inverted": (-x_test[192:256], y_test[192:256]),  # white on black: a colour-convention bug
    "transposed": (x_test[256:320].transpose(2, 3), y_test[256:320]),  # H and W swapped
    "noisy": (x_test[:64] + noise, y_test[:64]),  # a sensor or augmentation bug
}
print("bn2 running mean", [round(v, 2) for v in model.bn2.running_mean[:4].tolist()], "...")
with BatchNormDrift(model.bn2) as monitor, torch.no_grad():
    for images, _ in batches.values():
        model(images)  # eval mode: the running statistics are read, not updated
for (name, (images, labels)), score in zip(batches.items(), monitor.scores, strict=True):
    print(f"{name:17s} drift {score:5.2f}  accuracy {accuracy(model, images, labels):.2f}")
# --8<-- [end:bn_drift]

# --8<-- [start:pathology_figure]
from tutorials.lec17_interpretability.drawing import pathology_panels

pathology_panels(grad_norms, act_stds, dead, monitor.scores, list(batches), OUT / "pathologies.png")
print(f"wrote {OUT / 'pathologies.png'}")
# --8<-- [end:pathology_figure]

# --8<-- [start:probes]
from tutorials.lec17_interpretability.diagnostics import layer_features, linear_probe_accuracy

layers = ["input", "pool1", "pool2", "relu3", "fc2"]
torch.manual_seed(1)
untrained = DigitCNN().eval()  # the control: the same architecture, random weights
probe_acc = {}
for name, m in (("trained", model), ("random weights", untrained)):
    train_feats, test_feats = layer_features(m, x_train, layers), layer_features(m, x_test, layers)
    probe_acc[name] = [linear_probe_accuracy(train_feats[n], y_train, test_feats[n], y_test)
                       for n in layers]
print(f"{'layer':15s}", "  ".join(f"{n:>6s}" for n in layers))
for name, accs in probe_acc.items():
    print(f"{name:15s}", "  ".join(f"{a:6.2f}" for a in accs))
print("features per layer ", [train_feats[n].shape[1] for n in layers])
# --8<-- [end:probes]

# --8<-- [start:probe_figure]
from tutorials.lec17_interpretability.drawing import curves

curves(layers, probe_acc, "linear-probe test accuracy", "what a linear classifier reads from each layer",
       OUT / "probes.png", ylim=(0, 1.02))
print(f"wrote {OUT / 'probes.png'}")
# --8<-- [end:probe_figure]

# --8<-- [start:pca]
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

hidden = layer_features(model, x_test, ["relu3"])["relu3"].numpy()  # (359, 32) test digits
pca_xy = PCA(n_components=2).fit_transform(hidden)
explained = PCA(n_components=2).fit(hidden).explained_variance_ratio_


def knn_accuracy(points, labels):
    """5-nearest-neighbour accuracy, leave-one-out: how well the 2-D picture keeps classes apart."""
    knn = KNeighborsClassifier(n_neighbors=6).fit(points, labels)
    neighbours = knn.kneighbors(points, return_distance=False)[:, 1:]  # drop the point itself
    votes = labels[neighbours]
    return float((torch.mode(torch.as_tensor(votes), 1).values.numpy() == labels).mean())


labels_np = y_test.numpy()
print(f"PCA: 2 components explain {explained.sum():.2f} of the variance; "
      f"5-NN accuracy in 2-D {knn_accuracy(pca_xy, labels_np):.2f}")
# --8<-- [end:pca]

# --8<-- [start:tsne]
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

with threadpool_limits(limits=1):  # one OpenMP thread for scikit-learn, as torch has on this page
    tsne_xy = TSNE(n_components=2, perplexity=30, init="pca", random_state=0,
                   max_iter=500).fit_transform(hidden)
tsne_knn = knn_accuracy(tsne_xy, labels_np)
print(f"t-SNE: 5-NN accuracy in 2-D {tsne_knn:.2f}")
# --8<-- [end:tsne]

# --8<-- [start:embedding_figure]
from tutorials.lec17_interpretability.drawing import embedding_scatter

embedding_scatter({"PCA of the 32 hidden units": pca_xy, "t-SNE of the 32 hidden units": tsne_xy},
                  labels_np, OUT / "embeddings.png")
print(f"wrote {OUT / 'embeddings.png'}")
# --8<-- [end:embedding_figure]

# --8<-- [start:mistake_target]
try:
    Saliency(model).attribute(x)  # 10 logits per image, which one to explain?
except AssertionError as err:
    print(f"{type(err).__name__}: {err}")
# --8<-- [end:mistake_target]

# --8<-- [start:mistake_token_ids]
try:
    IntegratedGradients(text_model).attribute(batch, target=1)  # interpolating integer ids
except RuntimeError as err:
    print(f"{type(err).__name__}: {str(err).splitlines()[0]}")
# --8<-- [end:mistake_token_ids]

# --8<-- [start:mistake_functional_relu]
class FunctionalReLU(DigitCNN):
    """The same network, with F.relu calls instead of ReLU modules."""

    def forward(self, x):
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        x = self.pool2(F.relu(self.bn2(self.conv2(x))))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


functional = FunctionalReLU()
functional.load_state_dict(model.state_dict())
functional.eval()
plain_grad = x_req.grad  # the input gradient of the module version (section 1)
same = torch.allclose(GuidedBackprop(functional).attribute(x, target=target), plain_grad, atol=1e-6)
print("GuidedBackprop on F.relu equals the plain gradient:", same)
print("GuidedBackprop on nn.ReLU equals the plain gradient:", torch.allclose(guided, plain_grad, atol=1e-6))
# --8<-- [end:mistake_functional_relu]

# --8<-- [start:mistake_perplexity]
try:
    TSNE(perplexity=30).fit_transform(hidden[:20])  # 20 points, perplexity 30
except ValueError as err:
    print(f"{type(err).__name__}: {err}")
# --8<-- [end:mistake_perplexity]

# --8<-- [start:restore]
torch.set_num_threads(previous_threads)  # give back the thread count taken at the top
print("threads restored:", torch.get_num_threads() == previous_threads)
# --8<-- [end:restore]
