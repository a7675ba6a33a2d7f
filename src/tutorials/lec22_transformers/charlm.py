"""A character-level GPT: corpus, tokenizer, a small decoder-only Transformer, training and sampling.

The helper of Lab 22.1 (``lab_22_char_gpt``). Everything a character language model
needs, small enough to read in one sitting:

* :func:`stdlib_corpus`: real text that every Python install ships, the source files
  of a fixed list of pure-Python standard-library modules, read from
  ``sysconfig.get_paths()["stdlib"]`` in a fixed order (nothing is downloaded);
* :class:`CharTokenizer`: one token per character, with a round trip
  ``decode(encode(s)) == s`` and a clear error for a character it has never seen;
* :class:`CharGPT`: a decoder-only Transformer (pre-LayerNorm blocks, learned
  positions, causal attention through ``F.scaled_dot_product_attention(is_causal=True)``,
  the output layer tied to the token embedding);
* :func:`get_batch`, :func:`train_step`, :func:`estimate_loss`: the training loop's parts;
* :func:`generate`: sampling with temperature and top-k;
* :func:`tokens_per_second`: training throughput, timed with the device synchronised.

Examples:
    >>> tok = CharTokenizer("hello world")
    >>> tok.decode(tok.encode("hello"))
    'hello'
"""

from __future__ import annotations

import hashlib
import math
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "STDLIB_MODULES",
    "CharGPT",
    "CharTokenizer",
    "Corpus",
    "GPTConfig",
    "estimate_loss",
    "generate",
    "get_batch",
    "split_corpus",
    "stdlib_corpus",
    "tokens_per_second",
    "train_step",
]

#: Pure-Python standard-library modules whose source is the lab's corpus (present since 3.8,
#: in this order). Python files with code, comments and docstrings: about 0.5 MB of text.
STDLIB_MODULES = (
    "argparse.py",
    "collections/__init__.py",
    "contextlib.py",
    "dataclasses.py",
    "difflib.py",
    "functools.py",
    "heapq.py",
    "random.py",
    "statistics.py",
    "textwrap.py",
)


@dataclass(frozen=True)
class Corpus:
    """Text and where it came from.

    Attributes:
        parts: one text per source file, in order.
        names: the files' paths relative to the standard library's folder.
        root: the folder they were read from.
        sha256: digest of the concatenated text (the same text gives the same digest).
    """

    parts: tuple[str, ...]
    names: tuple[str, ...]
    root: str
    sha256: str

    @property
    def text(self) -> str:
        """All parts, concatenated in order."""
        return "".join(self.parts)


def stdlib_corpus(modules: tuple[str, ...] = STDLIB_MODULES, root: str | Path | None = None) -> Corpus:
    """Read the source of standard-library modules as one corpus.

    Args:
        modules: paths relative to ``root`` (default :data:`STDLIB_MODULES`).
        root: the standard library's folder (default ``sysconfig.get_paths()["stdlib"]``).

    Returns:
        The :class:`Corpus`, files in the order given (so the text is deterministic for a
        given Python version).

    Raises:
        FileNotFoundError: a module's source file is missing (some minimal installs ship
            only ``.pyc`` files); the message names the file.
    """
    root = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
    parts = []
    for name in modules:
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(
                f"standard-library source {path} does not exist (this Python ships no .py sources?); "
                "pass a text file of your own instead")
        parts.append(f"# ==== {name} ====\n" + path.read_text(encoding="utf-8"))
    digest = hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()
    return Corpus(tuple(parts), tuple(modules), str(root), digest)


def split_corpus(parts: tuple[str, ...] | list[str], val_fraction: float = 0.1) -> tuple[str, str]:
    """Split each part at ``1 - val_fraction`` of its length: the heads train, the tails validate.

    Splitting each file (not the concatenation) keeps every module in both halves, so the
    validation text is not one module the model never trained on.

    Args:
        parts: the texts, e.g. :attr:`Corpus.parts`.
        val_fraction: the share of each text held out, in (0, 1).

    Returns:
        ``(train_text, val_text)``.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train, val = [], []
    for p in parts:
        cut = int(len(p) * (1 - val_fraction))
        train.append(p[:cut])
        val.append(p[cut:])
    return "".join(train), "".join(val)


class CharTokenizer:
    """One token per character; the vocabulary is the sorted set of characters of a text.

    Args:
        text: the text whose characters make the vocabulary (the whole corpus, so the
            validation text has no unknown character).
    """

    def __init__(self, text: str):
        if not text:
            raise ValueError("CharTokenizer needs a non-empty text to build its vocabulary")
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        """The number of distinct characters."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``.

        Raises:
            ValueError: a character is not in the vocabulary (the message names it).
        """
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the tokenizer's vocabulary "
                             f"of {self.vocab_size} characters") from None

    def decode(self, ids) -> str:
        """The text of token ids (a list or a 1-D tensor)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)


@dataclass
class GPTConfig:
    """Sizes of a :class:`CharGPT`.

    Attributes:
        vocab_size: number of tokens.
        block_size: the longest context (positions) the model accepts.
        n_layer: Transformer blocks.
        n_head: attention heads; must divide ``n_embd``.
        n_embd: width of the residual stream.
        dropout: dropout probability in attention and MLP (0 for small data is fine).
    """

    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head}")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions <= t only."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over the past; ``x`` is (B, T, C), so is the result."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)                       # 3 x (B, T, C)
        # (B, T, C) -> (B, n_head, T, head_dim): each head attends on its own slice
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)            # heads side by side again
        return self.proj(y)


class Block(nn.Module):
    """A pre-LayerNorm Transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One block on the residual stream (B, T, C)."""
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharGPT(nn.Module):
    """A small decoder-only Transformer over characters.

    The output layer shares its weight with the token embedding (weight tying): a
    character's input vector and its output scores' vector are the same parameter.

    Args:
        cfg: the model's sizes.
    """

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying: one (vocab, n_embd) matrix
        self.apply(self._init)
        for name, p in self.named_parameters():  # residual projections scaled by depth (GPT-2)
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        """Parameters, the tied matrix counted once (``parameters()`` yields it once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for the next character at every position, and the loss if ``targets`` are given.

        Args:
            idx: token ids (B, T) with T <= ``block_size``.
            targets: the next tokens (B, T), or ``None``.

        Returns:
            ``(logits, loss)``: logits (B, T, vocab_size); loss a scalar or ``None``.
        """
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size={self.cfg.block_size}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))        # (B, T, C)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))                           # (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T))
        return logits, loss


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator,
              device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of ``data`` and the same windows shifted by one (the targets).

    Args:
        data: a 1-D tensor of token ids.
        block_size: the window length.
        batch_size: windows per batch.
        generator: the source of the random offsets (seeded: the same batches every run).
        device: where the batch goes.

    Returns:
        ``(x, y)``, both (batch_size, block_size) int64, ``y[:, t] == data[offset + t + 1]``.
    """
    if len(data) <= block_size:
        raise ValueError(f"text of {len(data)} tokens is too short for block_size={block_size}")
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i:i + block_size] for i in ix.tolist()])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix.tolist()])
    return x.to(device), y.to(device)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               max_norm: float | None = 1.0) -> torch.Tensor:
    """One optimisation step on ``(x, y)``; returns the loss (a detached tensor, no sync).

    Args:
        model: a :class:`CharGPT` (or its ``torch.compile`` wrapper).
        optimizer: its optimizer.
        x: input ids (B, T).
        y: target ids (B, T).
        max_norm: gradient-norm clipping (``None``: no clipping).
    """
    model.train()
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def estimate_loss(model: nn.Module, data: torch.Tensor, block_size: int, batch_size: int, batches: int,
                  seed: int = 0, device: torch.device | str = "cpu") -> float:
    """Mean cross-entropy (nats per character) on ``batches`` fixed random batches of ``data``.

    The batches come from their own generator seeded with ``seed``, so every evaluation
    of a run looks at the same windows and the curve's wiggles are the model's, not the
    sample's.
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(batches):
        x, y = get_batch(data, block_size, batch_size, g, device)
        total += model(x, y)[1].item()
    return total / batches


@torch.no_grad()
def generate(model: CharGPT, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample ``max_new_tokens`` characters after the prompt ``idx`` (B, T).

    Args:
        model: the model (its last ``block_size`` tokens are the context).
        idx: the prompt's ids (B, T), T >= 1.
        max_new_tokens: how many to add.
        temperature: > 0; below 1 sharpens the distribution, above 1 flattens it.
        top_k: keep only the k most likely characters before sampling (``None``: all).
        generator: for reproducible samples (on the model's device).

    Returns:
        The prompt followed by the sampled ids, (B, T + max_new_tokens).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    model.eval()
    block = model.cfg.block_size
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -block:])
        logits = logits[:, -1, :] / temperature                 # the last position's scores
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = F.softmax(logits, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=generator)    # (B, 1)
        idx = torch.cat([idx, nxt], dim=1)
    return idx


def tokens_per_second(step: Callable[[torch.Tensor, torch.Tensor], object],
                      batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                      device: torch.device | str = "cpu") -> float:
    """Training throughput: tokens of ``batches`` divided by the seconds ``step`` took on them.

    Args:
        step: a function ``step(x, y)`` doing one training step.
        batches: a list of ``(x, y)`` batches already on the device.
        device: a CUDA device is synchronised before and after the timing (its kernels
            run asynchronously; without it the clock stops before the work is done).

    Returns:
        Tokens per second.
    """
    device = torch.device(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    sync()
    start = time.perf_counter()
    for x, y in batches:
        step(x, y)
    sync()
    seconds = time.perf_counter() - start
    return sum(x.numel() for x, _ in batches) / seconds
