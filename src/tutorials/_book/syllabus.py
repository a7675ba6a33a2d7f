"""The 28-lecture syllabus the chapters follow (titles from the course's syllabus seed).

The home page's table is generated from :data:`LECTURES`: a lecture whose chapter
file ``docs/lectures/NN-*.md`` exists is linked, the others are listed as plain text.

Examples:
    >>> LECTURES[2].title
    'Autograd engine, in-place ops and gradient mechanics'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LECTURES", "Lecture"]


@dataclass(frozen=True)
class Lecture:
    """One lecture of the syllabus.

    Attributes:
        number: 1 to 28; the chapter file is ``docs/lectures/{number:02d}-<slug>.md``.
        title: the lecture's title.
        part: the part of the course it belongs to.
        topics: a one-line summary of what it covers.
    """

    number: int
    title: str
    part: str
    topics: str


_P1, _P2, _P3 = "I · Foundations", "II · Graphs & extensions", "III · Training at scale"
_P4, _P5, _P6 = "IV · Deployment & MLOps", "V · Domains", "VI · Mastery"

LECTURES: tuple[Lecture, ...] = (
    Lecture(1, "Philosophy & the big picture", _P1, "define-by-run, eager vs compiled, the layers of PyTorch"),
    Lecture(2, "Tensors: memory format, strides & channels-last", _P1, "views, strides, contiguity, broadcasting, pinned memory"),
    Lecture(3, "Autograd engine, in-place ops and gradient mechanics", _P1, "the graph, leaves, hooks, in-place errors, forward-mode AD"),
    Lecture(4, "C++ internals & operator dispatch", _P1, "ATen, c10, dispatch keys, torch.library ops"),
    Lecture(5, "nn.Module from scratch", _P1, "parameters, buffers, state_dict, init, ResNet blocks"),
    Lecture(6, "Data pipelines & the domain libraries", _P1, "Dataset, Sampler, DataLoader workers, augmentation"),
    Lecture(7, "Profiling & performance tuning", _P1, "torch.profiler, traces, sync points, mixed precision"),
    Lecture(8, "Production graphs: TorchScript to torch.export", _P2, "export, dynamic shapes, AOTInductor"),
    Lecture(9, "Custom operators & CUDA extensions", _P2, "custom_op, C++ extensions, Triton kernels"),
    Lecture(10, "FX: rewriting computation graphs", _P2, "tracing, graph passes, conv+BN folding"),
    Lecture(11, "Advanced frontends: torch.func & the C++ API", _P2, "jvp, vjp, vmap, libtorch"),
    Lecture(12, "Model optimization, hyperparameter search & best practices", _P3, "training loop, schedules, checkpointing, Ax"),
    Lecture(13, "Parallel & distributed training", _P3, "process groups, collectives, DDP, torchrun"),
    Lecture(14, "FSDP, pipeline parallelism & large-scale systems", _P3, "sharding, pipeline schedules"),
    Lecture(15, "Edge deployment with ExecuTorch", _P4, "export to .pte, on-device inference"),
    Lecture(16, "ONNX & production inference", _P4, "dynamo export, ONNX Runtime parity and speed"),
    Lecture(17, "Interpretability & debugging", _P4, "Captum attributions, training pathologies"),
    Lecture(18, "Pipeline orchestration & MLOps", _P4, "pipelines, experiment tracking, registries"),
    Lecture(19, "Multimodal models", _P5, "image-text contrastive learning, fusion"),
    Lecture(20, "Audio with torchaudio", _P5, "transforms, features, an audio classifier"),
    Lecture(21, "Natural language processing", _P5, "tokenization, batching, LSTM and transformer classifiers"),
    Lecture(22, "Transformers & attention from first principles", _P5, "attention, masks, positions, ViT"),
    Lecture(23, "Advanced computer vision", _P5, "transfer learning, detection, segmentation"),
    Lecture(24, "Recommendation systems with TorchRec", _P5, "embedding tables, jagged tensors, DLRM"),
    Lecture(25, "Reinforcement learning with TorchRL", _P5, "environments, collectors, PPO and DQN"),
    Lecture(26, "Large-scale debugging & HPC practice", _P6, "NaN hunting, OOMs, memory snapshots, hangs"),
    Lecture(27, "Contributing to PyTorch & compilers", _P6, "the repo, tests, torch.compile internals"),
    Lecture(28, "Final projects", _P6, "six capstones with rubrics and self-checks"),
)
