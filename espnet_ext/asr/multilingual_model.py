"""ESPnetASRModel whose batches carry each utterance's language (registered as model ``multilingual``).

The language inventory is fixed in the model config (``model_conf: {languages: [en, fr, ...]}``); the data
key ``lang`` holds indices into it (the recipe writes ``utt2lid`` from ``utt2lang``).  The model checks the
ids, names the utterance of a bad one, and hands them to every :class:`LanguageConditioned` submodule
(Dual-Adapters, LID vectors, ...).  With no such submodule it trains exactly like ``ESPnetASRModel``:
the SMT baseline of the A2 paper uses it that way so its language tags are validated all the same.

LID head (issue 20, docs/lid_routing.md): ``model_conf.lid_weight > 0`` adds a language-identification head
on the encoder output, trained jointly (``loss = loss_asr + lid_weight * loss_lid``; stats ``lid_loss`` /
``lid_acc``) from the ``lang`` key (``lid_level: utterance``) or from per-frame languages of the CTC forced
alignment (``lid_level: frame``, espnet_ext/asr/lid/frame_lid_targets.py).  It lets decoding route the
adapters without a tag (``lang_routing``).  ``lid_weight: 0`` (the default) builds no head: the state_dict
keys of existing confs and checkpoints are unchanged.  ``voice_adversary_weight > 0`` adds a voice classifier
behind a gradient reversal on the features the head reads (espnet_ext/asr/lid/voice_adversary.py; stats
``voice_loss`` / ``voice_acc``), so that they hold less of the training voices.
"""

import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from espnet2.asr.espnet_model import ESPnetASRModel

from espnet_ext.asr.language_conditioning import LanguageConditioned
from espnet_ext.asr.lid.language_id_head import LEVELS, LanguageIdHead
from espnet_ext.asr.lid.lid_loss import LidLoss
from espnet_ext.asr.lid.lid_router import LidRouter
from espnet_ext.asr.lid.voice_adversary import VoiceAdversary

# model_conf.lid_train_routing: what routes the real pass of a training (and validation) forward
TRAIN_ROUTINGS = ("tag", "frame_targets", "soft")

LangInput = Union[None, int, Sequence[int], np.ndarray, torch.Tensor]


class MultilingualASRModel(ESPnetASRModel):
    """Hybrid CTC/attention model with per-utterance language conditioning.

    Args:
        languages: the language inventory; ``lang`` ids index into it.  Required: an empty inventory
            cannot validate tags.
        lid_weight: weight of the LID loss added to the ASR loss; 0 (default): no LID head.
        lid_level: ``utterance`` (one language per utterance, from ``lang``) or ``frame`` (per-frame languages
            from the CTC forced alignment; routes the encoder adapters per frame, for code-switching).
        lid_script_languages: ``frame`` level: written script -> language (default ``{han: zh, latin: en}``,
            scripts of espnet_ext.asr.lid.frame_lid_targets.SCRIPTS); a token's language is its script's.
        lid_layers: encoder layers of the LID head's language-agnostic pass (None: all); fewer make the pass
            cheaper (docs/lid_routing.md).  ``utterance`` level only.
        lid_encoder_grad: False: the LID pass runs without autograd and the LID loss trains the head only.
        lid_exact_lengths: True: the head pools the frames each utterance has when encoded alone (as decoding
            encodes it), not the padded batch's mask, which counts up to 2 frames more (default False).
        lid_train_routing: how training routes the real pass: ``tag`` (the utterance's language, default) or
            ``frame_targets`` (``frame`` level: each frame by the language of its reference token, so a
            code-switched utterance trains the adapters frame routing will use) or ``soft`` (by the head's own
            posteriors, as ``soft`` decoding routes: training and decoding see the same mixtures); validation is
            routed as training is; docs/lid_routing.md).
        lid_head_pooling: ``mean`` (default) or ``stats`` (mean and standard deviation over the frames;
            ``utterance`` level only) pooling of the LID head (espnet_ext/asr/lid/language_id_head.py).
        lid_head_hidden: units of the LID head's ReLU hidden layer; 0 (default): a linear head.
        lid_crop_range: ``[lo, hi]``: in training, the utterance-level head pools a random window of a share
            U(lo, hi) of each utterance's frames (short-utterance LID); None (default): every frame.
        voice_adversary_weight: weight of the voice classifier's loss on the LID features, trained against the
            encoder through a gradient reversal (speaker-invariant training); 0 (default): none is built.
        voice_adversary_voices: the training voices the classifier tells apart.
        voice_adversary_regex: pattern whose first group, searched in an utterance id, is its voice.
        voice_adversary_reversal: lambda, the scale of the reversed gradient reaching the encoder (default 1).
        voice_adversary_hidden: units of the classifier's ReLU hidden layer (default 256; 0: linear).
        *args, **kwargs: everything ``ESPnetASRModel`` takes (ctc_weight, lsm_weight, ...).
    """

    def __init__(self, *args, languages: Optional[List[str]] = None, lid_weight: float = 0.0,
                 lid_level: str = "utterance", lid_script_languages: Optional[Dict[str, str]] = None,
                 lid_layers: Optional[int] = None, lid_encoder_grad: bool = True, lid_exact_lengths: bool = False,
                 lid_train_routing: str = "tag",
                 lid_head_pooling: str = "mean", lid_head_hidden: int = 0,
                 lid_crop_range: Optional[List[float]] = None, voice_adversary_weight: float = 0.0,
                 voice_adversary_voices: Optional[List[str]] = None, voice_adversary_regex: Optional[str] = None,
                 voice_adversary_reversal: float = 1.0, voice_adversary_hidden: int = 256, **kwargs):
        super().__init__(*args, **kwargs)
        if not languages:
            raise ValueError("model_conf.languages must list the model's languages, e.g. [en, fr, zh]")
        if len(set(languages)) != len(languages):
            raise ValueError(f"model_conf.languages has duplicates: {languages}")
        self.languages = list(languages)
        if not lid_weight >= 0:
            raise ValueError(f"model_conf.lid_weight must be >= 0, got {lid_weight}")
        if lid_level not in LEVELS:
            raise ValueError(f"model_conf.lid_level must be one of {LEVELS}, got '{lid_level}'")
        if not isinstance(lid_encoder_grad, bool):
            raise ValueError(f"model_conf.lid_encoder_grad must be true or false, got {lid_encoder_grad!r}")
        if not isinstance(lid_exact_lengths, bool):
            raise ValueError(f"model_conf.lid_exact_lengths must be true or false, got {lid_exact_lengths!r}")
        if lid_layers is not None and (isinstance(lid_layers, bool) or not isinstance(lid_layers, int)):
            raise ValueError(f"model_conf.lid_layers must be an integer number of encoder layers, got {lid_layers!r}")
        if lid_train_routing not in TRAIN_ROUTINGS:
            raise ValueError(f"model_conf.lid_train_routing must be one of {TRAIN_ROUTINGS}, got '{lid_train_routing}'")
        if lid_train_routing == "soft" and lid_weight == 0:
            raise ValueError("model_conf.lid_train_routing 'soft' routes training by the LID head's posteriors: "
                             "set lid_weight > 0")
        if lid_train_routing == "frame_targets" and (lid_level != "frame" or lid_weight == 0):
            raise ValueError("model_conf.lid_train_routing 'frame_targets' routes training by the frame targets of "
                             "a frame-level LID head: set lid_level frame and lid_weight > 0")
        if lid_weight == 0 and (lid_layers is not None or not lid_encoder_grad or lid_exact_lengths):
            raise ValueError("model_conf.lid_layers, lid_encoder_grad and lid_exact_lengths configure the LID head's "
                             "pass, and lid_weight 0 builds no head: set lid_weight > 0 or drop them")
        if lid_layers is not None and lid_level == "frame":
            raise ValueError("model_conf.lid_layers needs lid_level 'utterance': the frame targets come from the "
                             "CTC alignment of the LID pass, which needs every encoder layer")
        if lid_weight == 0 and (lid_head_pooling != "mean" or lid_head_hidden != 0):
            raise ValueError("model_conf.lid_head_pooling and lid_head_hidden shape the LID head, and lid_weight 0 "
                             "builds none: set lid_weight > 0 or drop them")
        if lid_head_pooling == "stats" and lid_level == "frame":
            raise ValueError("model_conf.lid_head_pooling 'stats' pools an utterance's frames into one vector; "
                             "lid_level 'frame' classifies each frame: use lid_head_pooling mean")
        if lid_crop_range is not None and (lid_weight == 0 or lid_level == "frame"):
            raise ValueError("model_conf.lid_crop_range crops the frames an utterance-level LID head pools in "
                             "training: it needs lid_weight > 0 and lid_level utterance")
        if isinstance(voice_adversary_weight, bool) or not isinstance(voice_adversary_weight, (int, float)) \
                or not voice_adversary_weight >= 0:
            raise ValueError(f"model_conf.voice_adversary_weight must be a number >= 0, got {voice_adversary_weight!r}")
        if voice_adversary_weight > 0 and lid_weight == 0:
            raise ValueError("model_conf.voice_adversary_weight trains the features the LID head reads against a "
                             "voice classifier, and lid_weight 0 builds no head: set lid_weight > 0")
        if voice_adversary_weight == 0 and (voice_adversary_voices is not None or voice_adversary_regex is not None):
            raise ValueError("model_conf.voice_adversary_voices / voice_adversary_regex configure the voice "
                             "adversary, and voice_adversary_weight 0 builds none: set a weight > 0 or drop them")
        self.lid_weight = float(lid_weight)
        self.voice_adversary_weight = float(voice_adversary_weight)
        self.voice_adversary: Optional[VoiceAdversary] = None
        self.lid_train_routing = lid_train_routing
        self.lid_head: Optional[LanguageIdHead] = None
        self.lid_router: Optional[LidRouter] = None
        self.lid_loss: Optional[LidLoss] = None
        if self.lid_weight > 0:
            self.lid_head = LanguageIdHead(self.encoder.output_size(), len(self.languages), lid_head_pooling,
                                           lid_head_hidden, lid_crop_range)
            self.lid_router = LidRouter(self, lid_level, lid_layers, lid_encoder_grad, lid_exact_lengths)
            self.lid_loss = LidLoss(self, lid_level, lid_script_languages)
            self.lid_router.target_fn = self.lid_loss.frame_targets_of
        if self.voice_adversary_weight > 0:
            self.voice_adversary = VoiceAdversary(self.encoder.output_size(), voice_adversary_voices,
                                                  voice_adversary_regex, voice_adversary_reversal,
                                                  voice_adversary_hidden)

    def set_lang_routing(self, routing: Optional[str], frame_smoothing: int = 1, temperature: float = 1.0,
                         logit_bias: Optional[torch.Tensor] = None) -> None:
        """``oracle`` / ``hard`` / ``soft`` routing of the adapters (None: oracle with a tag, else soft);
        ``frame_smoothing``: frames of the moving average over a frame-level head's posteriors (1: none);
        ``temperature``: soft routing mixes the adapters by softmax(LID logits / temperature) (1: the posteriors);
        ``logit_bias``: (L,) added to the head's logits (``--lid_calibration``; None: none)."""
        if temperature != 1 and self.lid_router is None:
            raise ValueError(f"lid_temperature {temperature} scales a LID head's logits for soft routing; this model "
                             "has none (model_conf.lid_weight 0): leave lid_temperature 1")
        if logit_bias is not None and self.lid_router is None:
            raise ValueError("lid_calibration biases a LID head's logits; this model has none "
                             "(model_conf.lid_weight 0): decode without lid_calibration")
        if frame_smoothing != 1 and (self.lid_router is None or self.lid_router.level != "frame"):
            raise ValueError(f"lid_frame_smoothing {frame_smoothing} smooths the posteriors of a frame-level LID "
                             "head (model_conf.lid_level frame); this model has "
                             + ("none" if self.lid_router is None else "an utterance-level one")
                             + ": leave lid_frame_smoothing 1")
        if self.lid_router is not None:
            self.lid_router.set_frame_smoothing(frame_smoothing)  # 1 also undoes an earlier window
            self.lid_router.set_temperature(temperature)  # 1 also undoes an earlier temperature
            self.lid_router.set_logit_bias(logit_bias)  # None also undoes an earlier bias
        if routing in (None, "oracle"):
            if self.lid_router is not None:
                self.lid_router.set_routing(routing)
            return
        if self.lid_router is None:
            raise ValueError(f"lang_routing '{routing}' routes by the LID head, but this model has none "
                             "(trained with model_conf.lid_weight 0): decode with lang_routing oracle and a language")
        self.lid_router.set_routing(routing)

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
        if self.lid_loss is None:
            with self.language_context(lang, speech.shape[0], kwargs.get("utt_id")):
                return super().forward(speech, speech_lengths, text, text_lengths, **kwargs)
        text_in, lengths_in = text.clone(), text_lengths.clone()  # ESPnet's forward edits text in place
        if self.lid_train_routing == "frame_targets":
            # the real pass is routed by them, in validation too: routed by its tag instead, a code-switched
            # dev utterance would go through the 'cs' adapter that training never routes a frame to, and the
            # validation loss / accuracy that pick the checkpoint would measure a model nobody decodes with
            self.lid_router.train_targets = (text_in, lengths_in)
        given_routing = self.lid_router.routing
        if self.lid_train_routing == "soft":
            self.lid_router.set_routing("soft")  # the tag still feeds the LID loss, it routes nothing
        try:
            with self.language_context(lang, speech.shape[0], kwargs.get("utt_id")) as ids:
                self.lid_router.last = None
                loss, stats, weight = super().forward(speech, speech_lengths, text, text_lengths, **kwargs)
                loss_lid, acc_lid = self.lid_loss(self.lid_router.last, ids, text_in, lengths_in)
                lid = self.lid_router.last
        finally:
            self.lid_router.train_targets = None
            self.lid_router.set_routing(given_routing)
        loss = loss + self.lid_weight * loss_lid
        stats.update(lid_loss=loss_lid.detach().reshape(1), lid_acc=acc_lid.reshape(1))
        if self.voice_adversary is not None:
            # the classifier descends on L_voice, the encoder below the LID features ascends (gradient reversal)
            loss_voice, acc_voice = self.voice_adversary(lid.features, lid.lengths, kwargs.get("utt_id"))
            loss = loss + self.voice_adversary_weight * loss_voice
            stats.update(voice_loss=loss_voice.detach().reshape(1) if acc_voice is not None else None,
                         voice_acc=acc_voice.reshape(1) if acc_voice is not None else None)
        stats.update(loss=loss.detach())
        return loss, stats, weight
