"""How far under its speech each speaker's log-mel floor lies: the check behind ``mel_warp``'s noise floor.

Why (issue 20, docs/lid_routing.md "Unseen voices"): a LID head trained on a few voices learns what those voices
leave between and under their speech (digital silence, echo, breath) together with the languages, and misroutes a
new voice whose floor lies where no training voice's does. ``specaug_conf.noise_snr_range`` of ``mel_warp``
(:mod:`espnet_ext.asr.specaug.feature_noise`) moves training floors; this module measures where the floors are, in
the same unit, so the range can be chosen to reach the voices a model will meet.

The statistic, per utterance: the ``percentile``-th percentile, over every frame and mel bin, of the bin's power
in dB under the utterance's mean power (the mean of exp(x) over frames and bins, the signal power that
``noise_snr_range`` is measured against; features are natural-log powers, as stage 2 writes them):

    floor = -percentile_{t,f}( 10 * log10( exp(x[t, f]) / mean_{t,f} exp(x) ) )      [dB under the mean]

A noise floor at SNR s puts about ``percentile`` % of a quiet utterance's bins near s dB under the mean, so a
speaker whose floor is 26 dB is reached by a ``noise_snr_range`` that starts at or below 26 dB. Per speaker we
report the median and the quartiles of its utterances' floors; the reference set (the training set) spans the
range of its speakers' medians, and speakers of the other sets outside it are named.
"""

import json
import math
import re
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map

DB_PER_NEPER = 10.0 / math.log(10.0)  # natural-log power -> dB


def utterance_floor_db(feats: np.ndarray, percentile: float) -> float:
    """The floor of one utterance's (T, F) natural-log-power features, in dB under its mean power."""
    x = np.asarray(feats, dtype=np.float64)
    top = x.max()
    log_mean = top + math.log(np.exp(x - top).mean())  # log of the mean power, without overflow
    return float(-np.percentile((x - log_mean) * DB_PER_NEPER, percentile))


def read_set_floors(data_dir: Path, percentile: float,
                    progress: Callable[[Iterable], Iterable] = lambda it: it,
                    speaker_regex: Optional[str] = None) -> Dict[str, Tuple[str, float]]:
    """{utt: (speaker, floor dB)} of a stage-2 data dir (``feats.scp``, ``utt2spk``), in feats.scp's order.

    ``speaker_regex``: the speaker is the first group of this pattern's match in the utt2spk speaker id (e.g.
    ``(\\w+)$`` turns the synthetic corpora's ``en-f3`` into the voice ``f3``, pooling a voice's languages).
    Every error names the file and line, or the utterance: an empty feats.scp, an utterance without a speaker, a
    speaker id the pattern does not match, an unreadable, empty or non-finite feature matrix."""
    import kaldiio

    pattern = re.compile(speaker_regex) if speaker_regex else None

    data_dir = Path(data_dir)
    scp = data_dir / "feats.scp"
    feats = read_kaldi_map(scp)
    if not feats:
        raise DataDirError(f"{scp}: no utterances")
    utt2spk = read_kaldi_map(data_dir / "utt2spk")
    out: Dict[str, Tuple[str, float]] = {}
    for lineno, (utt, rxfile) in enumerate(progress(list(feats.items())), 1):
        if utt not in utt2spk:
            raise DataDirError(f"{scp}:{lineno}: utterance '{utt}' has no line in {data_dir / 'utt2spk'}")
        try:
            x = np.asarray(kaldiio.load_mat(rxfile))
        except Exception as exc:  # kaldiio raises OSError, ValueError and its own errors on a bad ark
            raise DataDirError(f"{scp}:{lineno}: utterance '{utt}': cannot read '{rxfile}': {exc}") from exc
        if x.ndim != 2 or x.size == 0:
            raise DataDirError(f"{scp}:{lineno}: utterance '{utt}': features of shape {x.shape}, expected "
                               f"(frames, bins) with at least one frame")
        if not np.isfinite(x).all():
            raise DataDirError(f"{scp}:{lineno}: utterance '{utt}': features hold inf or NaN")
        speaker = utt2spk[utt]
        if pattern is not None:
            match = pattern.search(speaker)
            if match is None or not match.groups() or match.group(1) is None:
                raise DataDirError(f"{data_dir / 'utt2spk'}: speaker '{speaker}' of utterance '{utt}' does not "
                                   f"match --speaker_regex '{speaker_regex}' with a group")
            speaker = match.group(1)
        out[utt] = (speaker, utterance_floor_db(x, percentile))
    return out


def speaker_rows(set_name: str, floors: Dict[str, Tuple[str, float]]) -> List[dict]:
    """One row per speaker of a set: its utterance count, and the median and quartiles of their floors."""
    by_speaker: Dict[str, List[float]] = {}
    for speaker, floor in floors.values():
        by_speaker.setdefault(speaker, []).append(floor)
    rows = []
    for speaker in sorted(by_speaker):
        values = np.array(by_speaker[speaker])
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        rows.append({"set": set_name, "speaker": speaker, "num_utts": int(values.size),
                     "median_db": round(float(median), 2), "q25_db": round(float(q25), 2),
                     "q75_db": round(float(q75), 2)})
    return rows


def floor_summary(sets: Dict[str, Dict[str, Tuple[str, float]]], reference: str, percentile: float) -> dict:
    """The report: speaker rows of every set, the reference set's range of speaker medians, and the speakers of
    the other sets outside it (``noisier``: less far under the mean than every reference speaker; ``quieter``)."""
    if reference not in sets:
        raise ValueError(f"reference set '{reference}' is not one of the sets {list(sets)}")
    rows = [row for name, floors in sets.items() for row in speaker_rows(name, floors)]
    ref = [row["median_db"] for row in rows if row["set"] == reference]
    low, high = min(ref), max(ref)
    outside = [dict(set=row["set"], speaker=row["speaker"], median_db=row["median_db"],
                    side="noisier" if row["median_db"] < low else "quieter")
               for row in rows if row["set"] != reference and not low <= row["median_db"] <= high]
    noisier = [o["median_db"] for o in outside if o["side"] == "noisier"]
    return {"percentile": percentile, "reference": reference, "sets": list(sets),
            "reference_range_db": [low, high], "speakers": rows, "outside": outside,
            # the highest noise_snr_range start that reaches every noisier speaker's median floor
            "snr_start_reaching_db": min(noisier) if noisier else None}


def markdown(summary: dict) -> str:
    low, high = summary["reference_range_db"]
    lines = [f"### Feature floor per speaker ({summary['percentile']:g}th percentile, dB under the mean power)", "",
             f"Reference set `{summary['reference']}`: speaker medians {low:.1f}-{high:.1f} dB. Lower = more energy "
             f"between and under the speech.", "",
             "| set | speaker | utts | median | quartiles | vs reference |", "|---|---|---:|---:|---|---|"]
    side = {(o["set"], o["speaker"]): o["side"] for o in summary["outside"]}
    for row in summary["speakers"]:
        mark = "" if row["set"] == summary["reference"] else side.get((row["set"], row["speaker"]), "inside")
        lines.append(f"| {row['set']} | {row['speaker']} | {row['num_utts']} | {row['median_db']:.1f} | "
                     f"{row['q25_db']:.1f}-{row['q75_db']:.1f} | {mark} |")
    start = summary["snr_start_reaching_db"]
    if start is not None:
        names = ", ".join(f"{o['set']}/{o['speaker']} ({o['median_db']:.1f} dB)"
                          for o in summary["outside"] if o["side"] == "noisier")
        lines += ["", f"Noisier floor than every reference speaker: {names}. A mel_warp noise floor reaches them "
                      f"when `noise_snr_range` starts at or below {start:.1f} dB."]
    return "\n".join(lines) + "\n"


def plot_floors(summary: dict, png: Path) -> None:
    """Each speaker's median floor with its quartiles, one colour per set, the reference range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["speakers"]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(rows) + 1.5), 3.6))
    low, high = summary["reference_range_db"]
    ax.axhspan(low, high, color="0.9", label=f"{summary['reference']} speakers' range")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, name in enumerate(summary["sets"]):
        idx = [i for i, row in enumerate(rows) if row["set"] == name]
        med = [rows[i]["median_db"] for i in idx]
        err = [[rows[i]["median_db"] - rows[i]["q25_db"] for i in idx],
               [rows[i]["q75_db"] - rows[i]["median_db"] for i in idx]]
        ax.errorbar(idx, med, yerr=err, fmt="o", color=colours[k % len(colours)], capsize=3, label=name)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([row["speaker"] for row in rows], rotation=90 if len(rows) > 12 else 0, fontsize=8)
    ax.set_ylabel(f"{summary['percentile']:g}th pct., dB under mean")
    ax.invert_yaxis()  # noisier floors (fewer dB under the mean) at the top
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def write_floor_report(summary: dict, tmp_dir: Path) -> List[Path]:
    """feature_floor.json, .md and .png into ``tmp_dir`` (the atomic dir's partial dir)."""
    tmp_dir = Path(tmp_dir)
    paths = [tmp_dir / "feature_floor.json", tmp_dir / "feature_floor.md", tmp_dir / "feature_floor.png"]
    paths[0].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(summary), encoding="utf-8")
    plot_floors(summary, paths[2])
    return paths


def load_floor_summary(data_dirs: Dict[str, Path], reference: Optional[str], percentile: float,
                       progress: Callable[[str], Callable[[Iterable], Iterable]] = lambda name: (lambda it: it),
                       speaker_regex: Optional[str] = None) -> dict:
    """Read every ``{name: data_dir}`` and summarize against ``reference`` (default: the first set)."""
    if not 0.0 < percentile < 100.0:
        raise ValueError(f"percentile must lie strictly between 0 and 100, got {percentile}")
    sets = {name: read_set_floors(path, percentile, progress(name), speaker_regex)
            for name, path in data_dirs.items()}
    return floor_summary(sets, reference or next(iter(data_dirs)), percentile)
