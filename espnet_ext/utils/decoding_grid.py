"""What the decoding sweeps share (``tau_sweep``: Adjust-Inference's τ; ``length_bonus_sweep``: ESPnet's penalty):
the grid option and decoding a set once per grid value, the values split over spawned processes."""

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence


def parse_grid(text: str, option: str, minimum: Optional[float] = None) -> List[float]:
    """Distinct finite numbers (``>= minimum`` when given) from a comma-separated ``option`` value, sorted."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers, got '{text}'") from None
    bound = minimum is not None and any(v < minimum for v in values)
    if not values or bound or any(not math.isfinite(v) for v in values) or len(set(values)) != len(values):
        floor = f" >= {minimum:g}" if minimum is not None else ""
        raise ValueError(f"{option} must be distinct finite values{floor}, got '{text}'")
    return sorted(values)


def decode_grid(decode_values: Callable[[Dict, Sequence[float], int], None], args: Dict, values: Sequence[float],
                sweep_nj: int = 1) -> None:
    """``decode_values(args, chunk, threads)`` for every value: in this process, or over ``sweep_nj`` spawned
    processes of one torch thread each (each loads the model once for its share of the values)."""
    if sweep_nj <= 1:
        decode_values(args, values, 0)
        return
    chunks = [list(values[j::sweep_nj]) for j in range(min(sweep_nj, len(values)))]
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: torch and ESPnet are not fork-safe
    with ProcessPoolExecutor(len(chunks), mp_context=ctx) as pool:
        for f in [pool.submit(decode_values, args, chunk, 1) for chunk in chunks]:
            f.result()
