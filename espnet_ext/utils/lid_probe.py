"""Is it the LID head or the encoder's features? A probe on a trained model's frozen LID features (issue 20,
docs/lid_routing.md "Unseen voices").

A LID head that is right on its training utterances and wrong on the test set is either undertrained (a head
fit to convergence on the same frozen features does much better) or limited by the features (it does not):
then no head, regularization or longer training fixes it, the encoder's features must change.  This module
reads the features the model's head reads (the language-agnostic first encoder pass, ``LidRouter``), pools them
per utterance, and fits a linear classifier to convergence on a training set, optionally with mel-warped copies
of its utterances (:func:`espnet_ext.asr.specaug.mel_warp_specaug.warp_mel_axis`: if these help, the errors
come from voices the training set lacks).  Poolings: ``mean`` (what the model's head reads) and ``mean_std``
(mean and standard deviation over the frames, an x-vector style statistic).

The probe is multinomial logistic regression on standardized pooled features (the training set's mean and
deviation), class-balanced cross-entropy (each language weighs the same, as balanced sampling makes the head's
training), full-batch Adam with weight decay, a fixed number of epochs and a fixed seed: it is deterministic.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence

import numpy as np
import torch

from espnet_ext.asr.lid.lid_router import mean_over_frames
from espnet_ext.asr.specaug.mel_warp_specaug import warp_mel_axis
from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map

logger = logging.getLogger(__name__)

POOLINGS = ("mean", "mean_std")


def pool(features: torch.Tensor, lengths: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, D) features of valid lengths (B,) -> (B, D) mean, or (B, 2 D) mean and standard deviation."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got '{pooling}'")
    mean = mean_over_frames(features, lengths)
    if pooling == "mean":
        return mean
    std = mean_over_frames((features - mean.unsqueeze(1)) ** 2, lengths).sqrt()
    return torch.cat([mean, std], dim=-1)


@dataclass
class ProbeSet:
    """Pooled LID features of one data set, its reference languages and the model head's own predictions."""

    pooled: Dict[str, torch.Tensor]  # pooling -> (N, D')
    labels: torch.Tensor  # (N,) indices into the model's languages
    head_predictions: torch.Tensor  # (N,)


def read_data_dir(data_dir: Path, languages: Sequence[str]) -> Dict[str, tuple]:
    """{utt: (feats.scp entry, language index)} of a data dir with feats.scp and utt2lang; every error names
    the file and the utterance."""
    scp, utt2lang = Path(data_dir) / "feats.scp", Path(data_dir) / "utt2lang"
    for path in (scp, utt2lang):
        if not path.is_file():
            raise DataDirError(f"{path}: not found (a data dir of stage 2: dump/<corpus>/fbank/<set>)")
    feats = read_kaldi_map(scp)
    langs = read_kaldi_map(utt2lang)
    out = {}
    for utt, entry in feats.items():
        if utt not in langs:
            raise DataDirError(f"{scp}: utterance '{utt}' has no language in {utt2lang}")
        if langs[utt] not in languages:
            raise DataDirError(f"{utt2lang}: utterance '{utt}' has language '{langs[utt]}', not one of the model's "
                               f"languages ({' '.join(languages)})")
        out[utt] = (entry, list(languages).index(langs[utt]))
    if not out:
        raise DataDirError(f"{scp}: no utterances")
    return out


def extract(model, data_dir: Path, warps: Sequence[float] = (1.0,), batch_size: int = 16,
            progress: Callable[[Iterable], Iterable] = None) -> Dict[float, ProbeSet]:
    """Run the model's LID pass over a data dir, once per mel-axis warp factor (the features are read once), and
    pool the features: {warp: ProbeSet}."""
    import kaldiio

    if getattr(model, "lid_router", None) is None:
        raise ValueError("the model has no LID head (model_conf.lid_weight is 0): nothing to probe")
    items = read_data_dir(data_dir, model.languages)
    loaded = {utt: np.asarray(kaldiio.load_mat(entry)) for utt, (entry, _) in items.items()}
    keys = sorted(loaded, key=lambda u: (loaded[u].shape[0], u))  # similar lengths batched together
    labels = torch.tensor([items[u][1] for u in keys])
    model.eval()
    model.lid_router.set_routing("soft")  # no tag needed; pass 1 is the same under every routing
    out = {}
    for warp in warps:
        pooled: Dict[str, List[torch.Tensor]] = {p: [] for p in POOLINGS}
        heads = []
        starts = range(0, len(keys), batch_size)
        for start in (progress(starts) if progress else starts):
            batch = keys[start:start + batch_size]
            xs = [torch.from_numpy(loaded[u].astype(np.float32)) for u in batch]
            lengths = torch.tensor([x.shape[0] for x in xs])
            x = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
            if warp != 1.0:
                x = warp_mel_axis(x, torch.full((len(batch),), float(warp)))
            with torch.no_grad():
                # ESPnet's encode (its normalization works in place on x: x is not reused); it also runs the
                # real, routed pass, which the probe does not need: the price of reading exactly what the head reads
                model.encode(x, lengths)
                lid = model.lid_router.last
                for p in POOLINGS:
                    pooled[p].append(pool(lid.features, lid.lengths, p))
                heads.append(lid.utterance_logits.argmax(-1))
        out[warp] = ProbeSet({p: torch.cat(v) for p, v in pooled.items()}, labels, torch.cat(heads))
    return out


def utterance_logits(model, data_dir: Path, progress: Callable[[Iterable], Iterable] = None) -> tuple:
    """(utterance ids, (N, L) LID head logits, (N,) language indices) of a data dir, one utterance per forward as
    decoding runs them: in a padded batch ESPnet's subsampling mask counts up to two frames beyond the
    convolution's valid output of every shorter utterance, which the head's mean pooling then reads."""
    import kaldiio

    if getattr(model, "lid_router", None) is None:
        raise ValueError("the model has no LID head (model_conf.lid_weight is 0): nothing to calibrate")
    items = read_data_dir(data_dir, model.languages)
    utts = sorted(items)
    model.eval()
    model.lid_router.set_routing("soft")  # no tag needed; the LID pass is the same under every routing
    model.lid_router.set_logit_bias(None)  # the head's own logits
    from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError

    read, logits = [], []
    with torch.no_grad():
        for utt in (progress(utts) if progress else utts):
            x = torch.from_numpy(np.array(kaldiio.load_mat(items[utt][0]), dtype=np.float32))[None]
            try:
                model.encode(x, torch.tensor([x.shape[1]]))
            except TooShortUttError:  # decoding gives it no language either
                logger.warning("%s: %d frames, too short for the model's subsampling: left out", utt, x.shape[1])
                continue
            read.append(utt)
            logits.append(model.lid_router.last.utterance_logits[0])
    if not read:
        raise DataDirError(f"{data_dir}: every utterance is too short for the model's subsampling")
    return read, torch.stack(logits), torch.tensor([items[u][1] for u in read])


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, epochs: int = 400,
                     lr: float = 1e-2, weight_decay: float = 1e-3, seed: int = 0):
    """Class-balanced multinomial logistic regression, fit full-batch; returns features -> predicted class."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    generator = torch.Generator().manual_seed(seed)
    mean, std = features.mean(0), features.std(0, unbiased=False) + 1e-5
    x = (features - mean) / std
    linear = torch.nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * 0.01)
        linear.bias.zero_()
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).float()
    weight = (1.0 / counts)[labels]
    weight = weight / weight.sum()  # each language weighs the same in the loss
    optimizer = torch.optim.Adam(linear.parameters(), lr=lr, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(epochs):
            loss = (torch.nn.functional.cross_entropy(linear(x), labels, reduction="none") * weight).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    linear.eval()

    def predict(new: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return linear((new - mean) / std).argmax(-1)

    return predict


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of correct predictions, in %, two decimals."""
    return round(100.0 * float((predictions == labels).float().mean()), 2)
