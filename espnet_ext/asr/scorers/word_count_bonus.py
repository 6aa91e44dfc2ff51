"""γ √wc(Y) of eq. 5 (Winata et al., arXiv:2004.14228, §4.2) as a full scorer for ESPnet's beam search.

√wc is not additive over tokens, so the score of token v after prefix y is the increment
√wc(y + v) − √wc(y); summed over a finished hypothesis (ESPnet accumulates every scorer's per-token scores)
the increments telescope to √wc(Y), and the beam search's weight for this scorer is γ.  The state of a
hypothesis is (wc(y), whether y ends inside a word), updated from the last token only; the per-token
effects are precomputed for the whole vocabulary (``espnet_ext.utils.word_count``), so a step is two vector
operations per hypothesis.  Together with ESPnet's LM scorer (``--lm_weight`` β) and the decoder/CTC
scores (α) this is shallow fusion of eq. 5; ``espnet_ext.asr.nbest_rescorer`` applies eq. 5 after search.
"""

import logging
from typing import Any, List, Optional, Sequence, Tuple

import torch
from espnet.nets.scorer_interface import BatchScorerInterface

from espnet_ext.utils.word_count import extend, vocabulary_counts

logger = logging.getLogger(__name__)

SCORER_KEY = "word_count"
State = Tuple[int, bool]


class WordCountBonus(BatchScorerInterface):
    """Full scorer: per next token, √wc(prefix + token) − √wc(prefix).

    Args:
        token_list: the beam search's vocabulary (ESPnet token list, id order).
        token_type: ``char``, ``bpe`` or ``word`` — how tokens turn back into text.
    """

    def __init__(self, token_list: Sequence[str], token_type: str = "char"):
        self.counts = vocabulary_counts(list(token_list), token_type)
        self.units = torch.tensor([c.units for c in self.counts], dtype=torch.float32)  # (V,)
        self.starts = torch.tensor([c.starts_word and not c.empty for c in self.counts], dtype=torch.float32)  # (V,)

    def init_state(self, x: torch.Tensor) -> Optional[State]:
        return None

    def _state(self, y: torch.Tensor, state: Optional[State]) -> State:
        if state is None:  # first call (y = [sos] or a primer): count the whole prefix
            count, in_word = 0, False
            for t in y.tolist():
                count, in_word = extend(count, in_word, self.counts[t])
            return count, in_word
        return extend(state[0], state[1], self.counts[int(y[-1])])

    def _increments(self, states: List[State], device, dtype) -> torch.Tensor:
        wc = torch.tensor([s[0] for s in states], dtype=torch.float32).unsqueeze(1)  # (B, 1)
        open_ = torch.tensor([float(s[1]) for s in states]).unsqueeze(1)  # (B, 1)
        new = wc + self.units.unsqueeze(0) - open_ * self.starts.unsqueeze(0)  # (B, V)
        return (new.sqrt() - wc.sqrt()).to(device=device, dtype=dtype)

    def score(self, y: torch.Tensor, state: Optional[State], x: torch.Tensor) -> Tuple[torch.Tensor, State]:
        state = self._state(y, state)
        return self._increments([state], x.device, x.dtype)[0], state

    def batch_score(self, ys: torch.Tensor, states: List[Any], xs: torch.Tensor) -> Tuple[torch.Tensor, List[State]]:
        new_states = [self._state(y, s) for y, s in zip(ys, states)]
        return self._increments(new_states, xs.device, xs.dtype), new_states

    @classmethod
    def attach(cls, beam_search, token_list: Sequence[str], token_type: str,
               weight: Optional[float]) -> Optional["WordCountBonus"]:
        """Add the scorer with weight γ to an ESPnet (Batch)BeamSearch; no-op for a zero/absent weight."""
        if not weight:
            return None
        if beam_search is None:
            raise ValueError("--word_count_weight needs ESPnet's attention/CTC beam search")
        if len(token_list) != beam_search.n_vocab:
            raise ValueError(f"token list has {len(token_list)} tokens but the beam search has "
                             f"{beam_search.n_vocab}")
        scorer = cls(token_list, token_type)
        beam_search.scorers[SCORER_KEY] = scorer
        beam_search.full_scorers[SCORER_KEY] = scorer
        beam_search.weights[SCORER_KEY] = float(weight)
        logger.info("word-count bonus (eq. 5) added to the beam search with γ = %s", weight)
        return scorer
