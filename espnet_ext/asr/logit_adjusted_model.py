"""Adjust-Train: decoder logits adjusted by token priors in the attention loss (registered as model
``logit_adjusted``).  A2 paper (Sec. 2.5): eqs. 7-9 (f_adj = f − τ·log π, softmax of f_adj in the KL loss
with label smoothing), eq. 10 (scheduled sampling from the argmax of the adjusted output); and, selectable,
the logit-adjusted loss of Menon et al. 2020 (softmax of f + τ·log π in the loss, raw f at inference).

``model_conf``::

    logit_adjustment: adjust_train   # none | adjust_train | menon
    tau: 0.3                         # τ of eqs. 5/8 (paper: 0.3)
    token_prior: PATH                # espnet_ext.bin.compute_token_priors output; null: loaded from a checkpoint
    per_language_prior: false        # one prior per language of model_conf.languages (needs the 'lang' key)
    adjusted_inference: true         # adjust_train decodes with f − τ·log π (espnet_ext.bin.asr_inference)
    ss_prob_start: 0.0               # scheduled sampling (eq. 10): probability of feeding the model's own
    ss_prob_end: 0.0                 #   argmax instead of the reference token, rising linearly from start
    ss_start_step: 0                 #   to end over ss_ramp_steps training forward passes after
    ss_ramp_steps: 0                 #   ss_start_step (0 ramp steps: a step change)

The prior lives in the persistent buffer ``token_prior`` ((N,) or (L, N)), so a trained model decodes
without the prior file.  A model built with ``token_prior: null`` (or a path that does not exist) holds
NaN there until a checkpoint is loaded: ESPnet's dry-run and ``build_model_from_file`` work, and
training / validation with an adjustment refuse to start with a message saying how to make the prior.
See docs/logit_adjustment.md.
"""

import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from espnet.nets.pytorch_backend.nets_utils import th_accuracy
from espnet.nets.pytorch_backend.transformer.add_sos_eos import add_sos_eos

from espnet_ext.asr.multilingual_model import MultilingualASRModel
from espnet_ext.asr.token_prior import TokenPrior

logger = logging.getLogger(__name__)

ADJUSTMENTS = ("none", "adjust_train", "menon")


class LogitAdjustedASRModel(MultilingualASRModel):
    """Multilingual hybrid CTC/attention model trained with prior-adjusted decoder logits.

    Args:
        logit_adjustment: ``none``, ``adjust_train`` (A2 eq. 8: f − τ log π in the loss and at inference)
            or ``menon`` (Menon et al. 2020: f + τ log π in the loss, raw f at inference).
        tau: the adjustment strength τ >= 0 (paper: 0.3).
        token_prior: path of a prior file from ``espnet_ext.bin.compute_token_priors``; None when the prior
            comes from a checkpoint (decoding, dry runs).
        per_language_prior: use the prior of each utterance's language instead of the global one.
        adjusted_inference: with ``adjust_train``, decode (and pick scheduled-sampling tokens, eq. 10)
            from the adjusted distribution; False uses the raw logits.
        ss_prob_start: scheduled-sampling probability at ``ss_start_step``.
        ss_prob_end: scheduled-sampling probability after the ramp (0 with ss_prob_start 0: disabled).
        ss_start_step: training forward passes before scheduled sampling starts.
        ss_ramp_steps: forward passes over which the probability rises linearly from start to end.
        *args, **kwargs: everything ``MultilingualASRModel`` takes (languages, ctc_weight, lsm_weight, ...).
    """

    def __init__(self, *args, logit_adjustment: str = "adjust_train", tau: float = 0.3,
                 token_prior: Optional[str] = None, per_language_prior: bool = False,
                 adjusted_inference: bool = True, ss_prob_start: float = 0.0, ss_prob_end: float = 0.0,
                 ss_start_step: int = 0, ss_ramp_steps: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        if logit_adjustment not in ADJUSTMENTS:
            raise ValueError(f"model_conf.logit_adjustment must be one of {ADJUSTMENTS}, got '{logit_adjustment}'")
        if not tau >= 0:
            raise ValueError(f"model_conf.tau must be >= 0, got {tau}")
        for key, p in (("ss_prob_start", ss_prob_start), ("ss_prob_end", ss_prob_end)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"model_conf.{key} must be a probability in [0, 1], got {p}")
        if ss_start_step < 0 or ss_ramp_steps < 0:
            raise ValueError(f"model_conf.ss_start_step/ss_ramp_steps must be >= 0, got {ss_start_step}/{ss_ramp_steps}")
        if self.decoder is None and (logit_adjustment != "none" or ss_prob_end > 0 or ss_prob_start > 0):
            raise ValueError("logit adjustment / scheduled sampling need the attention decoder (ctc_weight < 1)")
        if self.lang_token_id is not None:
            raise ValueError("model 'logit_adjusted' does not support model_conf.lang_token_id")
        self.logit_adjustment = logit_adjustment
        self.tau = float(tau)
        self.per_language_prior = per_language_prior
        self.adjusted_inference = adjusted_inference
        self.ss_prob_start, self.ss_prob_end = float(ss_prob_start), float(ss_prob_end)
        self.ss_start_step, self.ss_ramp_steps = int(ss_start_step), int(ss_ramp_steps)
        self.token_prior_path = token_prior
        shape = (len(self.languages), self.vocab_size) if per_language_prior else (self.vocab_size,)
        # NaN = "no prior yet"; a checkpoint's buffer replaces it (load_state_dict), so does the file below.
        self.register_buffer("token_prior", torch.full(shape, float("nan")))
        # Training forward passes seen: drives the scheduled-sampling ramp and resumes with the checkpoint.
        self.register_buffer("ss_step", torch.zeros((), dtype=torch.long))
        if token_prior is not None:
            if Path(token_prior).is_file():
                self.token_prior.copy_(torch.as_tensor(self.read_prior(token_prior), dtype=torch.float32))
            else:
                # Decoding a copied experiment must not need the file: the checkpoint carries the prior.
                logger.warning("model_conf.token_prior %s does not exist; the prior must come from a checkpoint",
                               token_prior)
        self._batch_lang: Optional[torch.Tensor] = None

    # ---- the prior ----
    def read_prior(self, path: str):
        """The prior of ``path`` checked against the token list and, per language, model_conf.languages."""
        prior = TokenPrior.read(Path(path))
        prior.check_tokens(self.token_list, f"the model's token list (--token_list, {self.vocab_size} entries)")
        return prior.matrix(self.languages) if self.per_language_prior else prior.priors

    def has_prior(self) -> bool:
        return not bool(torch.isnan(self.token_prior).any())

    def stored_prior(self) -> Optional[torch.Tensor]:
        """The prior carried by the model ((N,) or (L, N)), or None when it has none."""
        return self.token_prior.detach().clone() if self.has_prior() else None

    def inference_adjustment(self) -> Optional[Tuple[float, torch.Tensor]]:
        """(τ, prior) that decoding applies by default: Adjust-Train models decode from p_adj."""
        if self.logit_adjustment == "adjust_train" and self.adjusted_inference and self.tau > 0:
            return self.tau, self.stored_prior()
        return None

    def _require_prior(self) -> None:
        if not self.has_prior():
            where = (f"model_conf.token_prior {self.token_prior_path} does not exist" if self.token_prior_path
                     else "model_conf.token_prior is null")
            raise RuntimeError(
                f"logit_adjustment={self.logit_adjustment} needs token priors but {where} and none was loaded from a "
                "checkpoint: run python -m espnet_ext.bin.compute_token_priors --text <train>/text --token_list ... "
                "--bpemodel ... --out <exp>/token_prior.txt and pass --model_conf token_prior=<exp>/token_prior.txt")

    def _log_prior(self, batch_size: int) -> torch.Tensor:
        """log π broadcastable to decoder logits (B, L, N): (N,) or per utterance (B, 1, N)."""
        log_prior = self.token_prior.log()
        if not self.per_language_prior:
            return log_prior
        if self._batch_lang is None:
            raise RuntimeError("per_language_prior needs each utterance's language: train with the 'lang' data key")
        return log_prior[self._batch_lang.to(log_prior.device)].reshape(batch_size, 1, -1)

    def _offsets(self, batch_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Additive logit offsets (loss, inference): eq. 8 for adjust_train, Menon et al. for menon."""
        zero = torch.zeros((), device=self.token_prior.device)
        if self.logit_adjustment == "none" or self.tau == 0:
            return zero, zero
        log_prior = self._log_prior(batch_size)
        if self.logit_adjustment == "menon":
            return self.tau * log_prior, zero
        adjusted = -self.tau * log_prior  # eq. 8: f_adj = f − τ log π
        return adjusted, adjusted if self.adjusted_inference else zero

    # ---- scheduled sampling (eq. 10) ----
    def sampling_probability(self, step: Optional[int] = None) -> float:
        """Probability of feeding the model's own argmax at training forward pass ``step``."""
        step = int(self.ss_step) if step is None else step
        if step < self.ss_start_step:
            return 0.0
        if self.ss_ramp_steps == 0:
            return self.ss_prob_end
        frac = min(1.0, (step - self.ss_start_step) / self.ss_ramp_steps)
        return self.ss_prob_start + (self.ss_prob_end - self.ss_prob_start) * frac

    def _sampled_inputs(self, encoder_out, encoder_out_lens, ys_in, ys_in_lens, ys_pad_lens, prob, infer_offset):
        """Two-pass scheduled sampling for transformers: a teacher-forced pass without gradient predicts
        every position at once; each reference input token y_{t-1} (t >= 2) is then replaced, with
        probability ``prob``, by argmax_y p_adj(y | y_<t-1) of that pass (eq. 10)."""
        with torch.no_grad():
            first, _ = self.decoder(encoder_out, encoder_out_lens, ys_in, ys_in_lens)  # (B, L+1, N)
            predicted = (first + infer_offset).argmax(dim=-1)  # predicted[:, t] guesses ys_in[:, t+1]
        batch, width = ys_in.shape[0], ys_in.shape[1] - 1
        positions = torch.arange(width, device=ys_in.device).unsqueeze(0)  # (1, L)
        replace = (torch.rand(batch, width, device=ys_in.device) < prob) & (positions < ys_pad_lens.unsqueeze(1))
        mixed = ys_in.clone()
        mixed[:, 1:] = torch.where(replace, predicted[:, :-1], ys_in[:, 1:])
        return mixed

    # ---- training ----
    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor, lang: Optional[torch.Tensor] = None,
                lang_lengths: Optional[torch.Tensor] = None, **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        if self.logit_adjustment != "none" and self.tau > 0:
            self._require_prior()
        if self.per_language_prior:
            if lang is None:
                raise RuntimeError("per_language_prior needs the 'lang' data key (utt2lid) in every batch")
            self._batch_lang = self.language_ids(lang, speech.shape[0], kwargs.get("utt_id"))
        try:
            out = super().forward(speech, speech_lengths, text, text_lengths, lang=lang, lang_lengths=lang_lengths,
                                  **kwargs)
        finally:
            self._batch_lang = None
        if self.training:
            self.ss_step += 1
        return out

    def _calc_att_loss(self, encoder_out: torch.Tensor, encoder_out_lens: torch.Tensor, ys_pad: torch.Tensor,
                       ys_pad_lens: torch.Tensor):
        ys_in_pad, ys_out_pad = add_sos_eos(ys_pad, self.sos, self.eos, self.ignore_id)
        ys_in_lens = ys_pad_lens + 1
        loss_offset, infer_offset = self._offsets(ys_pad.shape[0])
        prob = self.sampling_probability() if self.training else 0.0
        if prob > 0:
            ys_in_pad = self._sampled_inputs(encoder_out, encoder_out_lens, ys_in_pad, ys_in_lens, ys_pad_lens,
                                             prob, infer_offset)
        logits, _ = self.decoder(encoder_out, encoder_out_lens, ys_in_pad, ys_in_lens)  # (B, L+1, N)
        # LabelSmoothingLoss applies log_softmax itself: KL with label smoothing on softmax(f + offset).
        loss_att = self.criterion_att(logits + loss_offset, ys_out_pad)
        # Accuracy / CER on the distribution decoding uses (adjusted for adjust_train, raw for menon).
        infer_logits = logits + infer_offset
        acc_att = th_accuracy(infer_logits.view(-1, self.vocab_size), ys_out_pad, ignore_label=self.ignore_id)
        if self.training or self.error_calculator is None:
            cer_att, wer_att = None, None
        else:
            cer_att, wer_att = self.error_calculator(infer_logits.argmax(dim=-1).cpu(), ys_pad.cpu())
        return loss_att, acc_att, cer_att, wer_att
