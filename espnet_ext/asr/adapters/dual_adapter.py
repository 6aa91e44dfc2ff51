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

Routing: the module reads the batch's language ids (``LanguageConditioned``).  With one bottleneck size
for all language-specific adapters, every utterance gathers its adapter's weights and the whole batch
runs as one batched matmul (a fixed number of ops for any mix of languages, no host synchronisation).
With per-language bottlenecks the batch is sorted by adapter and each adapter runs once on its slice.
Never a Python loop over utterances.  A single id (beam search over one utterance's hypotheses) goes
straight to its adapter.
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
        self._same_bottleneck = len({a.bottleneck for a in self.lang_adapters.values()}) <= 1
        # language index -> index of its language-specific adapter in self.slots
        slot_of = [slot_names.index(self.slot_of(lang)) for lang in self.languages] if slot_names else []
        self.register_buffer("slot_of_lang", torch.tensor(slot_of, dtype=torch.long), persistent=False)
        self._route_cache: Optional[Tuple[torch.Tensor, int, tuple]] = None

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
        super().set_language(lang_ids)
        self._route_cache = None

    def _routing(self, batch_size: int) -> tuple:
        """((slot, count), ...) in sorted order, plus the sort and inverse permutations (None: one slot)."""
        cache = self._route_cache
        if cache is not None and cache[0] is self.lang_ids and cache[1] == batch_size:
            return cache[2]
        ids = self.lang_ids_for(batch_size)
        slot_ids = self.slot_of_lang.to(ids.device)[ids]  # (B,)
        if self.lang_ids.numel() == 1:
            route = (((self.slots[int(slot_ids[0])], batch_size),), None, None)
        else:
            counts = torch.bincount(slot_ids, minlength=len(self.slots)).tolist()
            present = tuple((self.slots[i], c) for i, c in enumerate(counts) if c > 0)
            if len(present) == 1:
                route = (present, None, None)
            else:
                order = torch.argsort(slot_ids, stable=True)
                inverse = torch.empty_like(order)
                inverse[order] = torch.arange(batch_size, device=order.device)
                route = (present, order, inverse)
        self._route_cache = (self.lang_ids, batch_size, route)
        return route

    def language_delta(self, h: torch.Tensor) -> torch.Tensor:
        """Σ Δ_lang(h) with each utterance (row of ``h``) sent to its own language's adapter."""
        if (self.lang_ids is not None and self.lang_ids.numel() == 1) or not self._same_bottleneck:
            return self._grouped_delta(h)
        return self._gathered_delta(h)

    def _grouped_delta(self, h: torch.Tensor) -> torch.Tensor:
        # One call per adapter present: sort the batch by adapter, run each on its slice, restore the order.
        present, order, inverse = self._routing(h.shape[0])
        if order is None:
            return self.lang_adapters[present[0][0]].delta(h)
        chunks = h.index_select(0, order).split([c for _, c in present])
        deltas = [self.lang_adapters[slot].delta(chunk) for (slot, _), chunk in zip(present, chunks)]
        return torch.cat(deltas).index_select(0, inverse)

    def _gathered_delta(self, h: torch.Tensor) -> torch.Tensor:
        # Every row gathers its adapter's weights and all rows run as one batched matmul: a fixed number of
        # ops whatever the number of languages in the batch, and no host synchronisation (same bottleneck).
        b, d = h.shape[0], h.shape[-1]
        slot_ids = self.slot_of_lang.to(h.device)[self.lang_ids_for(b)]  # (B,)
        mods = list(self.lang_adapters.values())

        def gather(get):
            return torch.stack([get(m) for m in mods])[slot_ids]

        x = h.reshape(b, -1, d)  # (B, T, D)
        z = torch.nn.functional.layer_norm(x, (d,), eps=mods[0].norm.eps)
        z = z * gather(lambda m: m.norm.weight).unsqueeze(1) + gather(lambda m: m.norm.bias).unsqueeze(1)
        u = torch.baddbmm(gather(lambda m: m.down.bias).unsqueeze(1), z,
                          gather(lambda m: m.down.weight).transpose(1, 2))  # (B, T, r)
        out = torch.baddbmm(gather(lambda m: m.up.bias).unsqueeze(1), torch.relu(u),
                            gather(lambda m: m.up.weight).transpose(1, 2))  # (B, T, D)
        return out.reshape(h.shape)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, ..., size) -> (B, ..., size); row b uses the adapter of the b-th language id."""
        out = h
        if self.common is not None:
            out = out + self.common.delta(h)
        if self.slots:
            out = out + self.language_delta(h)
        if self.residual == "per_adapter" and self.mode == "dual":
            out = out + h  # o_lang + o_com: each adapter of eq. 4 carries its own "+ h"
        return out

    def extra_repr(self) -> str:
        grouped = f", groups={self.groups}" if self.groups else ""
        return f"mode={self.mode}, residual={self.residual}, languages={self.languages}{grouped}"
