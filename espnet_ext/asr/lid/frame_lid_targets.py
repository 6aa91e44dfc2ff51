"""Per-frame language targets for a frame-level LID head (code-switching), from data every recipe has.

A code-switched transcript says which language each output token is in by its written script (SEAME:
Chinese characters are Mandarin, Latin letters English).  The CTC forced alignment of the reference says
which encoder frames emit which token.  Together they give each frame a language:

    1. token -> language: the script of the token's characters (``SCRIPTS``) mapped by ``script_languages``
       (default ``{han: zh, latin: en}``); tokens of no mapped script (punctuation, digits, ``<unk>``) get none;
    2. Viterbi forced alignment of the reference under the model's own CTC posteriors (the best CTC path
       that emits exactly the reference, Graves et al. 2006) -> the token each frame emits, or blank;
    3. a blank frame takes the language of the last token emitted before it (of the first one after it at
       the start of the utterance): CTC spikes are sparse and the blanks between two tokens of one language
       belong to it.  Utterances the alignment cannot fit (too few frames) get no target (-1).
"""

import unicodedata
from typing import Dict, List, Optional

import torch

SCRIPTS = ("han", "latin", "hangul", "kana", "cyrillic", "arabic", "devanagari")
_DEFAULT_SCRIPT_LANGUAGES = {"han": "zh", "latin": "en"}


def char_script(ch: str) -> Optional[str]:
    """The written script of one character (lower-case name of SCRIPTS), None for digits, punctuation, marks."""
    code = ord(ch)
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FFFF:
        return "han"
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    for script in ("LATIN", "HANGUL", "CYRILLIC", "ARABIC", "DEVANAGARI"):
        if name.startswith(script):
            return script.lower()
    if name.startswith(("HIRAGANA", "KATAKANA")):
        return "kana"
    if name.startswith("CJK"):
        return "han"
    return None


def token_script(token: str) -> Optional[str]:
    """The script of a token (BPE piece, word or character): the one script of its letters, None if mixed."""
    scripts = {char_script(ch) for ch in token.replace("\u2581", "")} - {None}
    return scripts.pop() if len(scripts) == 1 else None


def ctc_forced_alignment(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                         target_lengths: torch.Tensor, blank_id: int) -> torch.Tensor:
    """The index (0..U-1) of the reference token each frame emits on the best CTC path, -1 for blank frames
    and for utterances the reference cannot be aligned to.  Batched Viterbi over the blank-extended labels.

    log_probs (B, T, V), lengths (B,), targets (B, U) (padding ignored), target_lengths (B,) -> (B, T) long.
    """
    b, t_max, _ = log_probs.shape
    u_max = targets.shape[1]
    s_max = 2 * u_max + 1
    dev = log_probs.device
    ext = torch.full((b, s_max), blank_id, dtype=torch.long, device=dev)  # blank y1 blank y2 ... yU blank
    if u_max:
        ext[:, 1::2] = targets.clamp(min=0)
    s_len = 2 * target_lengths.to(dev) + 1
    states = torch.arange(s_max, device=dev)
    valid_state = states[None] < s_len[:, None]
    # s-2 -> s allowed into a token that differs from the token two states back (CTC's skip over a blank)
    skip = torch.zeros_like(valid_state)
    skip[:, 2:] = (ext[:, 2:] != blank_id) & (ext[:, 2:] != ext[:, :-2])
    neg = torch.finfo(log_probs.dtype).min / 4
    emit = log_probs.gather(2, ext[:, None, :].expand(b, t_max, s_max))  # (B, T, S)
    alpha = torch.full((b, s_max), neg, dtype=log_probs.dtype, device=dev)
    alpha[:, :2] = emit[:, 0, :2]
    alpha = alpha.masked_fill(~valid_state, neg)
    back = torch.zeros((b, t_max, s_max), dtype=torch.long, device=dev)
    for t in range(1, t_max):
        stay = alpha
        step = torch.cat([alpha.new_full((b, 1), neg), alpha[:, :-1]], dim=1)
        jump = torch.cat([alpha.new_full((b, 2), neg), alpha[:, :-2]], dim=1).masked_fill(~skip, neg)
        best, arg = torch.stack([stay, step, jump], dim=-1).max(dim=-1)
        new = (best + emit[:, t]).masked_fill(~valid_state, neg)
        active = (t < lengths.to(dev))[:, None]  # past its length an utterance keeps its alpha (stays put)
        alpha = torch.where(active, new, alpha)
        back[:, t] = torch.where(active, arg, torch.zeros_like(arg))
    last = alpha.gather(1, (s_len - 1)[:, None]).squeeze(1)
    before = alpha.gather(1, (s_len - 2).clamp(min=0)[:, None]).squeeze(1).masked_fill(s_len < 2, neg)
    state = torch.where(before > last, s_len - 2, s_len - 1)
    feasible = torch.maximum(last, before) > neg / 2
    path = torch.empty((b, t_max), dtype=torch.long, device=dev)
    for t in range(t_max - 1, -1, -1):
        path[:, t] = state
        state = state - back[:, t].gather(1, state[:, None]).squeeze(1)
    token_index = torch.where(path % 2 == 1, (path - 1) // 2, torch.full_like(path, -1))
    inside = torch.arange(t_max, device=dev)[None] < lengths.to(dev)[:, None]
    return token_index.masked_fill(~(inside & feasible[:, None]), -1)


def fill_blank_frames(labels: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """(B, T) labels with -1 gaps -> each gap takes the last label before it, else the first after it."""
    t = torch.arange(labels.shape[1], device=labels.device).expand_as(labels)
    has = labels >= 0
    last = torch.where(has, t, torch.full_like(t, -1)).cummax(dim=1).values
    nxt = torch.where(has, t, torch.full_like(t, labels.shape[1])).flip(1).cummin(dim=1).values.flip(1)
    src = torch.where(last >= 0, last, nxt).clamp(max=labels.shape[1] - 1)
    filled = labels.gather(1, src)
    return filled.masked_fill(~inside | ~has.any(1, keepdim=True), -1)


class FrameLidTargets(torch.nn.Module):
    """Per-frame language indices from the CTC forced alignment and the script of each token.

    Args:
        token_list: the model's tokens.
        languages: the language inventory (``model_conf.languages``).
        script_languages: script name (``SCRIPTS``) -> language code of the inventory; default
            ``{han: zh, latin: en}`` restricted to the inventory's languages.
        blank_id: the CTC blank.
    """

    def __init__(self, token_list: List[str], languages: List[str], script_languages: Optional[Dict[str, str]],
                 blank_id: int = 0):
        super().__init__()
        given = script_languages is not None
        mapping = dict(script_languages) if given else \
            {s: lang for s, lang in _DEFAULT_SCRIPT_LANGUAGES.items() if lang in languages}
        bad_scripts = sorted(set(mapping) - set(SCRIPTS))
        bad_langs = sorted({lang for lang in mapping.values() if lang not in languages})
        if bad_scripts or bad_langs:
            raise ValueError(f"model_conf.lid_script_languages {mapping}: scripts must be of {SCRIPTS} "
                             f"(bad: {bad_scripts}) and languages of model_conf.languages {languages} (bad: {bad_langs})")
        if len(set(mapping.values())) < 2:
            raise ValueError(f"model_conf.lid_script_languages {mapping} maps fewer than 2 languages: frame-level "
                             "LID needs scripts that tell the languages apart (e.g. {han: zh, latin: en})")
        self.script_languages = mapping
        self.blank_id = blank_id
        lang_of_token = [languages.index(mapping[s]) if (s := token_script(tok)) in mapping else -1
                         for tok in token_list]
        self.register_buffer("lang_of_token", torch.tensor(lang_of_token, dtype=torch.long), persistent=False)

    def forward(self, log_probs: torch.Tensor, lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor) -> torch.Tensor:
        """CTC log-posteriors (B, T, V) of the reference ``text`` (B, U) -> (B, T) language index, -1: none."""
        text = text[:, : int(text_lengths.max())] if text.shape[1] else text
        index = ctc_forced_alignment(log_probs, lengths, text, text_lengths, self.blank_id)  # (B, T)
        tokens = text.to(index.device).clamp(min=0).gather(1, index.clamp(min=0))
        labels = torch.where(index >= 0, self.lang_of_token.to(index.device)[tokens], torch.full_like(index, -1))
        inside = torch.arange(index.shape[1], device=index.device)[None] < lengths.to(index.device)[:, None]
        return fill_blank_frames(labels, inside)
