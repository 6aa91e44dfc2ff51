"""N-best rescoring with eq. 5 of Winata et al., arXiv:2004.14228 (§4.2):

    P(Y) = α log P(Y|X) + β log p_lm(Y) + γ √wc(Y)

applied after beam search to ESPnet's ``<n>best_recog/{score,text}`` (``espnet_ext.bin.asr_inference
--nbest N``).  log P(Y|X) is the beam search's hypothesis score (the decoder log-probability, plus the
weighted CTC score when ``ctc_weight`` > 0); log p_lm(Y) is the LM's log-probability of the hypothesis
text *re-tokenised with the LM's own tokenizer* (its ``token_type``/``bpemodel``/``token_list``), ending
with ``<sos/eos>``, so the LM may use another unit than the ASR model (e.g. a word LM on a char ASR);
wc(Y) counts English words and Chinese characters (``espnet_ext.utils.word_count``).  The paper's
values are α = 1, β = 0.1, γ = 0.1.
"""

import math
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from espnet_ext.utils.lm_scoring import sentence_nll
from espnet_ext.utils.word_count import word_count

LMScorer = Callable[[Sequence[str]], List[float]]


class ScoredHypothesis(NamedTuple):
    rank: int  # position in the ASR n-best list (1 = the beam search's best)
    text: str
    asr: float
    lm: float
    wc: int
    total: float


class NbestRescorer:
    """Rescore N-best lists with eq. 5.

    Args:
        lm_scorer: texts -> log p_lm of each (natural log); ``None`` only with ``beta == 0``.
        alpha: α, weight of the ASR score log P(Y|X).
        beta: β, weight of the LM log-probability.
        gamma: γ, weight of √wc(Y).
    """

    def __init__(self, lm_scorer: Optional[LMScorer], alpha: float = 1.0, beta: float = 0.1, gamma: float = 0.1):
        if lm_scorer is None and beta != 0:
            raise ValueError(f"beta = {beta} needs a language model (lm_scorer)")
        self.lm_scorer = lm_scorer
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)

    def score(self, texts: Sequence[str], asr_scores: Sequence[float]) -> List[ScoredHypothesis]:
        """Eq. 5 for each hypothesis of one utterance, in the input order."""
        if len(texts) != len(asr_scores):
            raise ValueError(f"{len(texts)} texts but {len(asr_scores)} ASR scores")
        lm = self.lm_scorer(list(texts)) if self.lm_scorer is not None else [0.0] * len(texts)
        out = []
        for rank, (text, asr, lp) in enumerate(zip(texts, asr_scores, lm), 1):
            wc = word_count(text)
            total = self.alpha * float(asr) + self.beta * float(lp) + self.gamma * math.sqrt(wc)
            out.append(ScoredHypothesis(rank, text, float(asr), float(lp), wc, total))
        return out

    def best(self, texts: Sequence[str], asr_scores: Sequence[float]) -> ScoredHypothesis:
        """The hypothesis maximising eq. 5 (ties keep the better ASR rank)."""
        scored = self.score(texts, asr_scores)
        if not scored:
            raise ValueError("empty n-best list")
        return max(scored, key=lambda h: (h.total, -h.rank))

    def rescore_all(self, nbest: Dict[str, List[Dict[str, str]]]) -> Dict[str, ScoredHypothesis]:
        """``{utt: [{'text': ..., 'score': ...}, ...]}`` (rank order) -> the best hypothesis per utterance."""
        return {utt: self.best([h["text"] for h in hyps], [float(h["score"]) for h in hyps])
                for utt, hyps in nbest.items()}


def espnet_lm_scorer(lm_train_config: str, lm_file: str, device: str = "cpu", batch_size: int = 64) -> LMScorer:
    """log p_lm(text) with an ESPnet LM (``espnet2.tasks.lm.LMTask`` config + weights), text tokenised as in
    LM training (the LM task's preprocessor), the ``<sos/eos>`` ending included."""
    from espnet2.tasks.lm import LMTask

    model, train_args = LMTask.build_model_from_file(lm_train_config, lm_file, device)
    model.eval()
    preprocess = LMTask.build_preprocess_fn(train_args, False)
    if preprocess is None:
        raise ValueError(f"{lm_train_config}: the LM was trained without a preprocessor (use_preprocessor "
                         "false); rescoring needs its tokenizer to turn hypothesis text into token ids")

    def score(texts: Sequence[str]) -> List[float]:
        ids = [np.asarray(preprocess(f"hyp{i}", {"text": t})["text"], dtype=np.int64) for i, t in enumerate(texts)]
        return [-x for x in sentence_nll(model, ids, batch_size=batch_size, device=device)]

    return score
