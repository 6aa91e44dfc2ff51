"""The LID loss of the joint training (issue 20): cross-entropy of the LID head, per utterance or per frame.

    utterance level:  L_lid = CE(z, lang)                                     z: mean-pooled logits (B, L)
    frame level:      L_lid = mean over target frames of CE(z_t, lang_t)      lang_t: frame_lid_targets

The model adds ``lid_weight * L_lid`` to ESPnet's hybrid CTC/attention loss.  The head reads the features of
the LID pass (lid_router.py), so its gradient reaches the head and, through that pass, the shared encoder.
"""

from typing import Dict, Optional, Tuple

import torch

from espnet_ext.asr.lid.frame_lid_targets import FrameLidTargets


class LidLoss(torch.nn.Module):
    """Cross-entropy and accuracy of the LID head against the utterance or frame languages.

    Args:
        model: the multilingual model (its CTC, token list and languages; not kept as a submodule).
        level: ``utterance`` or ``frame``.
        script_languages: frame level: script -> language code (see :class:`FrameLidTargets`).
    """

    def __init__(self, model: torch.nn.Module, level: str, script_languages: Optional[Dict[str, str]]):
        super().__init__()
        self.level = level
        self.frame_targets: Optional[FrameLidTargets] = None
        if level == "frame":
            if getattr(model, "ctc", None) is None:
                raise ValueError("model_conf.lid_level 'frame' takes its targets from the CTC forced alignment: "
                                 "set model_conf.ctc_weight > 0")
            self.frame_targets = FrameLidTargets(model.token_list, model.languages, script_languages,
                                                 blank_id=model.blank_id)
        self._ctc = [getattr(model, "ctc", None)]  # a list: not registered as a submodule of this module

    def frame_targets_of(self, features: torch.Tensor, lengths: torch.Tensor, text: torch.Tensor,
                         text_lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) language of each frame (-1: none) from the CTC forced alignment of the reference under the
        model's CTC posteriors of ``features`` (no gradient)."""
        with torch.no_grad():
            log_probs = self._ctc[0].log_softmax(features.detach())
            return self.frame_targets(log_probs, lengths, text, text_lengths)

    def forward(self, lid, lang_ids: Optional[torch.Tensor], text: torch.Tensor,
                text_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(loss, accuracy) of the last encoded batch's LID output ``lid`` (a LidOutput)."""
        if lid is None:
            raise RuntimeError("the LID head did not run in this forward pass (was model.encode bypassed?)")
        if self.level == "utterance":
            if lang_ids is None:
                raise ValueError("model_conf.lid_weight > 0 with lid_level 'utterance' trains the LID head on each "
                                 "utterance's language: add <dir>/utt2lid,lang,text_int to the training data")
            logits = lid.utterance_logits
            targets = lang_ids.to(logits.device)
        else:
            frames = lid.frame_targets  # computed for the routing already (lid_train_routing frame_targets)
            if frames is None:
                frames = self.frame_targets_of(lid.features, lid.lengths, text, text_lengths)
            keep = frames >= 0
            logits, targets = lid.frame_logits[keep], frames[keep]
        if targets.numel() == 0:
            zero = lid.frame_logits.sum() * 0.0  # no target frame in the batch: no LID signal, same graph
            return zero, torch.zeros((), device=zero.device)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        acc = (logits.argmax(-1) == targets).float().mean()
        return loss, acc
