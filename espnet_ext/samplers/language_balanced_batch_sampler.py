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

Determinism: batches depend only on (seed, epoch) and the options (the alpha schedule's among them) — ESPnet
calls ``generate(epoch + seed)`` — so resuming reproduces them and every DDP rank computes the same global
batches.  Under DDP each rank takes its own ``rank::world_size`` share of every language's utterances in every
mini-batch (``per_language`` must be a multiple of the world size), so ranks see disjoint utterances, the same
number of batches, and every batch stays balanced on every rank.

Temperature sampling (``alpha``, option ``lang_balanced_alpha``; issue 21, between SMT and BS): language l
gets the share p_l ∝ n_l^alpha of the utterances, n_l its number of training utterances.  alpha = 0 is the
balanced sampling above (the code path is the same, batches are bit-identical); alpha = 1 gives the corpus
proportions of ESPnet's random batches (SMT); values in between flatten the long tail less than BS does.
The batch size stays ``per_language * L``; for alpha > 0:

    * ``mixed``: a mini-batch has S = per_language * L / world_size slots, each holding ``world_size``
      utterances of one language (one per rank).  The slots are dealt by systematic sampling: with the
      cumulative shares c_l = S * (p_1 + ... + p_l) and one uniform u in [0, 1) per mini-batch, language l
      gets the slots u + i (i = 0 .. S-1) that fall in [c_{l-1}, c_l), i.e. floor(S p_l) or ceil(S p_l)
      slots, exactly S p_l in expectation.  A language whose expected share S p_l is below 1 slot
      appears in a mini-batch with probability S p_l (0 or 1 slot), so the tail is neither dropped nor
      rounded up.  Per-rank batches have equal sizes and the same language counts; a global batch's
      counts are multiples of ``world_size``, so the allocation depends on the world size.
    * ``grouped``: a cycle of L mini-batches (per_language utterances of one language each) is dealt the
      same way, with S = L: language l leads floor(L p_l) or ceil(L p_l) of the cycle's mini-batches
      (exactly L p_l in expectation), in a random order.  alpha = 0 gives one per language (today's cycle).
    * Streams continue across epochs: the number of utterances a language takes in an epoch now varies, so
      the stream position of epoch e is the sum of the draws of the earlier epochs (recomputed from their
      seeds, cached per sampler); each utterance of a language is still seen before any repeats.
    * Epochs: ``corpus`` keeps its budget (N utterances per epoch); ``max`` / ``min`` become the units
      in which the largest / smallest language is drawn n_l times in expectation,
      ceil(n_l / (per_language * L * p_l)) (equal to ``corpus`` at alpha = 1).

Alpha schedule (``lang_balanced_alpha_schedule`` linear / cosine, :mod:`espnet_ext.samplers.alpha_schedule`):
alpha moves from ``lang_balanced_alpha`` at the first epoch to ``lang_balanced_alpha_end`` at ``max_epoch``.
Each epoch is dealt at its own alpha(e) (an epoch at alpha 0 by the balanced code path above), and the stream
starts of an epoch sum the draws of the earlier epochs at their own alphas, so a resumed run or a fresh
sampler reproduces the batches.  The epoch length must not depend on alpha (ESPnet's ``num_iters_per_epoch``
slices epochs of a fixed length), hence the ``corpus`` epoch.  With ``num_iters_per_epoch`` ESPnet numbers
the sampler's epochs from 0 and a training epoch takes a slice of them: the schedule then runs over the
sampler epochs 0 .. (num_iters_per_epoch * max_epoch - 1) // len(sampler), those that training reaches.  The
``constant`` schedule (default) is the sampler without a schedule, batch for batch.  The alpha of every epoch
is logged once (INFO, rank 0's train.log).
"""

import dataclasses
import logging
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
from espnet2.samplers.abs_sampler import AbsSampler

from espnet_ext.samplers.alpha_schedule import AlphaSchedule, check_alpha

LAYOUTS = ("mixed", "grouped")
EPOCH_DEFINITIONS = ("corpus", "max", "min")


def language_shares(counts: Sequence[int], alpha: float) -> np.ndarray:
    """p_l ∝ n_l^alpha (A2 BS at alpha = 0, SMT's proportions at alpha = 1), summing to 1."""
    weights = np.asarray(counts, dtype=np.float64) ** check_alpha(alpha)  # p_l ∝ n_l^α (issue 21)
    return weights / weights.sum()


def systematic_counts(shares: np.ndarray, slots: int, offsets: np.ndarray) -> np.ndarray:
    """Deal ``slots`` slots over the languages once per entry of ``offsets`` (uniforms in [0, 1)).

    Row r gives language l the number of points offsets[r] + i (i = 0 .. slots-1) in [c_{l-1}, c_l), the
    cumulative shares times ``slots``: floor or ceil of slots * p_l, exactly slots * p_l in expectation,
    every row summing to ``slots``.  Returns an int64 array (len(offsets), len(shares)).
    """
    edges = np.concatenate([[0.0], np.cumsum(shares) * slots])
    edges[-1] = slots  # the cumulative sum may miss the total by rounding
    return np.diff(np.ceil(edges[None, :] - np.asarray(offsets)[:, None]), axis=1).astype(np.int64)


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
            ``per_language`` utterances of every language at alpha = 0, whole cycles otherwise).
        alpha: language shares p_l ∝ n_l^alpha, in [0, 1]; 0 balanced (BS), 1 the corpus proportions (SMT).
            With a schedule: the alpha of the first epoch.
        alpha_end: the alpha of the last epoch (``linear`` / ``cosine`` only).
        alpha_schedule: ``constant`` (``alpha`` in every epoch), ``linear`` or ``cosine`` (see the module
            docstring and :class:`~espnet_ext.samplers.alpha_schedule.AlphaSchedule`).
        max_epoch: ESPnet's ``max_epoch``, the schedule's last epoch; required by a schedule.
        num_iters_per_epoch: ESPnet's ``num_iters_per_epoch``: the schedule then runs over the sampler epochs
            that training reaches (module docstring).
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
        alpha: float = 0.0,
        alpha_end: Optional[float] = None,
        alpha_schedule: str = "constant",
        max_epoch: Optional[int] = None,
        num_iters_per_epoch: Optional[int] = None,
    ):
        schedule = AlphaSchedule(alpha, alpha_end, alpha_schedule, max_epoch)  # checks the options
        alpha = schedule.start
        if schedule.varies and epoch != "corpus":
            raise ValueError(f"lang_balanced_alpha_schedule {alpha_schedule!r} needs lang_balanced_epoch 'corpus', "
                             f"got {epoch!r}: the length of a '{epoch}' epoch depends on alpha, and ESPnet's "
                             "num_iters_per_epoch needs epochs of one length")
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
        self.alpha = alpha

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
        self.shares = language_shares(counts, alpha)
        if epoch == "corpus":
            units = math.ceil(sum(counts) / (per_language * len(counts)))
        elif alpha == 0:
            units = math.ceil((max(counts) if epoch == "max" else min(counts)) / per_language)
        else:  # the units in which that language is drawn n_l times in expectation
            j = int(np.argmax(counts) if epoch == "max" else np.argmin(counts))
            units = counts[j] / (per_language * len(counts) * self.shares[j])
            units = max(1, math.ceil(units * (1 - 1e-12)))  # an integer ratio (alpha = 1) is not rounded up
        if layout == "grouped":
            if accum_grad % len(counts):
                raise ValueError(f"lang_balanced_layout 'grouped' balances an optimizer update only when accum_grad "
                                 f"({accum_grad}) is a multiple of the number of training languages ({len(counts)})")
            units_multiple = accum_grad // len(counts)  # cycles per optimizer update
        else:
            units_multiple = accum_grad
        self.units = math.ceil(units / units_multiple) * units_multiple
        # alpha > 0: a unit deals ``slots`` pieces of ``piece`` utterances (mixed: one per rank; grouped: a batch)
        self.slots, self.piece = (per_language * len(counts) // world_size, world_size) if layout == "mixed" \
            else (len(counts), per_language)
        self._stream_starts: Dict[int, np.ndarray] = {1: np.zeros(len(counts), dtype=np.int64)}
        self._shares_by_alpha = {alpha: self.shares}
        self._logged_epochs: Set[int] = set()
        if schedule.varies and num_iters_per_epoch:
            # ESPnet's batch g (from 0) of the training is batch g % len of the sampler's epoch g // len.
            last = (num_iters_per_epoch * max_epoch - 1) // len(self)
            if last < 1:
                raise ValueError(f"lang_balanced_alpha_schedule {alpha_schedule!r} changes alpha per epoch of the "
                                 f"sampler ({len(self)} batches), but num_iters_per_epoch ({num_iters_per_epoch}) x "
                                 f"max_epoch ({max_epoch}) batches stay within its first epoch: lower "
                                 "lang_balanced_per_language or raise max_epoch / num_iters_per_epoch")
            schedule = dataclasses.replace(schedule, epochs=(0, last))
        self.schedule = schedule

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
                f"epoch={self.epoch}, alpha={self.alpha}, alpha_schedule={self.schedule.describe()}, "
                f"rank={self.rank}/{self.world_size})")

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

    def _rng(self, epoch_index: int, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed % 2**32, epoch_index % 2**32, *stream])

    def shares_at(self, epoch_index: int) -> np.ndarray:
        """The language shares p_l ∝ n_l^alpha(e) of an epoch (``shares`` without a schedule)."""
        alpha = self.schedule(epoch_index)
        if alpha not in self._shares_by_alpha:
            self._shares_by_alpha[alpha] = language_shares([len(u) for u in self.utts], alpha)
        return self._shares_by_alpha[alpha]

    def allocation(self, epoch_index: int) -> np.ndarray:
        """alpha > 0: pieces of each language in each unit of the epoch, (units, L) (see the module docstring)."""
        return systematic_counts(self.shares_at(epoch_index), self.slots, self._rng(epoch_index, 1).random(self.units))

    def _draws(self, epoch_index: int) -> np.ndarray:
        """Utterances of each language that an epoch takes from its stream (at the epoch's own alpha)."""
        if self.schedule(epoch_index) == 0:
            return np.full(self.num_languages, self.units * self.per_language, dtype=np.int64)
        return self.allocation(epoch_index).sum(axis=0) * self.piece

    def _starts(self, epoch_index: int) -> np.ndarray:
        """Stream position of every language at the start of an epoch: the draws of the epochs before it
        (counted from epoch 1 at 0; ESPnet may ask for epoch 0 or -1 with ``num_iters_per_epoch``)."""
        known = self._stream_starts
        e = min(known, key=lambda k: abs(k - epoch_index))
        start = known[e].copy()
        while e != epoch_index:
            if e < epoch_index:
                start += self._draws(e)
                e += 1
            else:
                e -= 1
                start -= self._draws(e)
            known[e] = start.copy()
        return start

    def _generate_tempered(self, epoch_index: int) -> List[Tuple[str, ...]]:
        """alpha > 0: units dealt by :func:`systematic_counts` over the shares p_l ∝ n_l^alpha."""
        alloc = self.allocation(epoch_index)
        starts = self._starts(epoch_index)
        streams = [self._draw(j, int(starts[j]), int(alloc[:, j].sum()) * self.piece)
                   for j in range(self.num_languages)]
        cursor = [0] * self.num_languages

        def take(j: int, count: int) -> List[str]:
            cursor[j] += count
            return self._shard(streams[j][cursor[j] - count:cursor[j]])

        if self.layout == "mixed":
            return [tuple(u for j, pieces in enumerate(row) for u in take(j, int(pieces) * self.piece))
                    for row in alloc]
        rng = self._rng(epoch_index, 2)
        batches: List[Tuple[str, ...]] = []
        for row in alloc:
            cycle = np.repeat(np.arange(self.num_languages), row)
            rng.shuffle(cycle)  # the cycle's languages in a random order
            batches.extend(tuple(take(int(j), self.per_language)) for j in cycle)
        return batches

    def _log_alpha(self, epoch_index: int) -> None:
        """One INFO line per epoch (ESPnet may generate an epoch twice with num_iters_per_epoch)."""
        if epoch_index in self._logged_epochs:
            return
        self._logged_epochs.add(epoch_index)
        shares = ", ".join(f"{self.languages[i]} {p:.3f}" for i, p in zip(self.lang_ids, self.shares_at(epoch_index)))
        logging.info("balanced sampling: epoch %d at lang_balanced_alpha %.4f (%s); language shares %s", epoch_index,
                     self.schedule(epoch_index), self.schedule.describe(), shares)

    def generate(self, seed: int) -> List[Tuple[str, ...]]:
        """This rank's mini-batches of the epoch ``seed - self.seed`` (ESPnet passes ``epoch + seed``)."""
        epoch_index = seed - self.seed  # ESPnet counts epochs from 1
        self._log_alpha(epoch_index)
        if self.schedule(epoch_index) != 0:
            return self._generate_tempered(epoch_index)
        k = self.per_language
        starts = self._starts(epoch_index)  # (epoch - 1) * units * k without a schedule
        streams = [self._draw(j, int(starts[j]), self.units * k) for j in range(self.num_languages)]
        batches: List[Tuple[str, ...]] = []
        if self.layout == "mixed":
            for u in range(self.units):
                batch: List[str] = []
                for stream in streams:
                    batch.extend(self._shard(stream[u * k:(u + 1) * k]))
                batches.append(tuple(batch))
        else:
            rng = self._rng(epoch_index)
            for u in range(self.units):
                for j in rng.permutation(self.num_languages):  # each language once per cycle
                    batches.append(tuple(self._shard(streams[j][u * k:(u + 1) * k])))
        return batches
