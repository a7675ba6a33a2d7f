"""The small models of Lecture 14, and how the chapter shards them.

* :class:`ToyNet`: an input layer, a stack of :class:`Block` s and a head. FSDP2 gives
  each block a communication group of its own and leaves the input layer and the head
  to the root, the layout real transformer runs use (one group per transformer block;
  embeddings and output head in the root).
* :func:`shard_toynet`: ``fully_shard`` on every block, then on the root.
* :class:`FeedForward`: the two-layer MLP that tensor parallelism splits (section 6).
* :func:`pipeline_model` and :func:`stage_of`: a deep MLP and the half of it that one
  pipeline stage holds (section 7).

Example:
    >>> model = ToyNet()
    >>> sum(p.numel() for p in model.parameters())
    38280
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh


__all__ = ["Block", "FeedForward", "ToyNet", "pipeline_model", "shard_toynet", "stage_of"]


class Block(nn.Module):
    """One hidden layer, ``relu(fc(x))``: the unit FSDP2 all-gathers at a time.

    Args:
        width: input and output features.
    """

    def __init__(self, width: int):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, width) -> (batch, width)``."""
        return F.relu(self.fc(x))


class ToyNet(nn.Module):
    """``inp -> blocks -> head``: 38,280 parameters with the defaults.

    Every output size is a multiple of 8, so each parameter splits evenly over 1, 2,
    4 or 8 ranks and the memory section's arithmetic comes out exact.

    Args:
        d_in: input features.
        width: hidden features.
        d_out: output features.
        n_blocks: hidden blocks.
    """

    def __init__(self, d_in: int = 32, width: int = 128, d_out: int = 8, n_blocks: int = 2):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(n_blocks))
        self.head = nn.Linear(width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, d_in) -> (batch, d_out)``."""
        x = F.relu(self.inp(x))
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def shard_toynet(model: ToyNet, mesh: DeviceMesh, **options: Any) -> ToyNet:
    """Apply FSDP2 to ``model`` in place: each block first, then the root.

    ``fully_shard`` on a block makes the block's parameters one group (one all-gather
    in forward, one reduce-scatter in backward); the root call takes what is left
    (``inp`` and ``head``) and sets up the hooks that drive the whole step.

    Args:
        model: a :class:`ToyNet` (its parameters become DTensors).
        mesh: the ``DeviceMesh`` to shard over.
        **options: passed to every ``fully_shard`` call (``reshard_after_forward``,
            ``mp_policy``, ``offload_policy``).

    Returns:
        The same object, whose class is now ``FSDPToyNet``.
    """
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:
        fully_shard(block, mesh=mesh, **options)
    fully_shard(model, mesh=mesh, **options)
    return model


class FeedForward(nn.Module):
    """The transformer MLP, ``down(relu(up(x)))``, that Megatron-LM splits over GPUs.

    Args:
        width: model width (input and output features).
        hidden: inner features (4 x width in GPT models).
    """

    def __init__(self, width: int = 32, hidden: int = 128):
        super().__init__()
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, width) -> (batch, width)``."""
        return self.down(F.relu(self.up(x)))


def pipeline_model(width: int, n_layers: int = 4, seed: int = 0) -> nn.Sequential:
    """A stack of ``Linear(width, width) + Tanh`` layers, from a fixed seed.

    Args:
        width: features of every layer.
        n_layers: layers (even, so that two stages get the same work).
        seed: the seed of the initial weights (every rank builds the same model).

    Returns:
        The whole model, as one process would hold it.
    """
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.Tanh()) for _ in range(n_layers)])


def stage_of(model: nn.Sequential, stage: int, n_stages: int) -> nn.Sequential:
    """The consecutive layers of ``model`` that pipeline stage ``stage`` runs.

    Args:
        model: the whole model (``len(model)`` a multiple of ``n_stages``).
        stage: this stage's index, ``0 .. n_stages - 1``.
        n_stages: the number of stages.

    Raises:
        ValueError: the layers do not split evenly.
    """
    if len(model) % n_stages:
        raise ValueError(f"stage_of: {len(model)} layers do not split into {n_stages} equal stages")
    per = len(model) // n_stages
    return nn.Sequential(*list(model.children())[stage * per:(stage + 1) * per])
