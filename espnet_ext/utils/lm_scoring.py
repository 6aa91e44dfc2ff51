"""Sentence log-probabilities from an ESPnet LM (``espnet2.lm.espnet_model.ESPnetLanguageModel.nll``).

Shared by the perplexity table (Winata et al., arXiv:2004.14228, Table 4) and N-best rescoring (eq. 5): the
negative log-likelihood of each sentence's tokens and of the closing ``<sos/eos>``, in nats.
"""

from typing import List, Sequence

import numpy as np
import torch


@torch.no_grad()
def sentence_nll(model, token_ids: Sequence[np.ndarray], batch_size: int = 64, device: str = "cpu") -> List[float]:
    """−log p(y_1..y_n, <eos>) per sentence; ``token_ids`` hold ids without <sos>/<eos>."""
    model.eval()
    out: List[float] = []
    for start in range(0, len(token_ids), batch_size):
        chunk = token_ids[start:start + batch_size]
        lengths = torch.tensor([len(x) for x in chunk], dtype=torch.long)
        padded = np.zeros((len(chunk), max(1, int(lengths.max()))), dtype=np.int64)  # (B, L), 0 = ignore_id
        for i, x in enumerate(chunk):
            padded[i, :len(x)] = x
        nll, _ = model.nll(torch.from_numpy(padded).to(device), lengths.to(device))  # (B, L + 1)
        out.extend(nll.sum(1).tolist())
    return out
