"""Share of utterances whose hypothesis is much longer than its reference: a looping-decoder detector.

An attention decoder that loses its alignment repeats a phrase until the maximum length, and such an
utterance can add more insertions than its reference has characters; a handful of them can dominate a set's
CER.  The share of hypotheses longer than ``ratio`` × reference (1.5 by default) tells this failure apart from
uniformly bad recognition.  Lengths are in characters with spaces not counted, as
:func:`espnet_ext.utils.error_rate.cer_ignoring_spaces` counts them (:func:`espnet_ext.utils.error_rate.char_units`
with ``ignore_space``).  A missing hypothesis counts as empty (never long); a hypothesis of an empty
reference counts as long when it is not empty.
"""

from typing import Dict, List, Tuple

from espnet_ext.utils.error_rate import char_units


def long_hypothesis_share(refs: Dict[str, str], hyps: Dict[str, str], ratio: float = 1.5,
                          max_examples: int = 5) -> Tuple[float, int, int, List[Tuple[str, int, int]]]:
    """``(share, count, n, examples)`` over the utterances of ``refs``.

    ``share`` = 100 × ``count`` / ``n`` in percent (0 when ``n`` is 0), ``count`` = utterances whose
    hypothesis length > ``ratio`` × reference length, ``n`` = utterances scored, ``examples`` = up to
    ``max_examples`` of them as ``(utt, ref_len, hyp_len)``, the longest relative to their reference first.
    """
    long: List[Tuple[str, int, int]] = []
    for utt in sorted(refs):
        r = len(char_units(refs[utt], ignore_space=True))
        h = len(char_units(hyps.get(utt, ""), ignore_space=True))
        if h > ratio * r:
            long.append((utt, r, h))
    n = len(refs)
    share = 100.0 * len(long) / n if n else 0.0
    examples = sorted(long, key=lambda e: (-e[2] / max(e[1], 1), e[0]))[:max_examples]
    return share, len(long), n, examples
