"""A per-language bias on the LID head's logits, fit on a labelled dev set (``--lid_calibration``; issue 20).

The head of a one-pass model misroutes unseen voices' short utterances mostly into a few languages (on the long-tail
benchmark's test set 40 % of the misroutes of the noise-floor models land on ``it``, which holds 5 % of the training
utterances): a bias per language, not a lack of features alone.  The fix is vector scaling without its scale
("On Calibration of Modern Neural Networks", Guo et al., arXiv:1706.04599, Sec. 4.2: logits W z + b with W
diagonal; here W = I): ``z' = z + b``, b fit by the negative log-likelihood of the dev set's languages with an L2
penalty ``l2 * |b|^2``, whose weight is chosen by k-fold cross-validation on the same dev set.  Like temperature
scaling it is fit on dev, never on test, and it changes what the head says only where its logits are close.
docs/lid_routing.md, "Calibrating the head".
"""

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Union

import torch
import torch.nn.functional as F

# L2 weights tried by cross-validation; 0 lets the bias fit the dev set freely
DEFAULT_L2_GRID = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


class LidCalibrationError(ValueError):
    """A calibration file or its fitting data that cannot serve; the message names the file or the problem."""


def fit_logit_bias(logits: torch.Tensor, labels: torch.Tensor, l2: float = 0.0, max_iter: int = 300) -> torch.Tensor:
    """The bias b (L,) minimising mean CE(logits + b, labels) + l2 * |b|^2 (convex; L-BFGS), centred to sum 0
    (softmax ignores a constant shift, and the penalty is smallest at the centred bias)."""
    logits = logits.detach().double()
    bias = torch.zeros(logits.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([bias], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                                  tolerance_change=1e-12)

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits + bias, labels) + l2 * (bias ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    bias = bias.detach()
    return (bias - bias.mean()).float()


def choose_l2(logits: torch.Tensor, labels: torch.Tensor, grid: Sequence[float] = DEFAULT_L2_GRID,
              folds: int = 5, seed: int = 0) -> Dict[float, float]:
    """{l2: summed held-out NLL} of ``folds``-fold cross-validation over the utterances (a fixed random split)."""
    if folds < 2 or folds > len(labels):
        raise LidCalibrationError(f"cross-validation needs 2 <= folds <= utterances ({len(labels)}), got {folds}")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    scores = {}
    for l2 in grid:
        nll = 0.0
        for held_out in torch.tensor_split(order, folds):  # exactly `folds` parts (chunk may give fewer)
            keep = torch.ones(len(labels), dtype=torch.bool)
            keep[held_out] = False
            bias = fit_logit_bias(logits[keep], labels[keep], l2)
            nll += float(F.cross_entropy(logits[held_out] + bias, labels[held_out], reduction="sum"))
        scores[float(l2)] = nll
    return scores


@dataclass
class LidCalibration:
    """A fitted bias per language and how it was fit; ``save``/``load`` a JSON file."""

    languages: List[str]
    bias: List[float]
    l2: float
    folds: int
    source: Dict[str, str] = field(default_factory=dict)  # model and data dir it was fit on
    dev: Dict[str, float] = field(default_factory=dict)  # utterances, accuracy and NLL before / after
    cv_nll: Dict[str, float] = field(default_factory=dict)  # l2 (as text) -> held-out NLL

    @classmethod
    def fit(cls, logits: torch.Tensor, labels: torch.Tensor, languages: Sequence[str],
            grid: Sequence[float] = DEFAULT_L2_GRID, folds: int = 5, seed: int = 0,
            source: Dict[str, str] = None) -> "LidCalibration":
        """Choose l2 by cross-validation, then fit the bias on every utterance."""
        languages = list(languages)
        if logits.ndim != 2 or logits.shape[1] != len(languages) or logits.shape[0] != len(labels):
            raise LidCalibrationError(f"logits of shape {tuple(logits.shape)} do not match {len(labels)} labels "
                                      f"and {len(languages)} languages")
        if not grid or any(not (isinstance(x, (int, float)) and x >= 0 and math.isfinite(x)) for x in grid):
            raise LidCalibrationError(f"the l2 grid must hold finite numbers >= 0, got {list(grid)}")
        missing = [lang for i, lang in enumerate(languages) if not bool((labels == i).any())]
        if missing:
            raise LidCalibrationError(f"the calibration set has no utterance of {', '.join(missing)}: the bias of a "
                                      "language it does not hold would only be pushed down; use a dev set with every "
                                      "language of the model")
        cv = choose_l2(logits, labels, grid, folds, seed)
        l2 = min(cv, key=lambda k: (cv[k], k))  # the smallest held-out NLL (ties: the smaller l2)
        bias = fit_logit_bias(logits, labels, l2)
        dev = {"utterances": int(len(labels)),
               "acc_before": 100.0 * float((logits.argmax(-1) == labels).float().mean()),
               "acc_after": 100.0 * float(((logits + bias).argmax(-1) == labels).float().mean()),
               "nll_before": float(F.cross_entropy(logits, labels)),
               "nll_after": float(F.cross_entropy(logits + bias, labels))}
        return cls(languages, [round(float(b), 6) for b in bias], float(l2), int(folds), dict(source or {}), dev,
                   {repr(k): round(v, 4) for k, v in cv.items()})

    def bias_for(self, languages: Sequence[str], path: Union[str, Path] = "the calibration") -> torch.Tensor:
        """The (L,) bias in the model's language order; an error naming ``path`` when the languages differ."""
        if list(languages) != self.languages:
            raise LidCalibrationError(f"{path}: fit for the languages {self.languages}, but the model's are "
                                      f"{list(languages)}: calibrate this model "
                                      "(python -m espnet_ext.bin.lid_calibrate)")
        return torch.tensor(self.bias, dtype=torch.float32)

    def save(self, path: Union[str, Path]) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)  # whole or not at all

    @classmethod
    def load(cls, path: Union[str, Path]) -> "LidCalibration":
        path = Path(path)
        if not path.is_file():
            raise LidCalibrationError(f"{path}: no such LID calibration file (write one with "
                                      "python -m espnet_ext.bin.lid_calibrate)")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            calibration = cls(**record)
        except (ValueError, TypeError) as e:
            raise LidCalibrationError(f"{path}: not a LID calibration file of espnet_ext.bin.lid_calibrate ({e})")
        if (not isinstance(calibration.languages, list) or not isinstance(calibration.bias, list)
                or len(calibration.bias) != len(calibration.languages)
                or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in calibration.bias)):
            raise LidCalibrationError(f"{path}: 'bias' must hold one finite number per language of 'languages'")
        return calibration
