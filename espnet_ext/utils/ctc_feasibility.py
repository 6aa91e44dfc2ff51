"""Which utterances are too long in tokens for CTC after the encoder's subsampling?

CTC ("Connectionist Temporal Classification: Labelling Unsegmented Sequence Data with Recurrent Neural
Networks", Graves et al., ICML 2006; no arXiv version) aligns a token sequence y to T' encoder frames, with a
blank between two equal adjacent tokens, so an alignment exists only if

    T' >= len(y) + #{i : y[i] == y[i+1]}          ("aab" needs 4 frames: a a <blank> b)

Otherwise the CTC loss is infinite, and ESPnet2's CTC (``zero_infinity=True``) silently sets it to zero:
such utterances simply do not train the CTC branch, and nothing in the log says so.  An encoder that
subsamples 8x at a 10 ms shift leaves 12.5 frames per second, fewer than a fast speaker's characters.

T' is the length ESPnet's encoder reports (its subsampled mask) for T input frames of an utterance that is
the longest of its batch; a shorter, padded one may get up to one frame more per convolution stage, so these
formulas are a lower bound (exact for the longest utterance of each batch).  Token ids are compared after the
token list's ``<unk>`` mapping, as ESPnet does, so two different unknown characters in a row are a repeat.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map

# input_layer -> (T -> T'), from the convolutions (kernel, stride) of ESPnet's subsampling modules
# (espnet.nets.pytorch_backend.transformer.subsampling); tests check each against the module itself.
SUBSAMPLING: Dict[str, Callable[[int], int]] = {
    "conv2d": lambda t: ((t - 1) // 2 - 1) // 2,                      # (3, 2), (3, 2)
    "conv2d1": lambda t: t - 4,                                       # (3, 1), (3, 1)
    "conv2d2": lambda t: (t - 1) // 2 - 2,                            # (3, 2), (3, 1)
    "conv2d6": lambda t: ((t - 1) // 2 - 2) // 3,                     # (3, 2), (5, 3)
    "conv2d8": lambda t: (((t - 1) // 2 - 1) // 2 - 1) // 2,          # (3, 2), (3, 2), (3, 2)
    "conv1d2": lambda t: (t - 3) // 2,                                # (3, 1), (3, 2)
    "linear": lambda t: t,
    "embed": lambda t: t,
    "none": lambda t: t,
    # espnet_ext's vgg_transformer: VGG2L max-pools time by 3, then by 2 (floor each time).
    "vgg2l": lambda t: t // 3 // 2,
}
FACTOR = {"conv2d": 4, "conv2d1": 1, "conv2d2": 2, "conv2d6": 6, "conv2d8": 8, "conv1d2": 2,
          "linear": 1, "embed": 1, "none": 1, "vgg2l": 6}
# Less-subsampling alternatives offered when a set fails, most subsampling first.
ALTERNATIVES = ("conv2d6", "conv2d", "conv2d2", "linear")


def normalize_layer(input_layer: Optional[str]) -> str:
    """ESPnet's ``input_layer`` value (``None`` / ``null`` included) as a key of :data:`SUBSAMPLING`."""
    name = "none" if input_layer is None else str(input_layer).lower()
    name = "none" if name == "null" else name
    if name not in SUBSAMPLING:
        raise ValueError(f"input_layer '{input_layer}' is not supported (known: {', '.join(sorted(SUBSAMPLING))})")
    return name


def subsampled_length(input_layer: Optional[str], frames: int) -> int:
    """Encoder output length T' for ``frames`` input frames (0 if too short to pass the front end)."""
    return max(0, SUBSAMPLING[normalize_layer(input_layer)](frames))


def input_layer_from_config(config: dict) -> str:
    """The subsampling of a training config: ``vgg2l`` for vgg_transformer, else ``encoder_conf.input_layer``."""
    encoder = config.get("encoder", "rnn")
    if encoder == "vgg_transformer":
        return "vgg2l"
    conf = config.get("encoder_conf") or {}
    if "input_layer" not in conf:
        if encoder in ("rnn", "vgg_rnn"):
            raise ValueError(f"encoder '{encoder}' has no input_layer; pass --subsampling explicitly")
        return "conv2d"  # the default of ESPnet2's transformer/conformer encoders and espnet_ext's subclasses
    return normalize_layer(conf["input_layer"])


def required_frames(token_ids: Sequence) -> int:
    """Fewest CTC frames for ``token_ids``: one per token plus a blank between equal neighbours."""
    return len(token_ids) + sum(a == b for a, b in zip(token_ids, token_ids[1:]))


def _parse_int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataDirError(f"{what}: '{value}' is not an integer") from None


def raw_to_frames(samples: int, frontend_conf: dict) -> int:
    """STFT frames of ESPnet2's default frontend (n_fft 512, hop 128, centred unless configured otherwise)."""
    n_fft = int(frontend_conf.get("n_fft", 512))
    hop = int(frontend_conf.get("hop_length", 128))
    if frontend_conf.get("center", True):
        samples += 2 * (n_fft // 2)
    return max(0, (samples - n_fft) // hop + 1)


def frontend_shift_ms(frontend_conf: dict) -> float:
    fs = str(frontend_conf.get("fs", 16000)).lower()
    rate = float(fs[:-1]) * 1000 if fs.endswith("k") else float(fs)
    return 1000.0 * int(frontend_conf.get("hop_length", 128)) / rate


def read_frames(path: Path, config: Optional[dict] = None) -> Tuple[Dict[str, int], Optional[float]]:
    """{utt: input frames} from a collect_stats ``speech_shape`` (``utt T,D``) or an ``utt2num_frames``.

    A shape without a feature dimension (``utt S``) is raw audio in samples: it is turned into frames of
    the config's default frontend, and the frontend's frame shift (ms) is returned as well.
    """
    path = Path(path)
    shapes = read_kaldi_map(path)
    frames: Dict[str, int] = {}
    raw = None
    for utt, value in shapes.items():
        dims = value.split(",")
        is_raw = len(dims) == 1 and path.name != "utt2num_frames"
        if raw is not None and is_raw != raw:
            raise DataDirError(f"{path}: utterance '{utt}' has shape '{value}', but earlier lines "
                               f"{'have no' if raw else 'have a'} feature dimension")
        raw = is_raw
        frames[utt] = _parse_int(dims[0], f"{path}: utterance '{utt}'")
    if not raw:
        return frames, None
    config = config or {}
    if config.get("frontend", "default") != "default":
        raise ValueError(f"{path}: raw-audio shapes need the default frontend to count frames, the config has "
                         f"frontend '{config.get('frontend')}'; give feature shapes instead")
    conf = config.get("frontend_conf") or {}
    return {utt: raw_to_frames(s, conf) for utt, s in frames.items()}, frontend_shift_ms(conf)


def make_encoder(token_type: str, bpemodel: Optional[Path] = None,
                 token_list: Optional[Path] = None) -> Callable[[str], List]:
    """``text -> tokens`` as ESPnet's preprocessor makes them (ids if a token list is given)."""
    if token_type == "char":
        from espnet2.text.char_tokenizer import CharTokenizer

        tokenizer = CharTokenizer()  # one token per character, " " -> "<space>"
    elif token_type == "bpe":
        if bpemodel is None:
            raise ValueError("--token_type bpe needs --bpemodel")
        if not Path(bpemodel).is_file():
            raise ValueError(f"{bpemodel}: SentencePiece model not found")
        from espnet2.text.sentencepiece_tokenizer import SentencepiecesTokenizer

        tokenizer = SentencepiecesTokenizer(str(bpemodel))
    else:
        raise ValueError(f"token_type '{token_type}' is not supported (char, bpe)")
    if token_list is None:
        return tokenizer.text2tokens
    from espnet2.text.token_id_converter import TokenIDConverter

    if not Path(token_list).is_file():
        raise ValueError(f"{token_list}: token list not found")
    converter = TokenIDConverter(str(token_list))
    return lambda text: converter.tokens2ids(tokenizer.text2tokens(text))


@dataclass
class UttCheck:
    utt: str
    frames: int
    sub_frames: int
    needed: int

    @property
    def ratio(self) -> float:
        return self.needed / self.sub_frames if self.sub_frames > 0 else float("inf")

    @property
    def feasible(self) -> bool:
        return self.sub_frames >= self.needed

    def to_dict(self) -> dict:
        ratio = None if self.sub_frames <= 0 else round(self.ratio, 4)
        return {"utt": self.utt, "frames": self.frames, "sub_frames": self.sub_frames, "needed": self.needed,
                "ratio": ratio}


@dataclass
class SetReport:
    name: str
    input_layer: str
    checks: List[UttCheck] = field(default_factory=list)

    @property
    def infeasible(self) -> List[UttCheck]:
        """Infeasible utterances, worst (highest needed / T') first."""
        return sorted((c for c in self.checks if not c.feasible), key=lambda c: (-c.ratio, c.utt))

    @property
    def share(self) -> float:
        return len(self.infeasible) / len(self.checks) if self.checks else 0.0

    @property
    def worst(self) -> Optional[UttCheck]:
        return max(self.checks, key=lambda c: (c.ratio, c.utt)) if self.checks else None

    def to_dict(self, examples: int = 5) -> dict:
        bad = self.infeasible
        return {"input_layer": self.input_layer, "utterances": len(self.checks), "infeasible": len(bad),
                "infeasible_share": round(self.share, 6), "worst": self.worst.to_dict() if self.worst else None,
                "examples": [c.to_dict() for c in bad[:examples]]}


def _check_same_utts(shape_path: Path, frames: Dict[str, int], text_path: Path, texts: Dict[str, str]) -> None:
    if set(frames) - set(texts):
        utt = sorted(set(frames) - set(texts))[0]
        raise DataDirError(f"{text_path}: no transcript for utterance '{utt}' (present in {shape_path})")
    if set(texts) - set(frames):
        utt = sorted(set(texts) - set(frames))[0]
        raise DataDirError(f"{shape_path}: no shape for utterance '{utt}' (present in {text_path})")


def check_set(name: str, frames: Dict[str, int], texts: Dict[str, str], input_layer: str,
              encode: Callable[[str], List]) -> SetReport:
    """Feasibility of every utterance of one set (``frames`` and ``texts`` must have the same utterances)."""
    layer = normalize_layer(input_layer)
    report = SetReport(name, layer)
    for utt in sorted(frames):
        t = frames[utt]
        report.checks.append(UttCheck(utt, t, subsampled_length(layer, t), required_frames(encode(texts[utt]))))
    return report


def check_files(name: str, shape_path: Path, text_path: Path, input_layer: str, encode: Callable[[str], List],
                config: Optional[dict] = None) -> Tuple[SetReport, Optional[float]]:
    """:func:`check_set` on a shape (or utt2num_frames) file and a Kaldi ``text``; also the raw frame shift."""
    frames, shift_ms = read_frames(shape_path, config)
    texts = read_kaldi_map(Path(text_path), allow_empty_value=True)
    _check_same_utts(Path(shape_path), frames, Path(text_path), texts)
    return check_set(name, frames, texts, input_layer, encode), shift_ms


def suggest_layer(report: SetReport, threshold: float) -> Tuple[Optional[str], float]:
    """The most-subsampling alternative input layer that brings ``report`` under ``threshold``.

    Returns (layer or None, infeasible share of the least-subsampling alternative tried).
    """
    share = report.share
    for layer in ALTERNATIVES:
        if FACTOR[layer] >= FACTOR[report.input_layer]:
            continue
        bad = sum(subsampled_length(layer, c.frames) < c.needed for c in report.checks)
        share = bad / len(report.checks)
        if share <= threshold:
            return layer, share
    return None, share


def failure_message(report: SetReport, threshold: float, shift_ms: float, examples: int = 5) -> str:
    """The ``ERROR:`` line for a set whose infeasible share exceeds ``threshold``."""
    bad = report.infeasible
    fps = 1000.0 / (shift_ms * FACTOR[report.input_layer])
    eg = ", ".join(f"{c.utt} (T'={c.sub_frames} < {c.needed} needed)" for c in bad[:examples])
    layer, share = suggest_layer(report, threshold)
    if layer is not None:
        fix = f"use a front end with less subsampling (e.g. input_layer {layer}: {100 * share:.1f} % infeasible)"
    else:
        fix = (f"even without subsampling {100 * share:.1f} % stay infeasible: check the transcripts against "
               f"the audio (segmentation)")
    return (f"ERROR: {report.name}: {100 * report.share:.1f} % of utterances ({len(bad)}/{len(report.checks)}) "
            f"are too long for CTC with input_layer {report.input_layer} ({fps:g} frames per second after "
            f"subsampling at {shift_ms:g} ms shift): e.g. {eg}; {fix} or pass --threshold to override")


def summary_line(report: SetReport) -> str:
    w = report.worst
    worst = "" if w is None else (f", worst {w.utt} needs {w.needed} of T'={w.sub_frames}"
                                  + (f" (ratio {w.ratio:.2f})" if w.sub_frames > 0 else ""))
    return (f"{report.name}: {len(report.checks)} utterances, {len(report.infeasible)} infeasible for CTC "
            f"({100 * report.share:.1f} %) with input_layer {report.input_layer}{worst}")
