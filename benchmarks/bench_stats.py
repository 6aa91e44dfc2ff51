"""Paired timing statistics of the benchmark (benchmarks.benchmark): medians, ratios, their spread.

A comparison times a baseline and a variant back to back in every repeat (the order rotated from repeat to
repeat, :func:`rotation`), so both see the same machine load; each repeat gives one ratio variant/baseline
and the comparison reports the median of those ratios with their interquartile range (IQR) as the noise
of one repeat.  :func:`compare` builds one table row; no ESPnet or torch import.
"""

import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple


def rotation(names: Sequence[str], repeat: int) -> List[str]:
    """``names`` rotated left by ``repeat``: every name goes first, last and in between equally often."""
    names = list(names)
    if not names:
        return names
    k = repeat % len(names)
    return names[k:] + names[:k]


def quartiles(values: Sequence[float]) -> Tuple[float, float, float]:
    """(q1, median, q3) by linear interpolation between order statistics; one value gives it thrice."""
    xs = sorted(float(v) for v in values)
    if not xs:
        raise ValueError("quartiles of an empty sequence")

    def q(p: float) -> float:
        pos = p * (len(xs) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return q(0.25), q(0.5), q(0.75)


def paired_ratios(baseline: Sequence[float], variant: Sequence[float]) -> List[float]:
    """Per-repeat ratios variant[i] / baseline[i] (the two lists are paired by repeat)."""
    if len(baseline) != len(variant):
        raise ValueError(f"paired samples differ in length: {len(baseline)} baseline vs {len(variant)} variant")
    if not baseline:
        raise ValueError("no samples")
    if any(b <= 0 for b in baseline):
        raise ValueError("baseline samples must be positive")
    return [v / b for b, v in zip(baseline, variant)]


def relative_spread(values: Sequence[float]) -> float:
    """IQR / median of ``values`` (0 for a single value): the noise of one measurement, relative."""
    q1, med, q3 = quartiles(values)
    return (q3 - q1) / med if med else 0.0


def compare(section: str, metric: str, baseline: str, variant: str, baseline_samples: Sequence[float],
            variant_samples: Sequence[float], unit: str, higher_is_better: bool = False,
            note: str = "") -> Dict:
    """One result row: medians of both sides, median and IQR of the paired per-repeat ratios.

    A single sample per side (a memory figure, a parameter count) gives that ratio with no spread.
    """
    ratios = paired_ratios(baseline_samples, variant_samples)
    q1, med, q3 = quartiles(ratios)
    return {"section": section, "metric": metric, "baseline": baseline, "variant": variant, "unit": unit,
            "baseline_value": statistics.median(baseline_samples), "variant_value": statistics.median(variant_samples),
            "ratio": med, "ratio_q1": q1, "ratio_q3": q3, "n": len(ratios),
            "baseline_spread": relative_spread(baseline_samples), "higher_is_better": higher_is_better,
            "note": note}


def measure(fn: Callable[[], object], sync: Optional[Callable[[], None]] = None) -> Tuple[float, float, object]:
    """Run ``fn()`` once: (wall seconds, process CPU seconds, its return value); ``sync`` runs before both
    clock readings (e.g. ``torch.cuda.synchronize``)."""
    if sync:
        sync()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if sync:
        sync()
    return time.perf_counter() - t0, time.process_time() - c0, out
