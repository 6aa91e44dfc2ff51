"""A tiny ESPnet LSTM LM (char units incl. CJK) and a direct log-probability reference for the LM tests."""

from pathlib import Path
from typing import List, Sequence, Tuple

import torch
import yaml

TOKENS = ["<blank>", "<unk>", "<space>", "a", "b", "c", "我", "你", "<sos/eos>"]
LM_CONF = {"rnn_type": "lstm", "nlayers": 2, "unit": 8, "dropout_rate": 0.0}


def lm_args(tmp: Path, extra: Sequence[str] = ()):
    from espnet_ext.tasks.multitask_lm import MultitaskLMTask

    tokens = tmp / "tokens.txt"
    tokens.write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    return MultitaskLMTask.get_parser().parse_args([
        "--output_dir", str(tmp / "exp"), "--token_list", str(tokens), "--token_type", "char",
        "--lm", "seq_rnn", "--lm_conf", yaml.safe_dump(LM_CONF, default_flow_style=True).strip(),
        *extra])


def write_lm(tmp: Path, seed: int = 0) -> Tuple[Path, Path, torch.nn.Module, List[str]]:
    """(config.yaml, model .pth, the model, token list) of a randomly initialised tiny LM."""
    from espnet_ext.tasks.multitask_lm import MultitaskLMTask

    args = lm_args(tmp)
    torch.manual_seed(seed)
    model = MultitaskLMTask.build_model(args)
    config, pth = tmp / "config.yaml", tmp / "lm.pth"
    config.write_text(yaml.safe_dump(vars(args), allow_unicode=True), encoding="utf-8")
    torch.save(model.state_dict(), pth)
    return config, pth, model, list(TOKENS)


@torch.no_grad()
def direct_logprob(model, ids: Sequence[int]) -> float:
    """log p(ids, <eos>) by feeding the LSTM one token at a time through its scorer interface."""
    model.eval()
    eos = len(TOKENS) - 1
    x = torch.zeros(1, 1)
    state, total, prefix = None, 0.0, [eos]
    for target in list(ids) + [eos]:
        logp, state = model.lm.score(torch.tensor(prefix), state, x)
        total += float(logp[target])
        prefix.append(target)
    return total
