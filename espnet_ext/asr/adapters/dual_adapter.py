"""Dual-Adapters of A2 (Adapt-and-Adjust, ICLR 2021 submission), Sec. 2.4, eq. 4, and their ablations.

Per layer, one adapter for the utterance's language (A_lang) and one common adapter (A_com), each
eq. 4's ``Adapter(h) = W_u ReLU(W_d LayerNorm(h)) + h``; the paper sums them, ``o = o_lang + o_com``.

Taken literally that sum counts the residual ``h`` twice (``o = 2h + ...``), so a fresh module would
double its input instead of passing it through.  With ``residual="single"`` (the default) the residual is
counted once::

    o = h + Δ_lang(h) + Δ_com(h),     Δ(h) = W_u ReLU(W_d LayerNorm(h))

which is ``o_lang + o_com - h``: the same function class, and the identity while W_u is zero (new
adapters, a new language).  ``residual="per_adapter"`` keeps the literal ``o_lang + o_com``.

Modes (Tables 1, 3, 4 of the paper):
    * ``dual``   — language-specific + common adapters (A2's Dual-Adapters);
    * ``lang``   — language-specific adapters only (Kannan et al. 2019, "LAN-Specific Adapters");
    * ``common`` — the common adapter only (a language-agnostic control).

``groups`` maps a language to a group name (Table 11: by written script, by language family): languages
of one group share one language-specific adapter.  The table may cover more languages than the model's
inventory (e.g. the 11 A2 languages for a model trained on a subset); every inventory language must be in
it.

Routing (one batched computation for every routing, A2 eq. 4 summed over languages with weights):

    o = h + Σ_s w_s(t) Δ_s(h) + Δ_com(h),     Σ_s w_s(t) = 1 for every frame t

with w of shape (B, T, S) over the S language-specific adapters.  An oracle tag (``set_language``) or the
arg-max of a LID posterior is a one-hot w; a LID posterior (``set_language_weights``, (B, L) per utterance or
(B, T, L) per frame, over the inventory; languages of one group add up) mixes the adapters.  All adapters of
the layer run as one matmul over their concatenated (stacked at forward time, so the state_dict keys stay
``lang_adapters.<slot>.*``) weights — per-language bottlenecks included — and the per-frame weights scale
each adapter's bottleneck activations before one shared up-projection.  Never a Python loop over
utterances or languages.  The cost: every frame runs all S adapters (S x the adapter FLOPs of a gathered
single adapter; the adapters are small next to the feed-forward layer, see docs/lid_routing.md).

Where w is one-hot per utterance (an oracle tag, or ``hard`` routing at the utterance level) and every adapter
of the layer has the same bottleneck, the same stacked weights serve a gathered computation instead: each
utterance's rows of the stack (its language's adapter and the common adapter, side by side) are picked and
applied with one batched matmul per projection.  It is the weighted sum above with its zero terms skipped
(equal up to float rounding; tested), at 2/(S+1) of the FLOPs and without the separate common-adapter pass
(about two points off the CPU training-step ratio to SMT, to 1.045: docs/lid_routing.md).

``switch_language_off`` drops Δ_lang (common adapter only): the first, language-agnostic encoder pass of
LID routing (docs/lid_routing.md).
"""

from typing import Dict, Iterator, List, Optional, Tuple

import torch

from espnet_ext.asr.adapters.adapter import Adapter
from espnet_ext.asr.language_conditioning import LanguageConditioned

MODES = ("dual", "lang", "common")
RESIDUALS = ("single", "per_adapter")
COMMON = "common"  # name of the common adapter in parameter names and in adapter selections


def _check_name(kind: str, name: str) -> None:
    # Slot names become parameter-name components (lang_adapters.<slot>.down.weight).
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"{kind} '{name}' cannot name an adapter: use a non-empty string without '.'")


class DualAdapter(LanguageConditioned):
    """Language-routed adapters of one layer: ``o = h + Δ_lang(h) + Δ_com(h)`` (see module docstring).

    Args:
        size: model dimension of the hidden states (B, ..., size).
        languages: the model's language inventory (``model_conf.languages``); language ids index into it.
        bottleneck: bottleneck dimension of every adapter unless ``bottleneck_per_language`` says otherwise.
        mode: ``dual`` (language-specific + common), ``lang`` (language-specific only, Kannan et al. 2019) or
            ``common`` (common adapter only).
        groups: language -> group name; languages of a group share one language-specific adapter
            (A2 Table 11).  None: one adapter per language.
        bottleneck_per_language: bottleneck size per language-specific adapter, keyed by adapter name (the
            language code, or the group name when ``groups`` is given); others use ``bottleneck``.
        residual: ``single`` (residual counted once; a fresh module is the identity) or ``per_adapter``
            (the literal o = o_lang + o_com of the paper, which doubles h in ``dual`` mode).
    """

    def __init__(
        self,
        size: int,
        languages: List[str],
        bottleneck: int = 64,
        mode: str = "dual",
        groups: Optional[Dict[str, str]] = None,
        bottleneck_per_language: Optional[Dict[str, int]] = None,
        residual: str = "single",
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"adapter mode must be one of {MODES}, got '{mode}'")
        if residual not in RESIDUALS:
            raise ValueError(f"adapter residual must be one of {RESIDUALS}, got '{residual}'")
        if not languages:
            raise ValueError("DualAdapter needs the language inventory (model_conf.languages), got none")
        if len(set(languages)) != len(languages):
            raise ValueError(f"DualAdapter languages have duplicates: {list(languages)}")
        for lang in languages:
            _check_name("language", lang)
        self.size = size
        self.languages = list(languages)
        self.mode = mode
        self.residual = residual
        self.groups = dict(groups) if groups else None

        if mode == "common":
            if groups or bottleneck_per_language:
                raise ValueError("adapter mode 'common' has no language-specific adapters: "
                                 "groups and bottleneck_per_language must not be set")
            slot_names: List[str] = []
        else:
            slot_names = self._slot_names(self.languages, self.groups)
        self.slots = slot_names
        sizes = dict(bottleneck_per_language or {})
        unknown = sorted(set(sizes) - set(slot_names))
        if unknown:
            raise ValueError(f"bottleneck_per_language has keys {unknown} that name no adapter; "
                             f"the language-specific adapters are {slot_names}")
        self.lang_adapters = torch.nn.ModuleDict(
            {s: Adapter(size, int(sizes.get(s, bottleneck))) for s in slot_names})
        self.common = Adapter(size, bottleneck) if mode in ("dual", "common") else None
        # language (inventory index) -> its adapter (slot): the (L, S) 0/1 matrix that turns weights over
        # languages into weights over adapters (a group's languages add up), and the slot index per language
        slot_of = [slot_names.index(self.slot_of(lang)) for lang in self.languages] if slot_names else []
        self.register_buffer("slot_of_lang", torch.tensor(slot_of, dtype=torch.long), persistent=False)
        membership = torch.zeros(len(self.languages), len(slot_names))
        if slot_names:
            membership[torch.arange(len(self.languages)), torch.tensor(slot_of)] = 1.0
        self.register_buffer("lang_to_slot", membership, persistent=False)
        # bottleneck size of each slot: how many activation columns each routing weight scales
        self.register_buffer("slot_bottlenecks", torch.tensor([a.bottleneck for a in self.lang_adapters.values()],
                                                              dtype=torch.long), persistent=False)
        self.lang_weights: Optional[torch.Tensor] = None
        self.lang_off = False
        self._stack_cache: Dict[str, tuple] = {}  # kind -> (parameter storages and versions, stacked tensors)
        # the gathered path needs one bottleneck for all adapters of the layer (the common one included)
        self.uniform_bottleneck = bool(slot_names) and len(
            {a.bottleneck for a in self.lang_adapters.values()} | ({bottleneck} if self.common else set())) == 1

    @staticmethod
    def _slot_names(languages: List[str], groups: Optional[Dict[str, str]]) -> List[str]:
        if groups is None:
            return list(languages)
        missing = [lang for lang in languages if lang not in groups]
        if missing:
            raise ValueError(f"adapter groups have no group for languages {missing}; "
                             f"give every language of the inventory {languages} a group")
        names: List[str] = []
        for lang in languages:  # first-seen order of the inventory: stable parameter names
            _check_name("adapter group", groups[lang])
            if groups[lang] not in names:
                names.append(groups[lang])
        return names

    # ---- adapter lookup (the contract adapter_io and adapter-only training rely on) ----
    def slot_of(self, language: str) -> str:
        """Name of the language-specific adapter ``language`` uses (its code, or its group)."""
        if language not in self.languages:
            raise ValueError(f"unknown language '{language}'; the adapters know {self.languages}")
        return self.groups[language] if self.groups else language

    def adapter(self, name: str) -> Adapter:
        """The adapter called ``name``: a language-specific adapter name or ``common``."""
        if name == COMMON and self.common is not None:
            return self.common
        if name in self.lang_adapters:
            return self.lang_adapters[name]
        raise KeyError(f"no adapter '{name}' in {self.adapter_names()}")

    def adapter_names(self) -> List[str]:
        return list(self.slots) + ([COMMON] if self.common is not None else [])

    def named_adapter_parameters(self, name: str) -> Iterator[Tuple[str, torch.nn.Parameter]]:
        """(name relative to this module, parameter) of adapter ``name``."""
        prefix = COMMON if name == COMMON else f"lang_adapters.{name}"
        for pname, p in self.adapter(name).named_parameters():
            yield f"{prefix}.{pname}", p

    # ---- routing ----
    def set_language(self, lang_ids: Optional[torch.Tensor]) -> None:
        """Oracle / hard routing: (B,) inventory indices (one-hot weights), or None to clear."""
        super().set_language(lang_ids)
        self.lang_weights, self.lang_off = None, False

    def set_language_weights(self, weights: Optional[torch.Tensor]) -> None:
        """Soft routing: weights over the inventory, (B, L) per utterance or (B, T, L) per frame; rows sum to 1."""
        if weights is not None and weights.shape[-1] != len(self.languages):
            raise ValueError(f"language weights have {weights.shape[-1]} columns for {len(self.languages)} "
                             f"languages {self.languages}")
        if weights is not None and weights.dim() == 2 and self.uniform_bottleneck \
                and bool(((weights == 0) | (weights == 1)).all()) and bool((weights.sum(-1) == 1).all()):
            # one-hot per utterance (hard routing, a tag given as weights): the oracle computation, bit for bit
            self.set_language(weights.argmax(-1))
            return
        super().set_language(None)
        self.lang_weights, self.lang_off = weights, False

    def switch_language_off(self) -> None:
        """Common adapter only (Δ_lang = 0): the language-agnostic first encoder pass of LID routing."""
        super().set_language(None)
        self.lang_weights, self.lang_off = None, True

    def routing_weights(self, batch_size: int) -> torch.Tensor:
        """Weights over the language-specific adapters, (B, 1, S) per utterance or (B, T, S) per frame."""
        if self.lang_weights is None:
            slot_ids = self.slot_of_lang[self.lang_ids_for(batch_size).to(self.slot_of_lang.device)]
            return torch.nn.functional.one_hot(slot_ids, len(self.slots)).to(self.lang_to_slot.dtype).unsqueeze(1)
        w = self.lang_weights
        if w.dim() == 2:
            w = w.unsqueeze(1)  # (B, 1, L): one weight vector for all frames of the utterance
        if w.shape[0] == 1 and batch_size != 1:
            w = w.expand(batch_size, -1, -1)  # beam search: one utterance's weights for all its hypotheses
        if w.shape[0] != batch_size:
            raise RuntimeError(f"DualAdapter: language weights for {w.shape[0]} utterances, batch of {batch_size}")
        return w @ self.lang_to_slot.to(w)

    def _stacked(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The S adapters as one: down (R, D) and its bias (R,) with each LayerNorm's affine folded in,
        up (D, R) and the up biases (S, D); R = Σ_s r_s.  Built from the parameters at every call with
        gradients (the state_dict keeps one Adapter per slot), so gradients reach each adapter's own.  Without
        gradients (decoding: once per beam-search step and layer) the stack is reused until a parameter is
        replaced or changed in place (its storage or version counter moves: optimizer step, load_state_dict)."""
        return self._cached("weighted", list(self.lang_adapters.values()), self._stack)

    def _cached(self, kind: str, mods: List[Adapter], build):
        if torch.is_grad_enabled():
            return build(mods)
        key = tuple((p.data_ptr(), p._version) for m in mods for p in m.parameters())
        hit = self._stack_cache.get(kind)
        if hit is None or hit[0] != key:
            hit = self._stack_cache[kind] = (key, build(mods))
        return hit[1]

    @staticmethod
    def _stack_uniform(mods: List[Adapter]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # Adapters of one bottleneck r as (K, r, D) down / (K, r) bias / (K, D, r) up / (K, D) up bias, LayerNorm
        # affine folded in as in _stack; one torch.stack per tensor, not a Python loop of products.
        w_down = torch.stack([m.down.weight for m in mods])
        beta = torch.stack([m.norm.bias for m in mods])
        down = w_down * torch.stack([m.norm.weight for m in mods]).unsqueeze(1)
        down_bias = torch.einsum("krd,kd->kr", w_down, beta) + torch.stack([m.down.bias for m in mods])
        return down, down_bias, torch.stack([m.up.weight for m in mods]), torch.stack([m.up.bias for m in mods])

    @staticmethod
    def _stack(mods: List[Adapter]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # W_d (LN0(h) * g + β) + b_d = (W_d · diag g) LN0(h) + (W_d β + b_d)
        down = torch.cat([m.down.weight * m.norm.weight for m in mods])
        down_bias = torch.cat([m.down.weight @ m.norm.bias + m.down.bias for m in mods])
        up = torch.cat([m.up.weight for m in mods], dim=1)
        up_bias = torch.stack([m.up.bias for m in mods])
        return down, down_bias, up, up_bias

    def language_delta(self, h: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Σ_s w_s Δ_s(h) for h (B, ..., D); weights (B, 1|T, S) from :meth:`routing_weights` by default."""
        b, d = h.shape[0], h.shape[-1]
        w = self.routing_weights(b) if weights is None else weights
        x = h.reshape(b, -1, d)  # (B, T, D)
        if w.shape[1] not in (1, x.shape[1]):
            raise RuntimeError(f"DualAdapter: frame weights for {w.shape[1]} frames, input has {x.shape[1]}")
        down, down_bias, up, up_bias = self._stacked()
        eps = next(iter(self.lang_adapters.values())).norm.eps
        z = torch.nn.functional.layer_norm(x, (d,), eps=eps)
        act = torch.relu(torch.nn.functional.linear(z, down, down_bias))  # (B, T, R): every adapter at once
        scale = w.repeat_interleave(self.slot_bottlenecks, dim=-1, output_size=down.shape[0])  # (B, 1|T, R)
        out = torch.nn.functional.linear(act * scale.to(act.dtype), up) + w.to(act.dtype) @ up_bias
        return out.reshape(h.shape)

    def gathered_delta(self, h: torch.Tensor, slot_ids: torch.Tensor) -> torch.Tensor:
        """Δ_{s_b}(h_b) + Δ_com(h_b) for h (B, ..., D) and one adapter slot per utterance, (B,): the one-hot case
        of :meth:`language_delta` plus the common adapter, as two batched matmuls (adapters of one bottleneck)."""
        if not self.uniform_bottleneck:
            raise RuntimeError("DualAdapter.gathered_delta needs one bottleneck size for every adapter of the layer")
        mods = list(self.lang_adapters.values()) + ([self.common] if self.common is not None else [])
        down, down_bias, up, up_bias = self._cached("uniform", mods, self._stack_uniform)
        b, d = h.shape[0], h.shape[-1]
        rows = slot_ids.reshape(b, 1)
        if self.common is not None:  # the common adapter is the stack's last entry, next to each utterance's own
            rows = torch.cat([rows, rows.new_full((b, 1), len(mods) - 1)], dim=1)
        k, r = rows.shape[1], down.shape[1]
        x = torch.nn.functional.layer_norm(h.reshape(b, -1, d), (d,), eps=mods[0].norm.eps)
        act = torch.relu(torch.baddbmm(down_bias[rows].reshape(b, 1, k * r), x,
                                       down[rows].reshape(b, k * r, d).transpose(1, 2)))  # (B, T, k r)
        up_rows = up[rows].permute(0, 2, 1, 3).reshape(b, d, k * r)  # (B, D, k r): both adapters' W_u side by side
        return torch.baddbmm(up_bias[rows].sum(1, keepdim=True), act, up_rows.transpose(1, 2)).reshape(h.shape)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, ..., size) -> (B, ..., size); row b uses the adapter of the b-th language id."""
        out = h
        if self.slots and not self.lang_off and self.lang_weights is None and self.uniform_bottleneck:
            out = out + self.gathered_delta(h, self.slot_of_lang[self.lang_ids_for(h.shape[0]).to(h.device)])
        else:
            if self.common is not None:
                out = out + self.common.delta(h)
            if self.slots and not self.lang_off:
                out = out + self.language_delta(h)
        if self.residual == "per_adapter" and self.mode == "dual":
            out = out + h  # o_lang + o_com: each adapter of eq. 4 carries its own "+ h"
        return out

    def extra_repr(self) -> str:
        grouped = f", groups={self.groups}" if self.groups else ""
        return f"mode={self.mode}, residual={self.residual}, languages={self.languages}{grouped}"
