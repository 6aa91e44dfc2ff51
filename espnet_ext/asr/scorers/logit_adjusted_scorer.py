"""Adjust-Inference: the attention term of joint CTC/attention beam search from prior-adjusted logits.

A2 paper (Sec. 2.5), eq. 11: ŷ = argmax_y {β·P_ctc(y|h) + (1−β)·p_adj}, with p_adj the softmax of the
adjusted logits f − τ·log π (eq. 5).  The wrapped decoder's scores are log-softmax outputs; since
log_softmax is invariant to a per-row constant, log_softmax(log p − τ·log π) = log_softmax(f − τ·log π)
for any decoder that follows ESPnet's (Batch)ScorerInterface — no retraining, τ chosen at decode time.

The wrapper stays under the beam-search key ``"decoder"`` (ESPnet special-cases that name for
``return_hs`` and ``pre_x``) and forwards every other call (init/select state, final score) unchanged.
With a per-language prior ((L, N)) it is :class:`LanguageConditioned`: the utterance's language is set
by ``espnet_ext.bin.asr_inference`` around each beam search.
"""

import contextlib
import logging
from pathlib import Path
from typing import Any, List, Optional

import torch
from espnet.nets.scorer_interface import BatchScorerInterface, ScorerInterface

from espnet_ext.asr.language_conditioning import LanguageConditioned
from espnet_ext.asr.logit_adjusted_model import LogitAdjustedASRModel
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from espnet_ext.asr.token_prior import TokenPrior

logger = logging.getLogger(__name__)

DECODER_KEY = "decoder"


class LogitAdjustedScorer(LanguageConditioned, BatchScorerInterface):
    """Full scorer returning log_softmax(decoder log-probs − τ·log π).

    Args:
        decoder: any ESPnet ScorerInterface decoder (batch scoring used when it has it).
        prior: (N,) token prior, or (L, N) one per language of the model's inventory; positive.
        tau: the adjustment strength τ >= 0.
    """

    def __init__(self, decoder: ScorerInterface, prior: torch.Tensor, tau: float):
        super().__init__()
        if not isinstance(decoder, ScorerInterface):
            raise TypeError(f"{type(decoder).__name__} does not implement ESPnet's ScorerInterface")
        if tau < 0:
            raise ValueError(f"logit adjustment tau must be >= 0, got {tau}")
        prior = torch.as_tensor(prior, dtype=torch.float32)
        if prior.dim() not in (1, 2) or not torch.isfinite(prior).all() or (prior <= 0).any():
            raise ValueError("the token prior must be a finite, positive (N,) or (L, N) tensor")
        self.decoder = decoder
        self.tau = float(tau)
        self.per_language = prior.dim() == 2
        # −τ·log π precomputed: one broadcast add per beam step.
        self.register_buffer("offset", -self.tau * prior.log(), persistent=False)

    def _adjust(self, logp: torch.Tensor) -> torch.Tensor:
        offset = self.offset
        if self.per_language:
            rows = logp.shape[0] if logp.dim() == 2 else 1
            offset = offset[self.lang_ids_for(rows).to(offset.device)].reshape(logp.shape)
        return torch.log_softmax(logp + offset.to(logp.dtype), dim=-1)

    # ---- ScorerInterface ----
    def init_state(self, x: torch.Tensor) -> Any:
        return self.decoder.init_state(x)

    def batch_init_state(self, x: torch.Tensor) -> Any:
        if isinstance(self.decoder, BatchScorerInterface):
            return self.decoder.batch_init_state(x)
        return self.decoder.init_state(x)

    def select_state(self, state: Any, i: int, new_id: Optional[int] = None) -> Any:
        return self.decoder.select_state(state, i, new_id)

    def final_score(self, state: Any) -> float:
        return self.decoder.final_score(state)

    def score(self, y: torch.Tensor, state: Any, x: torch.Tensor, *args, **kwargs):
        out = self.decoder.score(y, state, x, *args, **kwargs)
        # (logp, state) or, with return_hs, (logp, hs, state)
        return (self._adjust(out[0]),) + tuple(out[1:])

    def batch_score(self, ys: torch.Tensor, states: List[Any], xs: torch.Tensor, *args, **kwargs):
        if not isinstance(self.decoder, BatchScorerInterface):
            return super().batch_score(ys, states, xs)  # ESPnet's loop over score()
        scores, new_states = self.decoder.batch_score(ys, states, xs, *args, **kwargs)
        if isinstance(scores, tuple):  # return_hs: ((logp, hs), states)
            return (self._adjust(scores[0]), scores[1]), new_states
        return self._adjust(scores), new_states

    # ---- installing into a beam search ----
    @staticmethod
    def unwrap(beam_search) -> Optional[ScorerInterface]:
        """Put the raw decoder back under "decoder" (undoes :meth:`attach`); returns it."""
        current = beam_search.full_scorers.get(DECODER_KEY)
        if isinstance(current, LogitAdjustedScorer):
            LogitAdjustedScorer._replace(beam_search, current.decoder)
            return current.decoder
        return current

    @staticmethod
    def _replace(beam_search, scorer) -> None:
        beam_search.scorers[DECODER_KEY] = scorer
        beam_search.full_scorers[DECODER_KEY] = scorer
        if isinstance(scorer, torch.nn.Module):
            beam_search.nn_dict[DECODER_KEY] = scorer

    @staticmethod
    def resolve_prior(model, token_prior: Optional[str], per_language: bool) -> torch.Tensor:
        """The prior for decoding: from ``token_prior`` (checked against the model's token list) or else the
        one stored in a ``logit_adjusted`` model."""
        if token_prior is not None:
            prior = TokenPrior.read(Path(token_prior))
            prior.check_tokens(model.token_list, f"the model's token list ({len(model.token_list)} entries)")
            if not per_language:
                return torch.as_tensor(prior.priors, dtype=torch.float32)
            if not isinstance(model, MultilingualASRModel):
                raise ValueError("a per-language prior needs a multilingual model (model_conf.languages)")
            return torch.as_tensor(prior.matrix(model.languages), dtype=torch.float32)
        stored = model.stored_prior() if isinstance(model, LogitAdjustedASRModel) else None
        if stored is None:
            raise ValueError("logit adjustment at inference needs a token prior: the model carries none, "
                             "give --token_prior (espnet_ext.bin.compute_token_priors output)")
        if per_language and stored.dim() != 2:
            raise ValueError("the model stores a global prior; a per-language one needs --token_prior")
        return stored

    @classmethod
    def attach(cls, beam_search, model, tau: Optional[float] = None, token_prior: Optional[str] = None,
               per_language: bool = False) -> Optional["LogitAdjustedScorer"]:
        """Swap the beam search's "decoder" scorer for the wrapper (re-entrant: an earlier wrapper is removed).

        ``tau`` None: the model's own choice (Adjust-Train models decode from p_adj with their τ and stored
        prior; other models unchanged).  ``tau`` 0: the raw decoder, i.e. ESPnet's behaviour.  Otherwise
        log_softmax(raw − τ·log π) with the prior of ``token_prior`` or of the model.  Returns the wrapper
        or None when decoding is left unadjusted.
        """
        if beam_search is None:  # transducer / Hugging Face decoding: no ESPnet beam search to adjust
            if tau:
                raise ValueError("--logit_adjust_tau needs ESPnet's joint CTC/attention beam search")
            return None
        decoder = cls.unwrap(beam_search)
        if tau is None:
            default = model.inference_adjustment() if isinstance(model, LogitAdjustedASRModel) else None
            if default is None:
                if token_prior is not None:
                    raise ValueError("--token_prior given without --logit_adjust_tau (and the model is not an "
                                     "Adjust-Train model with a default tau)")
                return None
            tau = default[0]
        if tau < 0:
            raise ValueError(f"--logit_adjust_tau must be >= 0, got {tau}")
        if tau == 0:
            return None
        if decoder is None:
            raise ValueError("logit adjustment needs the attention decoder in the beam search (ctc_weight < 1)")
        prior = cls.resolve_prior(model, token_prior, per_language)
        if prior.shape[-1] != beam_search.n_vocab:
            raise ValueError(f"token prior has {prior.shape[-1]} entries but the beam search has {beam_search.n_vocab} "
                             "tokens")
        if prior.dim() == 2 and isinstance(model, MultilingualASRModel) and prior.shape[0] != len(model.languages):
            raise ValueError(f"per-language prior has {prior.shape[0]} rows for languages {model.languages}")
        wrapper = cls(decoder, prior, tau)
        ref = next(iter(decoder.parameters()), None) if isinstance(decoder, torch.nn.Module) else None
        if ref is not None:
            wrapper.to(device=ref.device)
        cls._replace(beam_search, wrapper)
        logger.info("Adjust-Inference: decoder scores = log_softmax(log p - %.3g log prior)%s", tau,
                    " per language" if wrapper.per_language else "")
        return wrapper

    @staticmethod
    @contextlib.contextmanager
    def language(beam_search, lang_ids: Optional[torch.Tensor]):
        """Expose the utterance's language ids to every language-conditioned scorer of the beam search."""
        scorers = beam_search.full_scorers.values() if beam_search is not None else ()
        conditioned = [s for s in scorers if isinstance(s, LanguageConditioned)]
        for s in conditioned:
            s.set_language(lang_ids)
        try:
            yield
        finally:
            for s in conditioned:
                s.set_language(None)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, per_language={self.per_language}"

