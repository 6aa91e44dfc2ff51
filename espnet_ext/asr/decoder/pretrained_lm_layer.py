"""One layer of the autoregressive pretrained-LM decoder of A2 (ICLR 2021 submission), Sec. 2.3, Fig. 3.

A BERT-family layer (post-LayerNorm, as pretrained) made causal, with a new cross-attention over the
encoder output and an optional Dual-Adapter after it (Appendix B, eqs. 15-16):

    o1 = LN_a(h + SelfAttn_causal(h))                     pretrained self-attention sub-layer
    o2 = o1 + CrossAttn(LN_c(o1), h_enc)                  new, eq. 15 (pre-LN residual branch)
    o2 = o2 + Δ_lang(o2) + Δ_com(o2)                      Dual-Adapter, eq. 16 (optional)
    h' = LN_o(o2 + FFN(o2))                               pretrained feed-forward sub-layer

The cross-attention is a residual branch whose output projection starts at zero (``zero_init_output``),
so at initialisation every layer computes exactly the pretrained LM: speech information is blended in as
training moves that projection away from zero.  Self-attention keys/values are cached per layer for
incremental decoding (one new position per beam-search step).
"""

import functools
import math
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": functools.partial(F.gelu, approximate="tanh"),
    "gelu_pytorch_tanh": functools.partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in ACTIVATIONS:
        raise ValueError(f"pretrained LM activation '{name}' is not supported; supported: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class _Attention(torch.nn.Module):
    """Multi-head attention with separate q/k/v/out projections (the pretrained layout)."""

    def __init__(self, size: int, heads: int, dropout: float, kv_size: Optional[int] = None):
        super().__init__()
        if size % heads:
            raise ValueError(f"attention size {size} is not divisible by {heads} heads")
        self.heads, self.head_dim, self.dropout = heads, size // heads, dropout
        self.q = torch.nn.Linear(size, size)
        self.k = torch.nn.Linear(kv_size or size, size)
        self.v = torch.nn.Linear(kv_size or size, size)
        self.out = torch.nn.Linear(size, size)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, dh)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None,
               causal: bool = False) -> torch.Tensor:
        """q (B, H, Tq, dh), k/v (B, H, Tk, dh), mask bool (B or 1, 1, Tq or 1, Tk), True = attend."""
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal,
                                             scale=1.0 / math.sqrt(self.head_dim))
        b, _, t, _ = out.shape
        return self.out(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class _CrossAttention(_Attention):
    def __init__(self, size: int, heads: int, dropout: float, zero_init_output: bool):
        super().__init__(size, heads, dropout)
        self.zero_init_output = zero_init_output
        self.espnet_initialization_fn()

    def espnet_initialization_fn(self) -> None:
        """Zero the output projection (ESPnet's ``initialize`` calls this after ``--init``)."""
        if self.zero_init_output:
            torch.nn.init.zeros_(self.out.weight)
            torch.nn.init.zeros_(self.out.bias)


class PretrainedLMDecoderLayer(torch.nn.Module):
    """A pretrained BERT-family layer + causal masking + cross-attention + optional adapter.

    Args:
        size: LM width D.
        heads: self-attention heads (the pretrained model's).
        ffn_size: feed-forward inner width.
        activation: feed-forward activation name (the pretrained config's ``hidden_act``).
        layer_norm_eps: LayerNorm epsilon of the pretrained model.
        dropout: dropout after each sub-layer output.
        attention_dropout: dropout on attention weights.
        cross_heads: heads of the new cross-attention.
        zero_init_cross_output: start the cross-attention output projection at zero.
        adapter: a module applied after the cross-attention (eq. 16), or None.
    """

    def __init__(self, size: int, heads: int, ffn_size: int, activation: str, layer_norm_eps: float,
                 dropout: float, attention_dropout: float, cross_heads: int, zero_init_cross_output: bool,
                 adapter: Optional[torch.nn.Module] = None):
        super().__init__()
        self.self_attn = _Attention(size, heads, attention_dropout)
        self.self_ln = torch.nn.LayerNorm(size, eps=layer_norm_eps)
        self.cross_ln = torch.nn.LayerNorm(size, eps=layer_norm_eps)
        self.cross_attn = _CrossAttention(size, cross_heads, attention_dropout, zero_init_cross_output)
        self.adapter = adapter
        self.ffn_in = torch.nn.Linear(size, ffn_size)
        self.ffn_out = torch.nn.Linear(ffn_size, size)
        self.ffn_ln = torch.nn.LayerNorm(size, eps=layer_norm_eps)
        self.act = activation_fn(activation)
        self.drop = torch.nn.Dropout(dropout)

    def memory_kv(self, memory: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys/values of the (projected) encoder output (B, T, D) -> 2 x (B, H, T, dh)."""
        ca = self.cross_attn
        return ca.split(ca.k(memory)), ca.split(ca.v(memory))

    def forward(self, x: torch.Tensor, memory_kv: Tuple[torch.Tensor, torch.Tensor],
                memory_mask: Optional[torch.Tensor], cache: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, D): the new positions; cache (B, 2, H, t, dh): keys/values of the t earlier positions.

        Returns the layer output (B, L, D) and the updated cache (B, 2, H, t + L, dh).
        """
        sa = self.self_attn
        q, k, v = sa.split(sa.q(x)), sa.split(sa.k(x)), sa.split(sa.v(x))  # (B, H, L, dh)
        if cache is not None:
            k = torch.cat([cache[:, 0], k], dim=2)
            v = torch.cat([cache[:, 1], v], dim=2)
        new_cache = torch.stack([k, v], dim=1)
        n_new, n_all = q.shape[2], k.shape[2]
        if n_all == n_new:
            a = sa.attend(q, k, v, causal=n_new > 1)
        elif n_new == 1:
            a = sa.attend(q, k, v)  # the newest position sees every cached one
        else:  # several new positions after a cache: causal mask offset by the cache length
            mask = torch.ones(n_new, n_all, dtype=torch.bool, device=x.device).tril(n_all - n_new)
            a = sa.attend(q, k, v, mask=mask[None, None])
        x = self.self_ln(x + self.drop(a))

        # eq. 15: o2 = CrossAttn(h_enc, LayerNorm(o1)) + o1
        ca = self.cross_attn
        y = ca.split(ca.q(self.cross_ln(x)))
        x = x + self.drop(ca.attend(y, memory_kv[0], memory_kv[1], mask=memory_mask))
        # eq. 16: the adapter sits after the cross-attention, before the feed-forward sub-layer
        if self.adapter is not None:
            x = self.adapter(x)
        x = self.ffn_ln(x + self.drop(self.ffn_out(self.act(self.ffn_in(x)))))
        return x, new_cache
