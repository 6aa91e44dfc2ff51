"""ESPnetASRModel whose batches carry each utterance's language (registered as model ``multilingual``).

The language inventory is fixed in the model config (``model_conf: {languages: [en, fr, ...]}``); the data
key ``lang`` holds indices into it (the recipe writes ``utt2lid`` from ``utt2lang``).  The model checks the
ids, names the utterance of a bad one, and hands them to every :class:`LanguageConditioned` submodule
(Dual-Adapters, LID vectors, ...).  With no such submodule it trains exactly like ``ESPnetASRModel``:
the SMT baseline of the A2 paper uses it that way so its language tags are validated all the same.
"""

import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from espnet2.asr.espnet_model import ESPnetASRModel

from espnet_ext.asr.language_conditioning import LanguageConditioned

LangInput = Union[None, int, Sequence[int], np.ndarray, torch.Tensor]


class MultilingualASRModel(ESPnetASRModel):
    """Hybrid CTC/attention model with per-utterance language conditioning.

    Args:
        languages: the language inventory; ``lang`` ids index into it.  Required: an empty inventory
            cannot validate tags.
        *args, **kwargs: everything ``ESPnetASRModel`` takes (ctc_weight, lsm_weight, ...).
    """

    def __init__(self, *args, languages: Optional[List[str]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        if not languages:
            raise ValueError("model_conf.languages must list the model's languages, e.g. [en, fr, zh]")
        if len(set(languages)) != len(languages):
            raise ValueError(f"model_conf.languages has duplicates: {languages}")
        self.languages = list(languages)

    def conditioned_modules(self) -> Iterator[LanguageConditioned]:
        return (m for m in self.modules() if isinstance(m, LanguageConditioned))

    def language_ids(self, lang: LangInput, batch_size: int, utt_id: Optional[Sequence[str]] = None) -> Optional[torch.Tensor]:
        """Turn the ``lang`` data key (B, 1), a list, an int or a language code into checked (B,) ids."""
        if lang is None:
            return None
        if isinstance(lang, str):
            if lang not in self.languages:
                raise ValueError(f"unknown language '{lang}'; the model knows {self.languages}")
            lang = self.languages.index(lang)
        ids = torch.as_tensor(np.asarray(lang) if not isinstance(lang, torch.Tensor) else lang).long().reshape(-1)
        if ids.numel() != batch_size:
            raise ValueError(f"{ids.numel()} language ids for a batch of {batch_size} utterances")
        bad = ((ids < 0) | (ids >= len(self.languages))).nonzero()
        if len(bad):
            i = int(bad[0])
            who = f"utterance '{utt_id[i]}'" if utt_id is not None else f"batch item {i}"
            raise ValueError(f"{who}: language id {int(ids[i])} is outside the inventory {self.languages}")
        return ids

    @contextlib.contextmanager
    def language_context(self, lang: LangInput, batch_size: int = 1, utt_id: Optional[Sequence[str]] = None):
        """Expose ``lang`` to every LanguageConditioned submodule inside the ``with`` block."""
        ids = self.language_ids(lang, batch_size, utt_id)
        if ids is not None:
            ids = ids.to(next(self.parameters()).device)
        modules = list(self.conditioned_modules())
        for m in modules:
            m.set_language(ids)
        try:
            yield ids
        finally:
            for m in modules:
                m.set_language(None)

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor, lang: Optional[torch.Tensor] = None,
                lang_lengths: Optional[torch.Tensor] = None, **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        with self.language_context(lang, speech.shape[0], kwargs.get("utt_id")):
            return super().forward(speech, speech_lengths, text, text_lengths, **kwargs)
