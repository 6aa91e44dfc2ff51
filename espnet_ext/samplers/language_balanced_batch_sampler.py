"""Balanced sampling (BS) of A2 (Adapt-and-Adjust, ICLR 2021 submission), Sec. 3.1 and Table 14.

"We sample the same number of utterances for each language in a batch": the paper takes 6 utterances per
language and builds a balanced batch by accumulating the gradient 11 times (11 languages; Table 14:
batch size 6, accum-grad 11 for BS).  Two layouts give that balance:

    * ``mixed``: every mini-batch holds ``per_language`` utterances of each language;
    * ``grouped``: every mini-batch holds ``per_language`` utterances of one language, and consecutive
      cycles of L mini-batches visit each of the L languages once (random order per cycle).  With
      ``accum_grad`` a multiple of L every optimizer update sees ``per_language`` utterances per language —
      the paper's Table 14 reading (6 x 11).

Languages are streams: the utterances of a language in a random order, re-shuffled at every pass, so a
minority language is re-sampled (oversampled) as often as the batches need it, while a majority language
continues its stream across epochs (each of its utterances is seen before any is repeated).

Epoch definition (``epoch``), the number of units (mixed batches / grouped cycles) per epoch:
    * ``corpus`` (default): ceil(N / (per_language * L)) units, i.e. one epoch draws as many utterances as
      the training set holds — the same per-epoch budget as ESPnet's random batches (SMT);
    * ``max``: ceil(N_max / per_language): the largest language is seen once per epoch;
    * ``min``: ceil(N_min / per_language): the smallest language is seen once per epoch.

Determinism: batches depend only on (seed, epoch) — ESPnet calls ``generate(epoch + seed)`` — so resuming
reproduces them and every DDP rank computes the same global batches.  Under DDP each rank takes its own
``rank::world_size`` share of every language's utterances in every mini-batch (``per_language`` must be a
multiple of the world size), so ranks see disjoint utterances, the same number of batches, and every batch
stays balanced on every rank.
"""

import logging
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from espnet2.samplers.abs_sampler import AbsSampler

LAYOUTS = ("mixed", "grouped")
EPOCH_DEFINITIONS = ("corpus", "max", "min")


def read_utt2lang(path: Union[str, Path], languages: Sequence[str]) -> Dict[str, int]:
    """'utt language' lines -> {utt: index into ``languages``}; the language is a code or an integer index.

    Raises:
        ValueError: a malformed line, a duplicate utterance, or a language outside ``languages`` (naming the
            file and the utterance).
    """
    index = {lang: i for i, lang in enumerate(languages)}
    out: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'utterance language', got {line.rstrip()!r}")
            utt, lang = parts
            if utt in out:
                raise ValueError(f"{path}:{n}: utterance '{utt}' is listed twice")
            if lang in index:
                out[utt] = index[lang]
            elif lang.lstrip("-").isdigit() and 0 <= int(lang) < len(languages):
                out[utt] = int(lang)
            else:
                raise ValueError(f"{path}: utterance '{utt}' has language '{lang}', which is not in the model's "
                                 f"languages {list(languages)} (neither a code nor an index 0..{len(languages) - 1})")
    if not out:
        raise ValueError(f"{path}: no utterances")
    return out


class LanguageBalancedBatchSampler(AbsSampler):
    """Mini-batches with the same number of utterances from every language (A2 "BS").

    Args:
        utt2lang_file: ``utt language`` lines (``utt2lang`` codes or ``utt2lid`` indices into ``languages``).
        languages: the model's language inventory (``model_conf.languages``).
        per_language: utterances of each language per balanced batch (the paper: 6).
        layout: ``mixed`` or ``grouped`` (see the module docstring).
        epoch: epoch definition: ``corpus``, ``max`` or ``min`` (see the module docstring).
        keys: the utterances to sample from (e.g. those of the shape file); each needs a language.
            None: every utterance of ``utt2lang_file``.
        seed: base seed (ESPnet's ``--seed``).
        rank: this process's DDP rank.
        world_size: number of DDP ranks.
        accum_grad: ESPnet's gradient accumulation.  Epochs are rounded up to whole optimizer updates;
            ``grouped`` needs it to be a multiple of the number of languages (each update then holds
            ``per_language`` utterances of every language).
    """

    def __init__(
        self,
        utt2lang_file: Union[str, Path],
        languages: Sequence[str],
        per_language: int,
        layout: str = "mixed",
        epoch: str = "corpus",
        keys: Optional[Sequence[str]] = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        accum_grad: int = 1,
    ):
        if per_language < 1:
            raise ValueError(f"lang_balanced_per_language must be >= 1, got {per_language}")
        if layout not in LAYOUTS:
            raise ValueError(f"lang_balanced_layout must be one of {LAYOUTS}, got '{layout}'")
        if epoch not in EPOCH_DEFINITIONS:
            raise ValueError(f"lang_balanced_epoch must be one of {EPOCH_DEFINITIONS}, got '{epoch}'")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        if per_language % world_size:
            raise ValueError(f"lang_balanced_per_language ({per_language}) must be a multiple of the number of "
                             f"DDP ranks ({world_size}) so that every rank gets the same number of utterances "
                             "of every language")
        if accum_grad < 1:
            raise ValueError(f"accum_grad must be >= 1, got {accum_grad}")
        self.utt2lang_file = str(utt2lang_file)
        self.languages = list(languages)
        self.per_language = per_language
        self.layout = layout
        self.epoch = epoch
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

        utt2lang = read_utt2lang(utt2lang_file, self.languages)
        if keys is None:
            keys = list(utt2lang)
        by_lang: Dict[int, List[str]] = {}
        for utt in keys:
            if utt not in utt2lang:
                raise ValueError(f"utterance '{utt}' has no language in {utt2lang_file}")
            by_lang.setdefault(utt2lang[utt], []).append(utt)
        # Sorted keys per language: the streams depend on the data, not on file order.
        self.lang_ids = sorted(by_lang)
        self.utts = [sorted(by_lang[i]) for i in self.lang_ids]
        absent = [lang for i, lang in enumerate(self.languages) if i not in by_lang]
        if absent:
            logging.warning("balanced sampling: no training utterances for %s; balancing over %s", absent,
                            [self.languages[i] for i in self.lang_ids])

        counts = [len(u) for u in self.utts]
        if epoch == "corpus":
            units = math.ceil(sum(counts) / (per_language * len(counts)))
        elif epoch == "max":
            units = math.ceil(max(counts) / per_language)
        else:
            units = math.ceil(min(counts) / per_language)
        if layout == "grouped":
            if accum_grad % len(counts):
                raise ValueError(f"lang_balanced_layout 'grouped' balances an optimizer update only when accum_grad "
                                 f"({accum_grad}) is a multiple of the number of training languages ({len(counts)})")
            units_multiple = accum_grad // len(counts)  # cycles per optimizer update
        else:
            units_multiple = accum_grad
        self.units = math.ceil(units / units_multiple) * units_multiple

    @property
    def num_languages(self) -> int:
        """Languages with training utterances (those the batches balance)."""
        return len(self.lang_ids)

    def __len__(self) -> int:
        return self.units * (self.num_languages if self.layout == "grouped" else 1)

    def __iter__(self):
        return iter(self.generate(self.seed + 1))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(N-batch={len(self)}, per_language={self.per_language}, "
                f"languages={[self.languages[i] for i in self.lang_ids]}, layout={self.layout}, "
                f"epoch={self.epoch}, rank={self.rank}/{self.world_size})")

    def _draw(self, lang_pos: int, start: int, count: int) -> List[str]:
        """Utterances ``start .. start+count`` of language stream ``lang_pos`` (a new permutation per pass)."""
        utts = self.utts[lang_pos]
        n = len(utts)
        out: List[str] = []
        pos = start
        while pos < start + count:
            pass_index, offset = divmod(pos, n)
            perm = np.random.default_rng([self.seed % 2**32, self.lang_ids[lang_pos], pass_index % 2**32]) \
                .permutation(n)
            take = min(n - offset, start + count - pos)
            out.extend(utts[i] for i in perm[offset:offset + take])
            pos += take
        return out

    def _shard(self, block: List[str]) -> List[str]:
        return block[self.rank::self.world_size]

    def generate(self, seed: int) -> List[Tuple[str, ...]]:
        """This rank's mini-batches of the epoch ``seed - self.seed`` (ESPnet passes ``epoch + seed``)."""
        epoch_index = seed - self.seed  # ESPnet counts epochs from 1
        k = self.per_language
        draws = self.units * k  # utterances per language per epoch
        streams = [self._draw(j, (epoch_index - 1) * draws, draws) for j in range(self.num_languages)]
        batches: List[Tuple[str, ...]] = []
        if self.layout == "mixed":
            for u in range(self.units):
                batch: List[str] = []
                for stream in streams:
                    batch.extend(self._shard(stream[u * k:(u + 1) * k]))
                batches.append(tuple(batch))
        else:
            rng = np.random.default_rng([self.seed % 2**32, epoch_index % 2**32])
            for u in range(self.units):
                for j in rng.permutation(self.num_languages):  # each language once per cycle
                    batches.append(tuple(self._shard(streams[j][u * k:(u + 1) * k])))
        return batches
