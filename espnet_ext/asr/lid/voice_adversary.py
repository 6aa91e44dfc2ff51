"""A voice classifier behind a gradient reversal on the LID head's features (issue 20, docs/lid_routing.md).

The LID head misroutes the utterances of voices it never heard in training (docs/lid_routing.md, "Unseen
voices"): its features separate the training voices' languages and carry the voices along. Speaker-invariant
training ("Speaker-Invariant Training via Adversarial Learning", Meng et al., ICASSP 2018, arXiv:1804.00732)
makes an encoder's features hold less of the speaker: a classifier learns to tell the speakers from the
features, and the encoder is trained against it through a gradient reversal layer ("Unsupervised Domain
Adaptation by Backpropagation", Ganin and Lempitsky, ICML 2015, arXiv:1409.7495):

    s       = mean_t(h_t)                      h: the features the LID head reads (the LID pass)   (B, D)
    z       = W2 relu(W1 R_lambda(s) + b1) + b2                                                     (B, V)
    L_voice = CE(z, voice)                     over the utterances of a known voice
    R_lambda: identity forward, gradient times -lambda backward

The model adds ``voice_adversary_weight * L_voice``: the classifier descends on L_voice, the encoder below
``h`` ascends on ``lambda * L_voice`` (Meng et al.'s min-max criterion, with a reversal layer instead of two
alternating updates). Our choices, configurable (``model_conf.voice_adversary_*``): the utterance-level mean
(the pooling the LID head reads, since the head is what must not depend on the voice; Meng et al. classify the speaker
of each frame's deep feature), one hidden layer, a constant lambda.

The voice of an utterance comes from its id (ESPnet passes ``utt_id`` to the model in training and
validation): the first group of ``voice_adversary_regex`` searched in the id, looked up in
``voice_adversary_voices`` (the training voices). In training an id the pattern does not match, or a voice
outside the list, is an error naming the utterance; in validation such an utterance (a dev voice, unseen by
design) is left out of L_voice. Decoding never runs the adversary: its parameters (``voice_adversary.*``) are
training-only.
"""

import re
from typing import List, Optional, Sequence, Tuple

import torch

from espnet_ext.asr.lid.language_id_head import LanguageIdHead


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient times -scale backward (Ganin and Lempitsky's R_lambda)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """x, whose gradient is multiplied by -scale on the way back."""
    return _ReverseGradient.apply(x, scale)


class VoiceAdversary(torch.nn.Module):
    """Voice classifier on the pooled LID features, trained against the encoder by gradient reversal.

    Args:
        size: dimension D of the features the LID head reads.
        voices: the voices to tell apart (the training set's), V >= 2 names.
        regex: pattern whose first group, searched in an utterance id, is the utterance's voice.
        reversal: lambda, the scale of the reversed gradient that reaches the encoder (> 0).
        hidden: units of the classifier's ReLU hidden layer (0: a linear classifier).
    """

    def __init__(self, size: int, voices: Sequence[str], regex: str, reversal: float = 1.0, hidden: int = 256):
        super().__init__()
        if not isinstance(voices, (list, tuple)) or len(voices) < 2 or \
                not all(isinstance(v, str) and v for v in voices) or len(set(voices)) != len(voices):
            raise ValueError("model_conf.voice_adversary_voices must list at least 2 distinct voice names (the "
                             f"training voices), got {voices!r}")
        if not isinstance(regex, str) or not regex:
            raise ValueError("model_conf.voice_adversary_regex must be a pattern whose first group, searched in an "
                             f"utterance id, is its voice (e.g. '^[^-]+-([^-]+)-' for 'en-f1-00042'), got {regex!r}")
        try:
            pattern = re.compile(regex)
        except re.error as e:
            raise ValueError(f"model_conf.voice_adversary_regex {regex!r} is not a regular expression: {e}") from None
        if pattern.groups < 1:
            raise ValueError(f"model_conf.voice_adversary_regex {regex!r} has no group: put the voice in (...)")
        if isinstance(reversal, bool) or not isinstance(reversal, (int, float)) or not reversal > 0:
            raise ValueError(f"model_conf.voice_adversary_reversal must be a number > 0, got {reversal!r}")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ValueError(f"model_conf.voice_adversary_hidden must be a number of units >= 0, got {hidden!r}")
        self.voices: List[str] = list(voices)
        self.voice_index = {v: i for i, v in enumerate(self.voices)}
        self.pattern = pattern
        self.reversal = float(reversal)
        self.hidden = torch.nn.Linear(size, hidden) if hidden > 0 else None
        self.linear = torch.nn.Linear(hidden if hidden > 0 else size, len(self.voices))

    def voice_ids(self, utt_ids: Optional[Sequence[str]], batch_size: int, strict: bool) -> torch.Tensor:
        """(B,) index of each utterance's voice in ``voices``; -1 where unknown (only when not ``strict``)."""
        if utt_ids is None:
            if strict:
                raise ValueError("model_conf.voice_adversary_weight > 0 reads each utterance's voice from its id, "
                                 "and this batch came without 'utt_id' (ESPnet's trainer passes it)")
            return torch.full((batch_size,), -1, dtype=torch.long)
        if len(utt_ids) != batch_size:
            raise ValueError(f"{len(utt_ids)} utterance ids for a batch of {batch_size} utterances")
        ids = []
        for utt in utt_ids:
            match = self.pattern.search(utt)
            voice = match.group(1) if match else None
            if voice in self.voice_index:
                ids.append(self.voice_index[voice])
            elif strict:
                what = (f"its voice '{voice}' is not in model_conf.voice_adversary_voices {self.voices}" if match
                        else f"model_conf.voice_adversary_regex '{self.pattern.pattern}' does not match it")
                raise ValueError(f"training utterance '{utt}': {what}")
            else:
                ids.append(-1)
        return torch.tensor(ids, dtype=torch.long)

    def logits(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, V) voice logits of the mean of each utterance's valid frames, behind the gradient reversal."""
        mask = LanguageIdHead.valid_frames(features, lengths).unsqueeze(-1).to(features.dtype)
        pooled = (features * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        x = reverse_gradient(pooled, self.reversal)
        if self.hidden is not None:
            x = torch.relu(self.hidden(x))
        return self.linear(x)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor,
                utt_ids: Optional[Sequence[str]]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(L_voice, accuracy) over the utterances of a known voice; (0 on the same graph, None) when none is."""
        targets = self.voice_ids(utt_ids, features.shape[0], strict=self.training).to(features.device)
        logits = self.logits(features, lengths)
        keep = targets >= 0
        if not bool(keep.any()):
            return logits.sum() * 0.0, None
        logits, targets = logits[keep], targets[keep]
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        return loss, (logits.argmax(-1) == targets).float().mean()
