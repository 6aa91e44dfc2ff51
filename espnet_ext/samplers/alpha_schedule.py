"""The alpha of the balanced sampler's language shares p_l ∝ n_l^alpha, per epoch (issue 21).

``lang_balanced_alpha`` alone is one alpha for the whole training.  With ``lang_balanced_alpha_schedule`` alpha
moves from ``lang_balanced_alpha`` at the first epoch to ``lang_balanced_alpha_end`` at the last one: with
t = (e - first) / (last - first) for the epochs e = first .. last (ESPnet's 1 .. max_epoch),

    * ``constant`` (default): alpha(e) = alpha_start (``lang_balanced_alpha_end`` must stay unset);
    * ``linear``: alpha(e) = (1 - t) alpha_start + t alpha_end;
    * ``cosine``: alpha(e) = (1 - w) alpha_start + w alpha_end, w = (1 - cos(pi t)) / 2: slow at both ends.

From balanced (0) to the corpus proportions (1), the tail languages are adapted early on balanced batches while
the head languages get their natural share in the last epochs, the ones that checkpoint averaging and
selection keep.  Epochs before the first keep alpha_start (ESPnet asks for epochs 0 and -1 with
``num_iters_per_epoch``), epochs after the last keep alpha_end (a run resumed with a larger max_epoch has
another schedule, so its batches differ from the start).  alpha(e) is a function of the options and e alone, so
every DDP rank and every resumed run computes the same value.
"""

import dataclasses
import math
import numbers
from typing import Optional, Tuple

SCHEDULES = ("constant", "linear", "cosine")


def check_alpha(alpha, option: str = "lang_balanced_alpha") -> float:
    """``alpha`` as a float; ValueError naming ``option`` unless it is a real number in [0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"{option} must be a number in [0, 1] (p_l ∝ n_l^alpha: 0 balanced, "
                         f"1 the corpus proportions), got {alpha!r}")
    return float(alpha)


@dataclasses.dataclass(frozen=True)
class AlphaSchedule:
    """alpha(e) of ``lang_balanced_alpha`` (``start``), ``_end`` (``end``) and ``_schedule`` (``shape``).

    Args:
        start: alpha of the first epoch (of every epoch with ``constant``).
        end: alpha of the last epoch; only with ``linear`` / ``cosine``, where it is required.
        shape: ``constant``, ``linear`` or ``cosine``.
        max_epoch: ESPnet's ``max_epoch``; required unless ``constant``.
        epochs: the first and last epoch of the schedule in the sampler's numbering; None: (1, max_epoch).
            The sampler sets it when ``num_iters_per_epoch`` makes its epochs differ from the training's.

    Raises:
        ValueError: naming the option and its value: an alpha outside [0, 1], an unknown shape, ``end`` with
            ``constant`` or missing otherwise, a schedule without a known max_epoch of at least 2.
    """

    start: float = 0.0
    end: Optional[float] = None
    shape: str = "constant"
    max_epoch: Optional[int] = None
    epochs: Optional[Tuple[int, int]] = None

    def __post_init__(self):
        object.__setattr__(self, "start", check_alpha(self.start))
        if self.shape not in SCHEDULES:
            raise ValueError(f"lang_balanced_alpha_schedule must be one of {SCHEDULES}, got {self.shape!r}")
        if self.shape == "constant":
            if self.end is not None:
                raise ValueError(f"lang_balanced_alpha_end ({self.end!r}) is only read by "
                                 f"lang_balanced_alpha_schedule linear or cosine, got 'constant' (alpha stays "
                                 f"lang_balanced_alpha = {self.start:g} in every epoch)")
            return
        if self.end is None:
            raise ValueError(f"lang_balanced_alpha_schedule {self.shape!r} needs lang_balanced_alpha_end (the alpha "
                             "of the last epoch), got None")
        object.__setattr__(self, "end", check_alpha(self.end, "lang_balanced_alpha_end"))
        if self.max_epoch is None:
            raise ValueError(f"lang_balanced_alpha_schedule {self.shape!r} runs from the first epoch to max_epoch, "
                             "but max_epoch is not known (got None)")
        if self.max_epoch < 2:
            raise ValueError(f"lang_balanced_alpha_schedule {self.shape!r} moves alpha from the first to the last "
                             f"epoch and needs max_epoch >= 2, got {self.max_epoch}")
        if self.epochs is None:
            object.__setattr__(self, "epochs", (1, self.max_epoch))
        elif self.epochs[1] <= self.epochs[0]:
            raise ValueError(f"an alpha schedule needs at least 2 epochs, got epochs {self.epochs}")

    @property
    def varies(self) -> bool:
        """Whether alpha changes over the epochs (``linear`` or ``cosine``)."""
        return self.shape != "constant"

    def __call__(self, epoch: int) -> float:
        """alpha of ``epoch`` (the sampler's numbering), clamped to alpha_start / alpha_end outside the epochs."""
        if not self.varies:
            return self.start
        first, last = self.epochs
        t = min(max((epoch - first) / (last - first), 0.0), 1.0)
        w = t if self.shape == "linear" else (1.0 - math.cos(math.pi * t)) / 2.0
        # (1 - w) a + w b is a at w = 0 and b at w = 1 exactly; the clamp keeps rounding out of check_alpha's way.
        return min(max((1.0 - w) * self.start + w * self.end, 0.0), 1.0)

    def describe(self) -> str:
        """'constant' or e.g. 'linear 0 -> 1 over epochs 1..12', for logs and the sampler's repr."""
        if not self.varies:
            return "constant"
        return f"{self.shape} {self.start:g} -> {self.end:g} over epochs {self.epochs[0]}..{self.epochs[1]}"
