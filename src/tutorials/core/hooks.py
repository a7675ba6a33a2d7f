"""Module hooks that record what flows through a network.

Introduced in Lecture 3; also used by Lectures 5, 17.

:class:`GradientNormRecorder` attaches a full backward hook to every layer with
parameters and records the norm of the gradient leaving the layer towards its input
(``grad_input``) and the norm of each parameter's gradient after backward. It is
the tool for spotting vanishing or exploding gradients layer by layer.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
    >>> with GradientNormRecorder(net) as rec:
    ...     net(torch.randn(8, 4)).sum().backward()
    >>> sorted(rec.grad_input_norms)
    ['0', '2']
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["GradientNormRecorder"]


class GradientNormRecorder:
    """Record per-layer gradient norms with ``register_full_backward_hook``.

    Use as a context manager: hooks are removed on exit, so they never leak into
    later code (a common mistake with hooks).

    Args:
        model: the network; every submodule that owns parameters directly is hooked.

    Attributes:
        layer_names: names of the hooked layers, in the model's (forward) order.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layer_names: list[str] = []
        self._norms: dict[str, float] = {}
        self._handles: list = []

    def __enter__(self) -> GradientNormRecorder:
        for name, module in self.model.named_modules():
            if any(True for _ in module.parameters(recurse=False)):
                self.layer_names.append(name)
                self._handles.append(module.register_full_backward_hook(self._hook(name)))
        return self

    @property
    def grad_input_norms(self) -> dict[str, float]:
        """Layer name -> L2 norm of the gradient w.r.t. the layer's input, input layer first.

        Backward visits layers from the output to the input; this reorders the
        records into the model's order. For a first layer whose input does not
        require grad, the norm is that of the gradient w.r.t. its output.
        """
        return {n: self._norms[n] for n in self.layer_names if n in self._norms}

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def hook(module: nn.Module, grad_input: tuple[Tensor | None, ...], grad_output):
            # grad_input[0] is None for the first layer when the input does not
            # require grad; fall back to the gradient arriving at the layer's output.
            g = grad_input[0] if grad_input[0] is not None else grad_output[0]
            self._norms[name] = float(g.norm())

        return hook

    def parameter_grad_norms(self) -> dict[str, float]:
        """L2 norm of each parameter's ``.grad`` (call after ``backward``).

        Raises:
            RuntimeError: a parameter has no gradient yet.
        """
        norms = {}
        for name, p in self.model.named_parameters():
            if p.grad is None:
                raise RuntimeError(f"parameter {name!r} has no .grad: call backward() first")
            norms[name] = float(p.grad.norm())
        return norms
