"""Tiny BERT / DistilBERT / XLM-R checkpoint directories built locally (save_pretrained; no hub access).

Hand-made vocabularies small enough to reason about in the vocabulary-mapping tests; the models are random
(seeded) and a few thousand parameters large.
"""

import os
from pathlib import Path
from typing import List

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# WordPiece (BERT, DistilBERT): word starts bare, continuations '##'.  CJK characters as words.
WORDPIECE_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "hello", "world", "the", "cat", "bon", "##jour", "##s", "##ing", "go", "Paris", "sing",
    "中", "文", "##国", "a", "b", "c", "##a", "##b", "##c", "##t",
]
# SentencePiece unigram (XLM-R): word starts '▁', continuations bare.
XLMR_PIECES = [
    ("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0),
    ("▁", -2.0), ("▁hello", -3.0), ("▁world", -3.0), ("▁the", -3.0), ("▁cat", -4.0), ("▁bon", -4.0),
    ("jour", -4.0), ("s", -3.5), ("ing", -4.0), ("▁go", -4.0), ("▁中", -5.0), ("文", -5.0), ("国", -5.0),
    ("a", -4.5), ("b", -4.5), ("c", -4.5), ("t", -4.5), ("▁a", -4.0), ("▁b", -4.0), ("▁c", -4.0),
    ("<mask>", 0.0),
]
# An ASR SentencePiece token list in ESPnet's order: <blank>, <unk>, pieces ..., <sos/eos>.
ASR_TOKENS = ["<blank>", "<unk>", "▁hello", "▁world", "s", "ing", "▁bon", "jour", "▁中", "国", "▁", "▁HELLO",
              "▁zzq", "▁cats", "xq", "<sos/eos>"]


def _seed():
    import torch

    torch.manual_seed(0)


def make_bert_dir(path: Path, hidden: int = 32, layers: int = 2, heads: int = 4, with_head: bool = True,
                  max_positions: int = 64) -> Path:
    """bert-base-multilingual-cased layout (BertForMaskedLM keys 'bert.*' + 'cls.predictions.*')."""
    from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizer

    _seed()
    cfg = BertConfig(vocab_size=len(WORDPIECE_VOCAB), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=heads, intermediate_size=2 * hidden, max_position_embeddings=max_positions,
                     type_vocab_size=2)
    (BertForMaskedLM(cfg) if with_head else BertModel(cfg)).save_pretrained(path)
    BertTokenizer(vocab={t: i for i, t in enumerate(WORDPIECE_VOCAB)}, do_lower_case=False).save_pretrained(path)
    return Path(path)


def make_distilbert_dir(path: Path, hidden: int = 32, layers: int = 2, heads: int = 4) -> Path:
    """distilbert-base-multilingual-cased layout (DistilBertForMaskedLM: 'distilbert.*' + 'vocab_*')."""
    from transformers import DistilBertConfig, DistilBertForMaskedLM, DistilBertTokenizer

    _seed()
    cfg = DistilBertConfig(vocab_size=len(WORDPIECE_VOCAB), dim=hidden, n_layers=layers, n_heads=heads,
                           hidden_dim=2 * hidden, max_position_embeddings=64)
    DistilBertForMaskedLM(cfg).save_pretrained(path)
    DistilBertTokenizer(vocab={t: i for i, t in enumerate(WORDPIECE_VOCAB)}, do_lower_case=False).save_pretrained(path)
    return Path(path)


def make_xlmr_dir(path: Path, hidden: int = 32, layers: int = 2, heads: int = 4) -> Path:
    """xlm-roberta-base layout, bare XLMRobertaModel keys (no masked-LM head saved)."""
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizer

    _seed()
    cfg = XLMRobertaConfig(vocab_size=len(XLMR_PIECES), hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, intermediate_size=2 * hidden, max_position_embeddings=66,
                           type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    XLMRobertaModel(cfg, add_pooling_layer=False).save_pretrained(path)
    XLMRobertaTokenizer(vocab=list(XLMR_PIECES)).save_pretrained(path)
    return Path(path)


def write_token_list(path: Path, tokens: List[str] = ASR_TOKENS) -> Path:
    Path(path).write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return Path(path)
