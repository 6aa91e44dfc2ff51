"""Routing the language-conditioned modules by the LID head: the two-pass encoder (docs/lid_routing.md).

The LID head reads the encoder output, but the encoder's language-specific adapters need the language
first.  The loop is broken with two encoder passes on the same features:

    1. language-agnostic pass: every encoder Dual-Adapter runs its common adapter only (Δ_lang = 0);
       the LID head reads this output -> posteriors p(l | x), per utterance or per frame;
    2. the real pass, routed by ``lang_routing``:
         oracle  the given language tag (one-hot weights; as before this feature),
         hard    the arg-max language of the posterior (one-hot weights),
         soft    the posterior itself (language adapters mixed, the common adapter always on).

Decoder adapters get the utterance-level choice (a frame-level posterior is averaged over the valid frames).
Cost: the encoder layers run twice (training: forward and backward), the input layer once: an
``adapter_transformer`` encoder calls ``before_layers`` with its input layer's output, which has no language
conditioning, so pass 1 starts from it.  Two options make pass 1 cheaper (model_conf, docs/lid_routing.md):
``lid_layers: k`` runs only the first k layers in it (the head reads layer k, after the final LayerNorm), and
``lid_encoder_grad: false`` runs it without autograd (the LID loss then trains the head only).  Leading layers
without language-specific adapters (``encoder_conf.adapter_common_layers``) compute the same in both passes: they
run once, in the real pass, and pass 1 goes on from their output; with ``lid_layers`` no deeper than them there
is no pass 1 left at all, and the head costs its own linear layer only ("One pass" in docs/lid_routing.md).
An encoder without language-specific adapters (plain transformer, decoder adapters only) needs no second pass:
the head reads its one output.  Training routes by the tag (oracle; at ``lid_train_routing: frame_targets`` by the
frame languages of the reference) and trains the head on the pass-1 features, which are exactly what the head
sees at inference.

The passes run inside ``model.encode`` (ESPnet's, unchanged), so ESPnet's ``Speech2Text`` and beam search need
no change: through the encoder's ``before_layers`` (adapter_transformer), else through a forward pre-hook
(two whole passes) or a forward hook (one pass) on ``model.encoder``.
"""

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch

from espnet_ext.asr.adapters.dual_adapter import DualAdapter
from espnet_ext.asr.language_conditioning import LanguageConditioned
from espnet_ext.asr.lid.language_id_head import LanguageIdHead

ROUTINGS = ("oracle", "hard", "soft")


def _valid_frames(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) 1 on each utterance's valid frames of ``x`` (B, T, ...), 0 on padding, in ``x``'s dtype."""
    return LanguageIdHead.valid_frames(x, lengths).to(x.dtype)


def smooth_over_frames(p: torch.Tensor, lengths: torch.Tensor, window: int) -> torch.Tensor:
    """Centred moving average of frame posteriors ``p`` (B, T, L) over ``window`` frames (odd), each frame
    averaging the valid frames of its window only (padding does not leak in; rows still sum to one).  A
    language switch inside a code-switched utterance lasts words, while an isolated misrouted frame lasts one:
    the average keeps the first and removes most of the second (``lid_frame_smoothing``)."""
    if window == 1:
        return p
    mask = _valid_frames(p, lengths)
    pool = torch.nn.functional.avg_pool1d  # sums over the window / window; the ratio below cancels the division
    total = pool((p * mask.unsqueeze(-1)).transpose(1, 2), window, stride=1, padding=window // 2,
                 count_include_pad=True).transpose(1, 2)
    count = pool(mask.unsqueeze(1), window, stride=1, padding=window // 2, count_include_pad=True).transpose(1, 2)
    smoothed = total / count.clamp(min=1e-12)
    return torch.where(mask.unsqueeze(-1) > 0, smoothed, p)


def mean_over_frames(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, L) per-frame weights -> (B, L) their mean over each utterance's valid frames."""
    mask = _valid_frames(x, lengths).unsqueeze(-1)
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@dataclass
class LidOutput:
    """What the LID head said about the last encoded batch (pass-1 features)."""

    utterance_logits: torch.Tensor  # (B, L)
    frame_logits: Optional[torch.Tensor]  # (B, T, L) at frame level; None at utterance level, which reads none
    lengths: torch.Tensor  # (B,)
    features: torch.Tensor  # (B, T, D) the encoder output the head read
    routing: str  # the routing the real pass used
    tag: Optional[torch.Tensor]  # the given language ids (B,), None without a tag
    frame_targets: Optional[torch.Tensor] = None  # (B, T) frame languages the training pass was routed by

    def posteriors(self, level: str, temperature: float = 1.0) -> torch.Tensor:
        """(B, L) utterance posteriors; for ``frame`` level the mean of the valid frames' posteriors.
        ``temperature``: softmax(logits / T), T > 1 flattens them (``lid_temperature``)."""
        if level == "utterance":
            return (self.utterance_logits / temperature).softmax(-1)
        return mean_over_frames((self.frame_logits / temperature).softmax(-1), self.lengths)


class LidRouter:
    """Runs the LID pass around ``model.encoder`` and routes every language-conditioned module by it.

    Args:
        model: the multilingual model holding ``encoder``, ``lid_head`` and its conditioned modules.
        level: ``utterance`` (one language per utterance) or ``frame`` (encoder adapters routed per frame).
        num_layers: encoder layers of the LID pass (None: all); only with the input-layer hook (above).
        encoder_grad: False runs the LID pass without autograd, so the LID loss trains the head alone.
    """

    def __init__(self, model: torch.nn.Module, level: str, num_layers: Optional[int] = None,
                 encoder_grad: bool = True, exact_lengths: bool = False):
        self.level = level
        self.encoder_grad = encoder_grad
        self.exact_lengths = exact_lengths
        self.encoder = model.encoder
        self.lid_head = model.lid_head
        encoder_ids = {id(m) for m in model.encoder.modules()}
        conditioned = [m for m in model.modules() if isinstance(m, LanguageConditioned)]
        self.encoder_modules: List[LanguageConditioned] = [m for m in conditioned if id(m) in encoder_ids]
        self.other_modules: List[LanguageConditioned] = [m for m in conditioned if id(m) not in encoder_ids]
        blocked = sorted({type(m).__name__ for m in self.encoder_modules if not isinstance(m, DualAdapter)})
        if blocked:
            raise ValueError(f"model_conf.lid_weight > 0 needs an encoder whose language conditioning can be switched "
                             f"off for the LID pass (Dual-Adapters, or none); {type(model.encoder).__name__} "
                             f"conditions on the language through {blocked}")
        self.two_pass = any(m.slots for m in self.encoder_modules)
        self.routing: Optional[str] = None  # None: oracle when a tag is given, else soft
        self.frame_smoothing = 1  # frames of the moving average over frame posteriors before routing (1: none)
        self.temperature = 1.0  # soft routing weights: softmax(logits / temperature) (lid_temperature; 1: none)
        # (L,) added to the head's logits when decoding (lid_calibration, fit on a dev set; None: none)
        self.logit_bias: Optional[torch.Tensor] = None
        self.last: Optional[LidOutput] = None
        # model_conf.lid_train_routing frame_targets: the model puts (text, text_lengths) here for a training
        # forward, and target_fn (features, lengths, text, text_lengths) -> (B, T) frame languages (-1: none)
        # routes the real pass per frame by the reference's languages (docs/lid_routing.md)
        self.train_targets: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self.target_fn: Optional[Callable[..., torch.Tensor]] = None
        # the input layer's output is shared by both passes where the encoder offers the hook (and no
        # intermediate CTC, which its forward leaves to ESPnet's)
        shared_input = (self.two_pass and hasattr(model.encoder, "before_layers")
                        and len(getattr(model.encoder, "interctc_layer_idx", [])) == 0)
        self.num_layers = num_layers
        # leading encoder layers without language-specific adapters: the same in both passes, so run once
        self.shared_layers = 0
        if shared_input:
            for layer in model.encoder.encoders:
                if any(m.slots for m in layer.modules() if isinstance(m, DualAdapter)):
                    break
                self.shared_layers += 1
        if num_layers is not None:
            if not shared_input:
                raise ValueError(f"model_conf.lid_layers runs the first layers of an adapter_transformer encoder with "
                                 f"language-specific adapters in the LID pass; {type(model.encoder).__name__} has "
                                 "no such pass: leave lid_layers null")
            if not 1 <= num_layers <= len(model.encoder.encoders):
                raise ValueError(f"model_conf.lid_layers must be between 1 and the encoder's "
                                 f"{len(model.encoder.encoders)} layers, got {num_layers}")
        if exact_lengths and not shared_input:
            raise ValueError(f"model_conf.lid_exact_lengths reads each utterance's own length at the input layer of "
                             f"an adapter_transformer encoder with language-specific adapters; "
                             f"{type(model.encoder).__name__} has none: leave it false")
        if shared_input:
            model.encoder.before_layers = self._lid_pass
        elif self.two_pass:
            model.encoder.register_forward_pre_hook(self._before_encoder, with_kwargs=True)
        else:
            model.encoder.register_forward_hook(self._after_encoder, with_kwargs=True)

    def set_routing(self, routing: Optional[str]) -> None:
        if routing is not None and routing not in ROUTINGS:
            raise ValueError(f"lang_routing must be one of {ROUTINGS}, got '{routing}'")
        self.routing = routing

    def set_frame_smoothing(self, window: int) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
            raise ValueError("lid_frame_smoothing must be an odd number of frames >= 1 (a centred window), "
                             f"got {window}")
        self.frame_smoothing = window

    def set_temperature(self, temperature: float) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0 \
                or temperature == float("inf"):
            raise ValueError(f"lid_temperature must be a finite number > 0 (1: the head's own posteriors), "
                             f"got {temperature!r}")
        self.temperature = float(temperature)

    def set_logit_bias(self, bias: Optional[torch.Tensor]) -> None:
        """A per-language bias added to the head's utterance and frame logits from now on (None: none); it moves
        the arg-max (``hard``), the mixture (``soft``) and the posterior written beside the hypotheses."""
        if bias is not None:
            bias = torch.as_tensor(bias, dtype=torch.float32)
            languages = self.lid_head.linear.out_features
            if bias.shape != (languages,) or not bool(torch.isfinite(bias).all()):
                got = f"shape {tuple(bias.shape)}" if bias.shape != (languages,) else f"{bias.tolist()}"
                raise ValueError(f"the LID logit bias must hold {languages} finite numbers (one per language), "
                                 f"got {got}")
        self.logit_bias = bias

    def _given_tag(self) -> Optional[torch.Tensor]:
        for m in self.encoder_modules + self.other_modules:
            if m.lang_ids is not None:
                return m.lang_ids
        return None

    def _resolve(self, tag: Optional[torch.Tensor]) -> str:
        routing = self.routing or ("oracle" if tag is not None else "soft")
        if routing == "oracle" and tag is None:
            raise RuntimeError("lang_routing 'oracle' needs each utterance's language (the 'lang' data key or "
                               "--utt2lang); use lang_routing hard or soft to decode by the LID head")
        return routing

    def _run_head(self, out, lengths: torch.Tensor, routing: str, tag: Optional[torch.Tensor]) -> None:
        features = out[0] if isinstance(out, tuple) else out  # (encoder_out, intermediate outputs)
        if not self.encoder_grad:
            features = features.detach()  # the LID loss trains the head only
        utt_logits, frame_logits = self.lid_head(features, lengths, frames=self.level == "frame")
        if self.logit_bias is not None:  # decoding with --lid_calibration (lid_calibration.py)
            bias = self.logit_bias.to(utt_logits)
            utt_logits = utt_logits + bias
            frame_logits = frame_logits + bias if frame_logits is not None else None
        self.last = LidOutput(utt_logits, frame_logits, lengths, features, routing, tag)

    def _start_lid_pass(self) -> Tuple[Optional[torch.Tensor], str]:
        """(given tag, routing) of this batch, with every encoder Dual-Adapter on its common adapter only."""
        tag = self._given_tag()
        routing = self._resolve(tag)
        for m in self.encoder_modules:
            m.switch_language_off()
        return tag, routing

    def _lid_pass(self, xs: torch.Tensor, masks: torch.Tensor,
                  ilens: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, int]:
        """Pass 1 from the input layer's output (the encoder's ``before_layers``), then the real pass's routing.
        Returns the output of the shared leading layers and their number: where the real pass goes on."""
        tag, routing = self._start_lid_pass()
        depth = len(self.encoder.encoders) if self.num_layers is None else self.num_layers
        shared = min(self.shared_layers, depth)
        # the language-agnostic leading layers: the real pass's own, with its autograd
        real, _ = self.encoder.run_layers(xs, masks, 0, shared)
        with torch.set_grad_enabled(self.encoder_grad and torch.is_grad_enabled()):
            h, _ = self.encoder.run_layers(real, masks, shared, depth)
            if self.encoder.normalize_before:
                h = self.encoder.after_norm(h)
        lengths = masks.squeeze(1).sum(1)
        if self.exact_lengths and ilens is not None:
            # model_conf.lid_exact_lengths: the head pools the frames the utterance has alone, in training as in
            # decoding (one utterance at a time), not the batch's mask, which counts up to 2 frames more
            lengths = torch.minimum(lengths, self.encoder.own_lengths(ilens).to(lengths))
        self._run_head(h, lengths, routing, tag)
        self._route(routing, tag)
        return real, shared

    def _before_encoder(self, encoder, args, kwargs):
        tag, routing = self._start_lid_pass()
        with torch.set_grad_enabled(self.encoder_grad and torch.is_grad_enabled()):
            out, lengths = encoder.forward(*args, **kwargs)[:2]  # pass 1; .forward: this hook does not re-enter
        self._run_head(out, lengths, routing, tag)
        self._route(routing, tag)
        return None  # pass 2 runs on the unchanged inputs

    def _after_encoder(self, encoder, args, kwargs, output):
        tag = self._given_tag()
        routing = self._resolve(tag)
        self._run_head(output[0], output[1], routing, tag)
        self._route(routing, tag)
        return None

    def _route(self, routing: str, tag: Optional[torch.Tensor]) -> None:
        """Set the real pass's routing on the encoder modules and the decoder (other) modules."""
        if self.train_targets is not None:
            self._route_by_frame_targets()
            return
        if routing == "oracle":
            for m in self.encoder_modules:
                m.set_language(tag)
            return
        with torch.no_grad():
            # soft routing's weights at the decoding temperature (hard's arg-max is the same at any temperature);
            # training routes at 1, the temperature is set by decoding only
            t = self.temperature if routing == "soft" else 1.0
            utterance = self.last.posteriors(self.level, t)  # (B, L)
            frames = (smooth_over_frames((self.last.frame_logits / t).softmax(-1), self.last.lengths,
                                         self.frame_smoothing) if self.level == "frame" else None)
            if routing == "hard":
                ids = utterance.argmax(-1)
                for m in self.other_modules + ([] if frames is not None else self.encoder_modules):
                    m.set_language(ids)
                if frames is not None:
                    one_hot = torch.nn.functional.one_hot(frames.argmax(-1), frames.shape[-1]).to(frames.dtype)
                    for m in self.encoder_modules:
                        m.set_language_weights(one_hot)
                return
            for m in self.other_modules:
                self._set_weights(m, utterance)
            for m in self.encoder_modules:
                m.set_language_weights(frames if frames is not None else utterance)

    def _route_by_frame_targets(self) -> None:
        """Training at ``lid_train_routing: frame_targets``: each frame's encoder adapters are those of the
        language its reference token is written in (one-hot); a frame without one (no alignment, a token of no
        script) takes the LID posterior, as soft routing does at inference.  Decoder adapters get the mean of the
        frames' weights.  A code-switched utterance thus trains the en and zh adapters it will be routed to
        when decoding, not an adapter of its utterance tag."""
        lid = self.last
        text, text_lengths = self.train_targets
        with torch.no_grad():
            targets = self.target_fn(lid.features, lid.lengths, text, text_lengths)  # (B, T), -1: none
            posterior = lid.frame_logits.softmax(-1)
            one_hot = torch.nn.functional.one_hot(targets.clamp(min=0), posterior.shape[-1]).to(posterior.dtype)
            weights = torch.where((targets >= 0).unsqueeze(-1), one_hot, posterior)
        lid.frame_targets, lid.routing = targets, "frame_targets"
        for m in self.encoder_modules:
            m.set_language_weights(weights)
        utterance = mean_over_frames(weights, lid.lengths)
        for m in self.other_modules:
            self._set_weights(m, utterance)

    @staticmethod
    def _set_weights(module: LanguageConditioned, weights: torch.Tensor) -> None:
        if not isinstance(module, DualAdapter):
            raise ValueError(f"lang_routing 'soft' mixes Dual-Adapters by the LID posterior; {type(module).__name__} "
                             "routes on one language only: use lang_routing hard")
        module.set_language_weights(weights)
