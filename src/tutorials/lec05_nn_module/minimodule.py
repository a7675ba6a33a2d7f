"""A minimal module framework: how ``nn.Module`` registers and finds its state.

:class:`MiniModule` re-implements, in about a hundred lines, the part of
``torch.nn.Module`` that every model relies on: three dictionaries
(``_parameters``, ``_buffers``, ``_modules``) filled by ``__setattr__``, recursive
``named_parameters`` / ``named_buffers`` / ``named_modules``, ``state_dict`` and
``load_state_dict``, ``train`` / ``eval``, ``to`` and forward hooks run by
``__call__``. Names and order follow ``nn.Module`` exactly, so a state dict of a
:class:`MiniSequential` loads into the equivalent ``nn.Sequential``.

It reuses ``nn.Parameter`` (a ``Tensor`` subclass whose only job is to be
recognised on assignment) so that optimizers accept its parameters.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> mini = MiniSequential(MiniLinear(3, 4), MiniReLU(), MiniLinear(4, 2))
    >>> [name for name, _ in mini.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> real = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> real.load_state_dict(mini.state_dict())
    <All keys matched successfully>
    >>> x = torch.randn(5, 3)
    >>> torch.equal(mini(x), real(x))
    True
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HookHandle", "MiniLinear", "MiniModule", "MiniReLU", "MiniSequential"]


class HookHandle:
    """Returned by :meth:`MiniModule.register_forward_hook`; ``remove()`` detaches the hook."""

    def __init__(self, hooks: dict[int, Callable], key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        """Detach the hook (doing it twice is harmless)."""
        self._hooks.pop(self._key, None)


# --8<-- [start:registration]
class MiniModule:
    """The registration machinery of ``nn.Module``, re-implemented.

    Subclasses call ``super().__init__()`` first, assign ``nn.Parameter``s and
    sub-modules as attributes, and define ``forward``.
    """

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        # Plain dicts, as in nn.Module: they keep insertion order.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "training", True)
    # --8<-- [end:registration]

    # --8<-- [start:setattr]
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before MiniModule.__init__() call"
                f": call super().__init__() in {type(self).__name__}")
        if isinstance(value, nn.Parameter):
            # a name lives in one table only; re-assigned, it keeps its place
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
        elif isinstance(value, MiniModule):
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif name in self._parameters:  # only a Parameter or None fits
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as "
                                f"parameter {name!r} (Parameter or None)")
            self._parameters[name] = None
        elif name in self._buffers:  # a tensor assigned to a buffer's name
            self._buffers[name] = value
        else:  # anything else is an ordinary attribute
            object.__setattr__(self, name, value)
    # --8<-- [end:setattr]

    def _forget(self, name: str, keep: dict | None = None) -> None:
        # Remove ``name`` everywhere except from ``keep``, the table it is being
        # (re)assigned to: there it keeps its slot, so the state_dict order
        # does not change, as in nn.Module.
        self.__dict__.pop(name, None)
        for table in (self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name: str) -> Any:
        # Called only when normal lookup fails: registered state is not in
        # __dict__, so it is found here.
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: nn.Parameter | None) -> None:
        """Register ``param`` (or ``None``, a declared but absent parameter) as ``name``."""
        if param is not None and not isinstance(param, nn.Parameter):
            raise TypeError(
                f"cannot register {type(param).__name__} as parameter {name!r}: "
                "wrap it in nn.Parameter (or use register_buffer for state without gradients)"
            )
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    # --8<-- [start:register_buffer]
    def register_buffer(self, name: str, tensor: Tensor | None,
                        persistent: bool = True) -> None:
        """Register state that is saved and moved with the module."""
        if isinstance(tensor, nn.Parameter):
            raise TypeError(f"buffer {name!r} must not be a Parameter")
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)  # moved by .to(), not saved
    # --8<-- [end:register_buffer]

    def add_module(self, name: str, module: MiniModule | None) -> None:
        """Register a sub-module under ``name`` (used by containers with names like ``"0"``)."""
        if module is not None and not isinstance(module, MiniModule):
            raise TypeError(f"{type(module).__name__} is not a MiniModule (name {name!r})")
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    # --8<-- [start:named_parameters]
    def named_modules(self, prefix: str = "", memo: set | None = None
                      ) -> Iterator[tuple[str, MiniModule]]:
        """Yield ``(dotted name, module)`` for self and all descendants."""
        memo = set() if memo is None else memo
        if id(self) in memo:  # a module shared by two parents is listed once
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                child_prefix = f"{prefix}.{name}" if prefix else name
                yield from child.named_modules(child_prefix, memo)

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, nn.Parameter]]:
        """Yield ``(dotted name, parameter)``, each tensor once."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        seen: set[int] = set()
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p
    # --8<-- [end:named_parameters]

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """The parameters of :meth:`named_parameters`, without names."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted name, buffer)`` for every registered buffer, recursively."""
        for mod_prefix, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def named_children(self) -> Iterator[tuple[str, MiniModule]]:
        """Yield ``(name, module)`` for the direct sub-modules only."""
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    # --8<-- [start:state_dict]
    def state_dict(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, detached.

        Order as in ``nn.Module``: each module's parameters, then its buffers,
        then its children, depth first.
        """
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p.detach()  # shares memory, no graph
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b.detach()
        for name, child in self._modules.items():
            if child is not None:
                out.update(child.state_dict(prefix + name + "."))
        return out
    # --8<-- [end:state_dict]

    # --8<-- [start:load_state_dict]
    def load_state_dict(self, state: Mapping[str, Tensor], strict: bool = True
                        ) -> tuple[list[str], list[str]]:
        """Copy ``state`` into this module's tensors in place.

        Returns:
            ``(missing_keys, unexpected_keys)``, both empty after a full match.

        Raises:
            RuntimeError: with ``strict``, keys differ; always, a shape differs.
                Every check runs before the first copy: a load that raises has
                changed nothing (``nn.Module`` copies first and raises at the end).
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"Error loading state_dict into {type(self).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}")
        for key, target in own.items():
            if key in state and state[key].shape != target.shape:
                raise RuntimeError(
                    f"size mismatch for {key!r}: checkpoint has "
                    f"{tuple(state[key].shape)}, the module {tuple(target.shape)}")
        with torch.no_grad():  # in-place copies into leaves: do not record
            for key, target in own.items():
                if key in state:
                    target.copy_(state[key])  # target shares memory with the module
        return missing, unexpected
    # --8<-- [end:load_state_dict]

    def train(self, mode: bool = True) -> MiniModule:
        """Set ``training`` on this module and every descendant; return self."""
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> MiniModule:
        """Same as ``train(False)``."""
        return self.train(False)

    def to(self, *args: Any, **kwargs: Any) -> MiniModule:
        """Move/cast every parameter and buffer in place, like ``nn.Module.to``.

        Floating-point dtypes apply to floating-point tensors only (integer
        counters stay integers), as in ``nn.Module``.
        """
        for _, module in self.named_modules():
            for p in module._parameters.values():
                if p is not None:
                    p.data = _convert(p.data, *args, **kwargs)  # same Parameter object
            for name, b in module._buffers.items():
                if b is not None:
                    module._buffers[name] = _convert(b, *args, **kwargs)
        return self

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to ``None`` (what ``nn.Module`` does by default)."""
        for p in self.parameters():
            p.grad = None

    # --8<-- [start:call]
    def register_forward_hook(self, hook: Callable) -> HookHandle:
        """Call ``hook(module, args, output)`` after each forward.

        A hook that returns a value replaces the output.
        """
        key = max(self._forward_hooks, default=-1) + 1
        self._forward_hooks[key] = hook
        return HookHandle(self._forward_hooks, key)

    def __call__(self, *args: Any) -> Any:
        # forward() is the computation; __call__ wraps it with the hooks.
        output = self.forward(*args)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output
    # --8<-- [end:call]

    def forward(self, *args: Any) -> Any:
        """The computation; subclasses must override it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self.named_children():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + ("\n)" if len(lines) > 1 else ")")

    def extra_repr(self) -> str:
        """Extra text inside the parentheses of ``repr``; override to describe the module."""
        return ""


def _convert(t: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    device, dtype, *_ = torch._C._nn._parse_to(*args, **kwargs)
    if dtype is not None and not t.is_floating_point():
        dtype = None
    return t.to(device=device, dtype=dtype)


# --8<-- [start:mini_linear]
class MiniLinear(MiniModule):
    """``y = x @ W.T + b``, initialized as ``nn.Linear`` is."""

    def __init__(self, in_features: int, out_features: int,
                 bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)  # declared, absent
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's choice: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)
# --8<-- [end:mini_linear]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class MiniReLU(MiniModule):
    """``max(x, 0)``: a module without state, like ``nn.ReLU``."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x)


class MiniSequential(MiniModule):
    """Apply sub-modules in order; they are registered as ``"0"``, ``"1"`` and so on."""

    def __init__(self, *modules: MiniModule) -> None:
        super().__init__()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __getitem__(self, index: int) -> MiniModule:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x
