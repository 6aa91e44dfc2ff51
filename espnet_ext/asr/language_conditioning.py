"""The contract by which a per-utterance language tag reaches the modules that route on it.

ESPnet's ``encode()``, decoders and beam-search scorers carry no language argument.  A module that routes
on the language (an adapter layer, a language-vector input) subclasses :class:`LanguageConditioned`;
:class:`~espnet_ext.asr.multilingual_model.MultilingualASRModel` sets the batch's language ids on every
such module for the duration of one forward pass or one utterance's beam search, then clears them.
"""

from typing import List, Optional, Sequence

import torch


def require_languages(conf_key: str, languages: Optional[Sequence[str]]) -> List[str]:
    """The language inventory a language-conditioned encoder / decoder was given under ``conf_key``.

    ``MultilingualASRTask`` copies ``model_conf.languages`` into the conf, so an empty inventory means the
    model conf lacks it; the error says where to set it.
    """
    if not languages:
        raise ValueError(f"{conf_key}.languages is empty: set model_conf.languages (MultilingualASRTask "
                         f"copies it into {conf_key}) or give {conf_key}.languages")
    return list(languages)


class LanguageConditioned(torch.nn.Module):
    """Base for modules that read the current batch's language ids (``self.lang_ids``, shape (B,))."""

    def __init__(self):
        super().__init__()
        self.lang_ids: Optional[torch.Tensor] = None

    def set_language(self, lang_ids: Optional[torch.Tensor]) -> None:
        """(B,) long tensor of indices into the model's language inventory, or None to clear."""
        self.lang_ids = lang_ids

    def lang_ids_for(self, batch_size: int) -> torch.Tensor:
        """Language ids expanded to ``batch_size`` rows.

        In beam search one utterance's hypotheses are scored as a batch: a single id is broadcast.
        """
        if self.lang_ids is None:
            raise RuntimeError(
                f"{type(self).__name__} routes on the utterance's language but none was given: give it "
                "(espnet_ext.bin.transcribe --lang CODE; asr_inference --utt2lang FILE; Speech2Text(..., lang=...)), "
                "or train the model with a language-ID head (model_conf.lid_weight > 0, docs/lid_routing.md) to "
                "decode without one"
            )
        ids = self.lang_ids
        if ids.numel() == 1 and batch_size != 1:
            return ids.reshape(1).expand(batch_size)
        if ids.numel() != batch_size:
            raise RuntimeError(f"{type(self).__name__}: {ids.numel()} language ids for a batch of {batch_size}")
        return ids.reshape(batch_size)
