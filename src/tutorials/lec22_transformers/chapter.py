"""Lecture 22: Transformers and attention from first principles.

The code of the chapter ``docs/lectures/22-transformers.md``, in the order the page
shows it. Run it top to bottom with ``python -m tutorials.lec22_transformers.chapter``;
it writes the chapter's three figures into ``lec22/`` under the current directory.
"""

# --8<-- [start:imports]
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from tutorials.core.datasets import digits_split
from tutorials.lec22_transformers.attention_tools import (
    attention_matrix_bytes,
    draw_heatmaps,
    draw_patch_grid,
    reversal_batch,
    time_attention,
)

torch.manual_seed(0)
OUT = Path("lec22")  # the files this chapter writes go here
OUT.mkdir(exist_ok=True)
# --8<-- [end:imports]

# --8<-- [start:why_scale]
# Two random vectors with unit-variance entries: their dot product has variance d.
for d in (16, 64, 256):
    q, k = torch.randn(2, 20_000, d).unbind(0)  # 20,000 pairs of d-vectors
    dots = (q * k).sum(-1)
    print(f"d={d:3d}  var(q.k)={dots.var():6.0f}  var(q.k/sqrt(d))={(dots / math.sqrt(d)).var():.1f}")
# --8<-- [end:why_scale]


# --8<-- [start:attention]
def attention(q, k, v, mask=None):
    """Scaled dot-product attention, by hand.

    q: (..., L, E) queries, k: (..., S, E) keys, v: (..., S, Ev) values;
    mask: bool, broadcastable to (..., L, S), True = this query may attend to this key
    (the convention of F.scaled_dot_product_attention). Returns (output, weights).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # forbidden: weight exp(-inf) = 0
    weights = scores.softmax(dim=-1)  # (..., L, S): each row sums to 1 over the keys
    return weights @ v, weights  # (..., L, Ev): a weighted mean of the values


B, H, L, S, E = 2, 3, 5, 7, 8  # batch, heads, queries, keys, features per head
q, k, v = torch.randn(B, H, L, E), torch.randn(B, H, S, E), torch.randn(B, H, S, E)
out, weights = attention(q, k, v)
print(tuple(out.shape), tuple(weights.shape), torch.allclose(weights.sum(-1), torch.ones(B, H, L)))
ref = F.scaled_dot_product_attention(q, k, v)
print("equal to F.scaled_dot_product_attention (atol=1e-6):", torch.allclose(out, ref, atol=1e-6))
# --8<-- [end:attention]

# --8<-- [start:causal]
T = 6
causal = torch.ones(T, T, dtype=torch.bool).tril()  # True on and below the diagonal
print(causal.int())
x = torch.randn(B, H, T, E)
mine, causal_weights = attention(x, x, x, mask=causal)
with_mask = F.scaled_dot_product_attention(x, x, x, attn_mask=causal)
with_flag = F.scaled_dot_product_attention(x, x, x, is_causal=True)  # builds the same mask
print("hand == SDPA(attn_mask) == SDPA(is_causal) (atol=1e-6):",
      torch.allclose(mine, with_mask, atol=1e-6) and torch.allclose(mine, with_flag, atol=1e-6))
print("query 2 attends to keys", causal_weights[0, 0, 2].nonzero().flatten().tolist())
# --8<-- [end:causal]


# --8<-- [start:multihead]
def multihead_attention(x, mha, mask=None):
    """nn.MultiheadAttention's self-attention (batch_first=True), by hand.

    x: (B, L, E); mha: an nn.MultiheadAttention whose weights we use;
    mask: bool (L, L), True = may attend (SDPA's convention).
    """
    B, L, E = x.shape
    h = mha.num_heads
    D = E // h  # features per head
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3)  # each (E, E): one matrix for all heads
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)

    def split(t):  # (B, L, E) -> (B, L, h, D) -> (B, h, L, D): each head sees D features
        return t.view(B, L, h, D).transpose(1, 2)

    q, k, v = split(F.linear(x, w_q, b_q)), split(F.linear(x, w_k, b_k)), split(F.linear(x, w_v, b_v))
    out, weights = attention(q, k, v, mask)  # (B, h, L, D), (B, h, L, L): h attentions in parallel
    merged = out.transpose(1, 2).reshape(B, L, E)  # (B, L, h, D) -> (B, L, E): concatenate the heads
    return mha.out_proj(merged), weights


mha = nn.MultiheadAttention(embed_dim=16, num_heads=4, batch_first=True)
x = torch.randn(2, 6, 16)  # (B, L, E)
mine, _ = multihead_attention(x, mha, mask=causal)
theirs, _ = mha(x, x, x, attn_mask=~causal, need_weights=False)  # MHA: True = NOT allowed
print(tuple(mine.shape), "equal to nn.MultiheadAttention (atol=1e-6):",
      torch.allclose(mine, theirs, atol=1e-6))
# --8<-- [end:multihead]

# --8<-- [start:padding]
# Sequence 0 has 6 real tokens, sequence 1 only 4: its last two are padding.
lengths = torch.tensor([6, 4])
is_pad = torch.arange(6) >= lengths[:, None]  # (B, S): True = padding
print(is_pad.int())
theirs, _ = mha(x, x, x, key_padding_mask=is_pad, need_weights=False)  # True = ignore this key
keep = ~is_pad[:, None, None, :]  # (B, 1, 1, S): broadcast over heads and queries; True = attend
mine, _ = multihead_attention(x, mha, mask=keep)
print("key_padding_mask by hand (atol=1e-6):", torch.allclose(mine, theirs, atol=1e-6))
# --8<-- [end:padding]

# --8<-- [start:conventions]
# The SAME boolean tensor means opposite things to the two APIs.
sdpa_out = F.scaled_dot_product_attention(x[:, None], x[:, None], x[:, None], attn_mask=causal)[:, 0]
mha_raw = nn.MultiheadAttention(16, 1, batch_first=True, bias=False)  # identity weights, one head:
with torch.no_grad():  # then MHA computes plain attention on x, like SDPA above
    mha_raw.in_proj_weight.copy_(torch.eye(16).repeat(3, 1))
    mha_raw.out_proj.weight.copy_(torch.eye(16))
same_mask, _ = mha_raw(x, x, x, attn_mask=causal, need_weights=False)
flipped, _ = mha_raw(x, x, x, attn_mask=~causal, need_weights=False)
print("MHA with SDPA's mask equals SDPA:", torch.allclose(same_mask, sdpa_out, atol=1e-6))
print("MHA with the mask flipped equals SDPA:", torch.allclose(flipped, sdpa_out, atol=1e-6))
# --8<-- [end:conventions]

# --8<-- [start:fully_masked]
nobody = torch.zeros(1, 1, 3, dtype=torch.bool)  # one query that may attend to no key (SDPA's reading)
q1, kv = torch.randn(1, 1, 4), torch.randn(1, 3, 4)
print("by hand:", attention(q1, kv, kv, mask=nobody)[0].flatten().tolist())
print("SDPA:   ", F.scaled_dot_product_attention(q1, kv, kv, attn_mask=nobody).flatten().tolist())
# Under MHA's reading, causal's last row (all True) forbids every key to the last query:
print("MHA, need_weights=False:", same_mask[0, -1, :4].tolist())
nan_out, _ = mha_raw(x, x, x, attn_mask=causal)  # need_weights=True, the default: another code path
print("MHA, need_weights=True: ", nan_out[0, -1, :4].tolist())
# --8<-- [end:fully_masked]

# --8<-- [start:permutation]
# Without positions, self-attention cannot see order: permute the tokens and the
# outputs are permuted the same way, nothing else changes.
x = torch.randn(1, 6, 16)
perm = torch.tensor([3, 0, 5, 1, 4, 2])
y, _ = multihead_attention(x, mha)
y_perm, _ = multihead_attention(x[:, perm], mha)
print("permutation-equivariant (atol=1e-6):", torch.allclose(y[:, perm], y_perm, atol=1e-6))
# --8<-- [end:permutation]


# --8<-- [start:sinusoidal]
def sinusoidal_encoding(length, dim, base=10_000.0):
    """(length, dim): position p, pair i -> sin(p / base^(2i/dim)), cos(same)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (length, 1)
    freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim/2,): 1 ... 1/base
    angle = position * freq  # (length, dim/2): slow and fast clocks
    pe = torch.empty(length, dim)
    pe[:, 0::2], pe[:, 1::2] = angle.sin(), angle.cos()
    return pe


pe = sinusoidal_encoding(64, 32)
print(tuple(pe.shape), pe[0, :4].tolist(), f"{pe.norm(dim=1)[10]:.3f}")  # every row has norm sqrt(dim/2)
learned = nn.Embedding(64, 32)  # the alternative: one trained vector per position (GPT-2, BERT, ViT)
print("learned table:", tuple(learned.weight.shape), "parameters, and nothing beyond position 63")
# --8<-- [end:sinusoidal]


# --8<-- [start:rope]
def rope(x, positions, base=10_000.0):
    """Rotary position embedding: rotate each feature pair of x by an angle position * freq.

    x: (..., L, D) queries or keys, D even; positions: (L,) integers.
    """
    D = x.size(-1)
    freq = base ** (-torch.arange(0, D, 2, dtype=torch.float32) / D)  # (D/2,)
    angle = positions[:, None].float() * freq  # (L, D/2)
    cos, sin = angle.cos(), angle.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]  # the pairs (x1, x2), each (..., L, D/2)
    rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # (..., L, D/2, 2)
    return rotated.flatten(-2)  # (..., L, D), pairs interleaved again


q, k = torch.randn(1, 16), torch.randn(1, 16)


def score(m, n):  # the attention score of a query at position m and a key at position n
    return (rope(q, torch.tensor([m])) @ rope(k, torch.tensor([n])).T).item()


print(f"score(3, 1)={score(3, 1):.4f}  score(10, 8)={score(10, 8):.4f}  score(52, 50)={score(52, 50):.4f}")
print(f"score(3, 2)={score(3, 2):.4f}  (another distance, another score)")
print("norm unchanged:", torch.allclose(rope(q, torch.tensor([7])).norm(), q.norm()))
# --8<-- [end:rope]

# --8<-- [start:pe_figure]
draw_heatmaps([(pe, "sinusoidal encoding (64 positions x 32 features)", "feature", "position"),
               (causal_weights[0, 0], "causal attention weights (one head)", "key", "query")],
              OUT / "encodings-and-causal-attention.png")
print(f"wrote {OUT / 'encodings-and-causal-attention.png'}")
# --8<-- [end:pe_figure]


# --8<-- [start:block]
class Block(nn.Module):
    """A Transformer block: attention then an MLP, each wrapped in a residual connection."""

    def __init__(self, dim, heads, pre_norm=True, causal=True):
        super().__init__()
        self.heads, self.pre_norm, self.causal = heads, pre_norm, causal
        self.qkv = nn.Linear(dim, 3 * dim)  # queries, keys and values of all heads at once
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def attend(self, x):  # x: (B, L, E)
        B, L, E = x.shape
        qkv = self.qkv(x).view(B, L, 3, self.heads, E // self.heads)  # (B, L, 3, h, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, h, L, D)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # (B, h, L, D)
        return self.proj(y.transpose(1, 2).reshape(B, L, E))  # heads merged: (B, L, E)

    def forward(self, x):
        if self.pre_norm:  # x + f(LN(x)): the residual path from input to output is untouched
            x = x + self.attend(self.ln1(x))
            return x + self.mlp(self.ln2(x))
        x = self.ln1(x + self.attend(x))  # post-LN (the 2017 paper): LN(x + f(x))
        return self.ln2(x + self.mlp(x))


class MiniGPT(nn.Module):
    """A decoder-only Transformer: token + position embeddings, causal blocks, a head."""

    def __init__(self, vocab, dim=64, heads=4, depth=4, max_len=128, pre_norm=True):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(vocab, dim), nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, pre_norm) for _ in range(depth))
        self.ln_f = nn.LayerNorm(dim) if pre_norm else nn.Identity()  # pre-LN needs a final LN
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx):  # idx: (B, L) token ids
        x = self.tokens(idx) + self.positions(torch.arange(idx.size(1), device=idx.device))  # (B, L, E)
        for block in self.blocks:
            x = block(x)  # (B, L, E) all the way
        return self.head(self.ln_f(x))  # (B, L, vocab): next-token logits at every position
# --8<-- [end:block]


# --8<-- [start:mini_gpt]
gpt = MiniGPT(vocab=65)
idx = torch.randint(0, 65, (2, 32))  # (B, L)
logits = gpt(idx)
print("tokens", tuple(idx.shape), "-> logits", tuple(logits.shape))
n_params = sum(p.numel() for p in gpt.parameters())
per_block = sum(p.numel() for p in gpt.blocks[0].parameters())
print(f"parameters: {n_params:,} in all, {per_block:,} per block",
      f"(12*dim^2 + 13*dim = {12 * 64**2 + 13 * 64:,})")
# causal: changing the last token changes no earlier logits
idx2 = idx.clone()
idx2[:, -1] = (idx2[:, -1] + 1) % 65
logits2 = gpt(idx2)
print("earlier positions unchanged:", torch.allclose(logits[:, :-1], logits2[:, :-1], atol=1e-6),
      "| last changed:", not torch.allclose(logits[:, -1], logits2[:, -1]))
# --8<-- [end:mini_gpt]

# --8<-- [start:ln_gradients]
# The gradient norm of the first and the last block's weights at initialization.
idx = torch.randint(0, 65, (4, 33), generator=torch.Generator().manual_seed(0))
grad_norms = {}
print("depth  post-LN first  last   pre-LN first  last")
for depth in (2, 12):
    row = []
    for pre_norm in (False, True):
        torch.manual_seed(1)
        model = MiniGPT(vocab=65, depth=depth, pre_norm=pre_norm)
        logits = model(idx[:, :-1])  # predict token t+1 from tokens <= t
        F.cross_entropy(logits.reshape(-1, 65), idx[:, 1:].reshape(-1)).backward()
        norms = [torch.cat([p.grad.flatten() for p in b.parameters()]).norm().item() for b in model.blocks]
        grad_norms[depth, pre_norm] = norms
        row += [norms[0], norms[-1]]
    print(f"{depth:5d}  {row[0]:13.2f} {row[1]:5.2f}  {row[2]:12.2f} {row[3]:5.2f}")
# --8<-- [end:ln_gradients]

# --8<-- [start:memory]
for length in (1024, 4096, 16384, 131072):
    size = attention_matrix_bytes(batch=1, heads=32, length=length)  # fp32 scores of one layer
    print(f"L={length:6d}: {size:>17,} bytes = {size / 2**30:7.2f} GiB")
# --8<-- [end:memory]

# --8<-- [start:timing]
sweep = [128, 256, 512, 1024]  # sequence lengths
by_hand = time_attention(lambda q, k, v: attention(q, k, v)[0], sweep)
fused = time_attention(F.scaled_dot_product_attention, sweep)
for length, t_hand, t_fused in zip(sweep, by_hand, fused):
    print(f"L={length:5d}  by hand {t_hand * 1e3:7.2f} ms   SDPA {t_fused * 1e3:7.2f} ms")
print(f"length 8x -> time {by_hand[-1] / by_hand[0]:.0f}x (by hand), {fused[-1] / fused[0]:.0f}x (SDPA)")
# --8<-- [end:timing]

# --8<-- [start:backends]
from torch.nn.attention import SDPBackend, sdpa_kernel

q, k, v = torch.randn(3, 1, 4, 256, 32).unbind(0)
reference = attention(q, k, v, mask=torch.ones(256, 256, dtype=torch.bool).tril())[0]
for backend in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
    try:
        with sdpa_kernel(backend):  # allow only this backend inside the block
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        same = torch.allclose(out, reference, atol=1e-5)
        print(f"{backend.name:19s} runs on CPU, equal (atol=1e-5): {same}")
    except RuntimeError as err:
        print(f"{backend.name:19s} RuntimeError: {str(err).splitlines()[0][:60]}...")
# --8<-- [end:backends]


# --8<-- [start:rnn_cells]
def rnn_step(x, h, rnn):  # h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    return torch.tanh(x @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)


def lstm_step(x, h, c, lstm):  # PyTorch's gate order in the weights: i, f, g, o
    gates = x @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, hidden)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # forget some, write some
    h = torch.sigmoid(o) * torch.tanh(c)  # read out
    return h, c


def gru_step(x, h, gru):  # gate order: r (reset), z (update), n (new)
    x_r, x_z, x_n = (x @ gru.weight_ih_l0.T + gru.bias_ih_l0).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ gru.weight_hh_l0.T + gru.bias_hh_l0).chunk(3, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)  # the reset gate scales the hidden part, bias included
    return (1 - z) * n + z * h


B, T, F_in, hidden = 3, 7, 5, 8
xs = torch.randn(B, T, F_in)  # (B, T, features): batch_first=True below
rnn, lstm, gru = (cls(F_in, hidden, batch_first=True) for cls in (nn.RNN, nn.LSTM, nn.GRU))
h = c = torch.zeros(B, hidden)
h_rnn, h_gru = h, h
for t in range(T):  # one step after the other: step t needs step t-1
    h_rnn = rnn_step(xs[:, t], h_rnn, rnn)
    h, c = lstm_step(xs[:, t], h, c, lstm)
    h_gru = gru_step(xs[:, t], h_gru, gru)
print("RNN  equal (atol=1e-6):", torch.allclose(h_rnn, rnn(xs)[1][0], atol=1e-6))
_, (h_n, c_n) = lstm(xs)  # h_n, c_n: (layers, B, hidden)
print("LSTM equal (atol=1e-6):",
      torch.allclose(h, h_n[0], atol=1e-6) and torch.allclose(c, c_n[0], atol=1e-6))
print("GRU  equal (atol=1e-6):", torch.allclose(h_gru, gru(xs)[1][0], atol=1e-6))
print("weight shapes:", tuple(lstm.weight_ih_l0.shape), tuple(gru.weight_ih_l0.shape),
      "= (4*hidden, F), (3*hidden, F)")
# --8<-- [end:rnn_cells]

# --8<-- [start:packed]
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

lengths = torch.tensor([7, 3, 5])
padded = xs.clone()
for b, n in enumerate(lengths):
    padded[b, n:] = 0.0  # the padding after each sequence
packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
print("steps per time step:", packed.batch_sizes.tolist())  # 3 sequences, then fewer
out_packed, (h_packed, _) = lstm(packed)
_, (h_padded, _) = lstm(padded)  # without packing the LSTM also reads the zeros
alone = torch.stack([lstm(padded[b:b + 1, :n])[1][0][0, 0] for b, n in enumerate(lengths)])
print("packed h_n == each sequence run alone:", torch.allclose(h_packed[0], alone, atol=1e-6))
print("padded h_n == each sequence run alone:", torch.allclose(h_padded[0], alone, atol=1e-6))
out, out_lengths = pad_packed_sequence(out_packed, batch_first=True)
print(tuple(out.shape), out_lengths.tolist(), "zeros after each end:", bool((out[1, 3:] == 0).all()))
# --8<-- [end:packed]


# --8<-- [start:seq2seq]
class Seq2SeqAttention(nn.Module):
    """GRU encoder, GRU decoder, and dot-product attention from decoder to encoder states."""

    def __init__(self, vocab=11, hidden=32, max_len=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_len, hidden)  # helps the attention find "position S-1-t"
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.decoder = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(2 * hidden, vocab)

    def embed_at(self, tokens, start=0):  # (B, T) -> (B, T, hidden): token + position
        positions = torch.arange(start, start + tokens.size(1), device=tokens.device)
        return self.embed(tokens) + self.position(positions)

    def forward(self, src, tgt_in, state=None, start=0):
        enc, h = self.encoder(self.embed_at(src))  # enc: (B, S, hidden), h: (1, B, hidden)
        state = h if state is None else state  # the encoder's last state starts the decoder
        dec, state = self.decoder(self.embed_at(tgt_in, start), state)  # dec: (B, T, hidden)
        context, weights = attention(dec, enc, enc)  # cross-attention: (B, T, hidden), (B, T, S)
        return self.out(torch.cat([dec, context], dim=-1)), weights, state  # logits (B, T, vocab)

    @torch.no_grad()
    def generate(self, src, bos=10):  # greedy decoding, one token at a time
        token, state, result, maps = torch.full((src.size(0), 1), bos, device=src.device), None, [], []
        for t in range(src.size(1)):
            logits, weights, state = self(src, token, state, start=t)
            token = logits.argmax(-1)  # (B, 1)
            result.append(token)
            maps.append(weights)
        return torch.cat(result, 1), torch.cat(maps, 1)  # (B, T), (B, T, S)


torch.set_num_threads(1)  # ops this small run no faster on more threads, and waiting threads cost
torch.manual_seed(0)
gen = torch.Generator().manual_seed(0)
model = Seq2SeqAttention()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _step in range(100):  # teacher forcing: the decoder reads the true previous digit
    src, tgt_in, tgt = reversal_batch(32, 8, gen)
    logits, _, _ = model(src, tgt_in)
    loss = F.cross_entropy(logits.reshape(-1, 11), tgt.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
src, _, tgt = reversal_batch(500, 8, torch.Generator().manual_seed(1))  # unseen sequences
pred, maps = model.generate(src)
digit_acc = (pred == tgt).float().mean().item()
print(f"final loss {loss.item():.2f}; greedy decoding: digits right {digit_acc:.2f}, "
      f"whole sequences right {(pred == tgt).all(1).float().mean().item():.2f}")
print("source", src[0].tolist())
print("output", pred[0].tolist())
# --8<-- [end:seq2seq]

# --8<-- [start:seq2seq_map]
draw_heatmaps([(maps[0], "decoder-to-encoder attention, reversing 8 digits", "source position",
                "output position")], OUT / "seq2seq-attention.png", cmap="magma", width=5.0, height=4.0)
print(f"wrote {OUT / 'seq2seq-attention.png'}")
print("each output attends most to source position", maps[0].argmax(-1).tolist())
# --8<-- [end:seq2seq_map]

# --8<-- [start:patches]
x_train, y_train, x_test, y_test = digits_split(seed=0)  # 8x8 scans, flat, in [0, 1]
images = x_train[:4].view(4, 1, 8, 8)  # (B, C, H, W)
p, dim = 2, 32  # patch side, embedding size
conv = nn.Conv2d(1, dim, kernel_size=p, stride=p)  # one kernel application per patch
by_conv = conv(images).flatten(2).transpose(1, 2)  # (B, dim, 4, 4) -> (B, 16 patches, dim)
patches = F.unfold(images, kernel_size=p, stride=p).transpose(1, 2)  # (B, 16, C*p*p): patches flattened
by_linear = patches @ conv.weight.view(dim, -1).T + conv.bias  # a Linear(C*p*p, dim) on each patch
print(tuple(patches.shape), tuple(by_conv.shape), "conv == unfold + linear (atol=1e-6):",
      torch.allclose(by_conv, by_linear, atol=1e-6))
# --8<-- [end:patches]

# --8<-- [start:patch_figure]
from sklearn.datasets import load_sample_image

photo = torch.from_numpy(load_sample_image("china.jpg"))  # (427, 640, 3) uint8, ships with scikit-learn
photo = F.interpolate(photo.permute(2, 0, 1)[None].float(), size=(224, 224), mode="bilinear",
                      antialias=True)[0].permute(1, 2, 0).clamp(0, 255) / 255  # (224, 224, 3)
digit = F.interpolate(images[:1], scale_factor=8, mode="nearest")[0, 0]  # (64, 64): 8x8 shown large
draw_patch_grid([(photo, 16, "a photo at 224x224, as ViT-B/16 sees it"),
                 (digit, 16, "a digit (8x8, drawn 8x), patches of 2x2 pixels")],
                OUT / "vit-patches.png")
print(f"wrote {OUT / 'vit-patches.png'}")
# --8<-- [end:patch_figure]


# --8<-- [start:vit]
class TinyViT(nn.Module):
    """Patches -> tokens (+ a class token, + learned positions) -> non-causal blocks -> class."""

    def __init__(self, patch=2, dim=32, heads=4, depth=1, classes=10, side=8):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(0.02 * torch.randn(1, (side // patch) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads, causal=False) for _ in range(depth)))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, images):  # (B, 1, 8, 8)
        tokens = self.embed(images).flatten(2).transpose(1, 2)  # (B, 16, dim)
        tokens = torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], 1) + self.pos  # (B, 17, dim)
        return self.head(self.norm(self.blocks(tokens))[:, 0])  # the class token's output: (B, classes)


torch.manual_seed(0)
vit = TinyViT()
opt = torch.optim.AdamW(vit.parameters(), lr=3e-3)
train_images, test_images = x_train.view(-1, 1, 8, 8), x_test.view(-1, 1, 8, 8)
order = torch.Generator().manual_seed(0)
for _epoch in range(8):
    for batch in torch.randperm(len(train_images), generator=order).split(64):
        loss = F.cross_entropy(vit(train_images[batch]), y_train[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
vit.eval()
with torch.no_grad():
    vit_acc = (vit(test_images).argmax(1) == y_test).float().mean().item()
print(f"TinyViT: {sum(p.numel() for p in vit.parameters()):,} parameters, "
      f"held-out accuracy {vit_acc:.2f} on {len(y_test)} digits")
# --8<-- [end:vit]

# --8<-- [start:no_scale]
# Mistake: forgetting 1/sqrt(d). With d=512 the softmax saturates to one key.
q, k = torch.randn(1, 8, 512), torch.randn(1, 8, 512)
scaled = (q @ k.transpose(-2, -1) / math.sqrt(512)).softmax(-1)
unscaled = (q @ k.transpose(-2, -1)).softmax(-1)
print(f"largest weight per row, scaled:   {scaled.max(-1).values.mean():.2f}")
print(f"largest weight per row, unscaled: {unscaled.max(-1).values.mean():.2f}  (gradients through it ~ 0)")
# --8<-- [end:no_scale]

# --8<-- [start:batch_first]
# Mistake: (B, L, E) tensors into modules that expect (L, B, E) -- the default.
x = torch.randn(2, 6, 16)  # (B=2, L=6, E=16)
seq_first = nn.MultiheadAttention(16, 4)  # batch_first=False: reads x as L=2, B=6
try:
    seq_first(x, x, x, key_padding_mask=is_pad)  # is_pad is (B=2, S=6)
except AssertionError as err:
    print("AssertionError:", err)
_, (h_n, _) = nn.LSTM(16, 8)(x)  # no error at all: 2 time steps of a batch of 6
print("nn.LSTM without batch_first: h_n", tuple(h_n.shape), "-- expected (1, 2, 8)")
# --8<-- [end:batch_first]
