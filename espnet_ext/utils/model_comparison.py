"""Several models' CER per language against one reference model: who wins, who loses, and what happens to the
head and the tail of a long-tailed language distribution (the question of the A2 paper, arXiv:2012.01687,
Table 1's high/low groups, and of every A2-vs-SMT comparison in our recipes).

The inputs are the ``results.json`` files of ``espnet_ext.bin.score_cer`` (``{"languages": {lang: {"cer": ...}}}``)
— one per model, or several (e.g. one per training seed), whose per-language mean is the model's CER —
and the training set's ``utt2lang``, which orders the languages from head to tail and splits them into a head
group (the top half by training utterances, or the languages given) and a tail group (the rest).
Group means and the average are unweighted means over languages, as ``average_cer`` of ``score_cer``.
"""

import json
import math
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from espnet_ext.fileio.kaldi_map import read_kaldi_map


def read_cer(path: Path) -> Dict[str, float]:
    """CER % per language of a ``score_cer`` results.json."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {lang: float(v["cer"]) for lang, v in data["languages"].items()}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such results file (score the decoding first: stage 7)") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a results.json of espnet_ext.bin.score_cer ({e})") from None


def mean_cer(paths: Sequence[Path]) -> Dict[str, float]:
    """CER % per language, the mean over several results.json of one model (e.g. its training seeds); every
    file must hold the same languages (a mean over a different number of runs per language would mislead)."""
    per_file = [read_cer(p) for p in paths]
    if not per_file:
        raise ValueError("no results.json given")
    languages = set(per_file[0])
    for path, cer in zip(paths[1:], per_file[1:]):
        if set(cer) != languages:
            raise ValueError(f"{path}: scored on languages {sorted(cer)}, {paths[0]} on {sorted(languages)}: "
                             f"average runs over the same test set")
    return {lang: round(sum(cer[lang] for cer in per_file) / len(per_file), 2) for lang in per_file[0]}


def language_groups(train_counts: Dict[str, int], languages: Sequence[str], head: Optional[Sequence[str]] = None
                    ) -> Tuple[List[str], Dict[str, str]]:
    """Languages ordered head to tail (training utterances, then name) and each one's group ("head"/"tail").
    Without ``head``, the top half (rounded down, at least one) by training utterances is the head."""
    order = sorted(languages, key=lambda lang: (-train_counts.get(lang, 0), lang))
    if head:
        unknown = sorted(set(head) - set(languages))
        if unknown:
            raise ValueError(f"--head names languages that no model was scored on: {', '.join(unknown)} "
                             f"(scored: {', '.join(order)})")
        head_set = set(head)
    else:
        head_set = set(order[:max(1, len(order) // 2)])
    if len(head_set) == len(order) and len(order) > 1:
        raise ValueError("every language is in the head group: leave at least one for the tail")
    return order, {lang: "head" if lang in head_set else "tail" for lang in order}


def _mean(values: List[float]) -> float:
    return round(sum(values) / len(values), 2) if values else math.nan


Runs = Union[Path, Sequence[Path]]


def compare(ref: Tuple[str, Runs], models: Sequence[Tuple[str, Runs]], train_utt2lang: Path,
            head: Optional[Sequence[str]] = None) -> dict:
    """The comparison as a JSON-ready dict: CER per model and language, group means, and each model's
    difference from the reference (model − reference, in CER points: negative = the model is better).
    A model given several results.json is their mean (``runs`` in the dict says how many)."""
    names = [ref[0]] + [name for name, _ in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be distinct, got {names}")
    paths = {name: [Path(p)] if isinstance(p, (str, Path)) else [Path(x) for x in p] for name, p in [ref, *models]}
    cer = {name: mean_cer(paths[name]) for name in names}
    languages = set(cer[ref[0]])
    for name in names[1:]:
        if set(cer[name]) != languages:
            raise ValueError(f"{name} was scored on languages {sorted(cer[name])}, the reference {ref[0]} on "
                             f"{sorted(languages)}: compare decodings of the same test set")
    counts = Counter(read_kaldi_map(train_utt2lang).values())
    order, group = language_groups(counts, sorted(languages), head)
    means = {name: {g: _mean([cer[name][lang] for lang in order if group[lang] == g]) for g in ("head", "tail")}
             for name in names}
    for name in names:
        means[name]["avg"] = _mean([cer[name][lang] for lang in order])
    diff, rel = {}, {}
    for name in names[1:]:
        diff[name] = {lang: round(cer[name][lang] - cer[ref[0]][lang], 2) for lang in order}
        rel[name] = {lang: round(100.0 * (cer[name][lang] / cer[ref[0]][lang] - 1.0), 1) if cer[ref[0]][lang] else None
                     for lang in order}
        for g in ("head", "tail", "avg"):
            diff[name][g] = round(means[name][g] - means[ref[0]][g], 2)
            rel[name][g] = round(100.0 * (means[name][g] / means[ref[0]][g] - 1.0), 1) if means[ref[0]][g] else None
    return {"ref": ref[0], "models": names, "runs": {n: len(paths[n]) for n in names}, "languages": order,
            "train_utterances": {lang: counts.get(lang, 0) for lang in order}, "group": group,
            "cer": {n: {lang: cer[n][lang] for lang in order} for n in names},
            "group_mean": means, "difference": diff, "relative_difference_percent": rel,
            "wins": {n: [lang for lang in order if diff[n][lang] < 0] for n in names[1:]},
            "losses": {n: [lang for lang in order if diff[n][lang] > 0] for n in names[1:]}}


def markdown(result: dict, title: str = "") -> str:
    """One row per language (head to tail), then the head mean, the tail mean and the average."""
    names, ref = result["models"], result["ref"]
    others = names[1:]
    head = ["language", "train utts", "group"] + names + [f"{n} − {ref}" for n in others]
    lines = ([f"### {title}", ""] if title else []) + ["| " + " | ".join(head) + " |",
                                                        "|---|---:|---|" + "---:|" * (len(names) + len(others))]
    for lang in result["languages"]:
        cells = [lang, f"{result['train_utterances'][lang]:,}", result["group"][lang]]
        cells += [f"{result['cer'][n][lang]:.1f}" for n in names]
        cells += [f"{result['difference'][n][lang]:+.1f}" for n in others]
        lines.append("| " + " | ".join(cells) + " |")
    labels = {"head": "head mean", "tail": "tail mean", "avg": "**average**"}
    for g, label in labels.items():
        cells = [label, "", ""] + [f"{result['group_mean'][n][g]:.1f}" for n in names]
        cells += [f"{result['difference'][n][g]:+.1f}" for n in others]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    runs = result.get("runs", {})
    averaged = [f"{n} ({runs[n]})" for n in names if runs.get(n, 1) > 1]
    lines.append(f"CER %; head: {', '.join(l for l in result['languages'] if result['group'][l] == 'head')}; "
                 f"differences in CER points against {ref} (negative: better than {ref})."
                 + (f" Means over runs: {', '.join(averaged)}." if averaged else ""))
    for n in others:
        lines.append(f"- {n}: better than {ref} on {len(result['wins'][n])} of {len(result['languages'])} languages"
                     f" ({', '.join(result['wins'][n]) or 'none'}); worse on {', '.join(result['losses'][n]) or 'none'}.")
    return "\n".join(lines) + "\n"


def plot(result: dict, png: Path, title: str = "") -> None:
    """Left: CER per language (head to tail), one bar per model. Right: each model's difference from the
    reference per language, green where it wins and red where it loses (the "who wins, who loses" view)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, ref, langs = result["models"], result["ref"], result["languages"]
    others = names[1:]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(max(8.0, 1.1 * len(langs) + 4), 3.6),
                                   gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(names)
    colors = ["#4477aa", "#cc6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb"]
    n_head = sum(result["group"][lang] == "head" for lang in langs)
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(langs))]
        ax1.bar(xs, [result["cer"][name][lang] for lang in langs], width, label=name, color=colors[i % len(colors)])
    ax1.axvline(n_head - 0.5, color="black", linestyle=":", linewidth=1)
    ax1.set_xticks(range(len(langs)))
    ax1.set_xticklabels([f"{lang}\n{result['train_utterances'][lang]}" for lang in langs], fontsize=8)
    ax1.set_ylabel("CER (%)")
    ax1.set_title("CER per language (head | tail; train utterances below)", fontsize=9)
    ax1.legend(fontsize=8)
    width2 = 0.8 / max(1, len(others))
    for i, name in enumerate(others):
        values = [result["difference"][name][lang] for lang in langs]
        xs = [j + (i - (len(others) - 1) / 2) * width2 for j in range(len(langs))]
        ax2.bar(xs, values, width2, color=["#228833" if v < 0 else "#cc3311" for v in values],
                edgecolor=colors[(i + 1) % len(colors)], linewidth=1.5, label=name)
    ax2.axhline(0, color="black", linewidth=0.8)
    ax2.axvline(n_head - 0.5, color="black", linestyle=":", linewidth=1)
    ax2.set_xticks(range(len(langs)))
    ax2.set_xticklabels(langs, fontsize=8)
    ax2.set_ylabel(f"CER − {ref} (points)")
    ax2.set_title(f"against {ref}: below 0 wins, above 0 loses", fontsize=9)
    if len(others) > 1:
        ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
