"""What the chapter computes, checked after its last block in the page's own session."""

import torch

from tutorials._book.layout import files_written


def claims(ns, out, workdir):
    # attention and masks: every "equal" line of the page printed True
    for line in ("equal to F.scaled_dot_product_attention (atol=1e-6): True",
                 "hand == SDPA(attn_mask) == SDPA(is_causal) (atol=1e-6): True",
                 "equal to nn.MultiheadAttention (atol=1e-6): True",
                 "key_padding_mask by hand (atol=1e-6): True",
                 "MHA with SDPA's mask equals SDPA: False",
                 "MHA with the mask flipped equals SDPA: True",
                 "permutation-equivariant (atol=1e-6): True",
                 "RNN  equal (atol=1e-6): True", "LSTM equal (atol=1e-6): True",
                 "GRU  equal (atol=1e-6): True",
                 "packed h_n == each sequence run alone: True",
                 "padded h_n == each sequence run alone: False",
                 "conv == unfold + linear (atol=1e-6): True"):
        assert line in out, line
    assert ns["causal"].dtype == torch.bool and ns["causal"].sum().item() == 21
    # RoPE: the score depends on m - n only
    rope, gen = ns["rope"], torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 16, generator=gen), torch.randn(1, 16, generator=gen)

    def score(m, n):
        return (rope(q, torch.tensor([m])) @ rope(k, torch.tensor([n])).T).item()

    assert abs(score(3, 1) - score(40, 38)) < 1e-4 and abs(score(3, 1) - score(3, 2)) > 1e-3
    # the mini GPT and the gradient table
    assert ns["n_params"] == 216_576 and ns["per_block"] == 12 * 64**2 + 13 * 64
    g = ns["grad_norms"]
    assert g[12, False][-1] > g[2, False][-1], "post-LN: the last block's gradient grows with depth"
    assert g[12, True][-1] <= g[2, True][-1], "pre-LN: the last block's gradient does not grow with depth"
    # the timing sweep is recorded output; what it means is checked here, with bounds that can fail:
    # 8x the length costs more than 8x the time (faster than linear), for both implementations
    lengths, by_hand, fused = ns["sweep"], ns["by_hand"], ns["fused"]
    assert lengths == [128, 256, 512, 1024]
    growth = lengths[-1] / lengths[0]
    assert by_hand[-1] / by_hand[0] > growth, f"by hand: x{by_hand[-1] / by_hand[0]:.1f}, length x8"
    assert fused[-1] / fused[0] > growth, f"SDPA: x{fused[-1] / fused[0]:.1f} for x{growth:.0f} length"
    assert all(a < b for a, b in zip(by_hand, by_hand[1:])), f"by hand not increasing: {by_hand}"
    # short training runs: coarse facts
    assert ns["digit_acc"] >= 0.9, ns["digit_acc"]
    assert ns["maps"][0].argmax(-1).tolist() == list(range(7, -1, -1)), "anti-diagonal attention"
    assert ns["vit_acc"] >= 0.85, ns["vit_acc"]
    # the files the chapter writes
    written = files_written(workdir)
    assert set(written) == {"lec22/encodings-and-causal-attention.png", "lec22/seq2seq-attention.png",
                            "lec22/vit-patches.png"}, sorted(written)
    assert "Expected key_padded_mask.shape[0] to be 6, but got 2" in out
