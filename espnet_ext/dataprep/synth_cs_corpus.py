"""Offline English–Mandarin code-switched corpus plus monolingual EN and ZH corpora (meta-transfer setup).

Stand-in for SEAME Phase II + CommonVoice EN + HKUST of Winata et al. (arXiv:2004.14228, §5.1, Table 1): CS text
from :mod:`cs_text` (People's Daily clauses with 1–3 nouns replaced by CC-CEDICT glosses), EN and ZH text
from :mod:`text_sources`, speech from espeak-ng **per segment** (zh: ``cmn-latn-pinyin`` reading TONE3
pinyin, en: an English voice, same voice variant/speed/pitch for the whole utterance), concatenated with
sox so the language boundaries are exact (written to ``lang_segments``).  Voice variants of dev/test never
occur in train (speaker-independent evaluation), as in :mod:`synth_corpus`, whose synthesis, voice checks and
data-dir writer are reused.

Data dirs (``utt2lang`` = ``cs`` | ``en`` | ``zh``): ``en_train zh_train cs_a_train cs_b_train cs_train``
(= CS-a ∪ CS-b, for Only-CS and fine-tuning) ``cs_dev en_dev zh_dev cs_test en_test zh_test``.  CS-a (source
task) and CS-b (target task) share no utterance and no sentence; no sentence occurs in two CS sets, and no
ZH sentence equals the Mandarin clause behind any CS sentence.  Schema: docs/meta_transfer.md, "Data".
"""

import hashlib
import json
import logging
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

from espnet_ext.dataprep import char_inventory, cs_text, synth_corpus, text_sources
from espnet_ext.utils.atomic_dir import atomic_output_dir
from espnet_ext.utils.code_switching_stats import set_stats

logger = logging.getLogger(__name__)

BUILDER_VERSION = 2  # 2: Chinese inventory + coverage repair (char_inventory)
CS_SETS = ("cs_test", "cs_dev", "cs_b_train", "cs_a_train")  # drawn in this order (see plan_cs)
MONO_SPLITS = ("test", "dev", "train")
ALL_SETS = ("en_train", "zh_train", "cs_a_train", "cs_b_train", "cs_train",
            "cs_dev", "en_dev", "zh_dev", "cs_test", "en_test", "zh_test")
_CS_KEYS = {"train_a", "train_b", "dev", "test", "min_chars", "max_chars", "nouns", "min_noun_count",
            "max_insertions"}
_MONO_KEYS = {"train", "dev", "test", "min_chars", "max_chars"}
_TOP = {"seed", "speed", "pitch", "train_variants", "eval_variants", "voices", "cs", "en", "zh", "zh_inventory"}


# Config checks shared with the multilingual builder (same messages, naming the key).
_int = synth_corpus._int
_pair = synth_corpus._range


def validate_config(config: dict) -> dict:
    """Check a CS corpus config, fill defaults; ``ValueError`` names the bad key."""
    if not isinstance(config, dict):
        raise ValueError("corpus config must be a mapping")
    unknown = set(config) - _TOP
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known: {sorted(_TOP)}")
    # The variant/speed/pitch checks of the multilingual builder apply unchanged.
    base = synth_corpus.validate_config({
        **{k: config[k] for k in ("seed", "speed", "pitch", "train_variants", "eval_variants") if k in config},
        "languages": {"en": {"train": 1, "dev": 1, "test": 1}}})
    cfg = {k: base[k] for k in ("seed", "speed", "pitch", "train_variants", "eval_variants")}
    voices = config.get("voices", {})
    if not isinstance(voices, dict) or set(voices) - {"en", "zh"}:
        raise ValueError(f"config key 'voices' must map en/zh to espeak-ng voices, got {voices!r}")
    cfg["voices"] = {lang: voices.get(lang, synth_corpus.DEFAULT_VOICES[lang]) for lang in ("en", "zh")}
    cs = config.get("cs")
    if not isinstance(cs, dict) or set(cs) - _CS_KEYS:
        raise ValueError(f"config key 'cs' must be a mapping with keys from {sorted(_CS_KEYS)}, got {cs!r}")
    cfg["cs"] = {k: _int(cs.get(k), f"cs.{k}", 1) for k in ("train_a", "train_b", "dev", "test")}
    cfg["cs"]["min_chars"] = _int(cs.get("min_chars", 8), "cs.min_chars", 2)
    cfg["cs"]["max_chars"] = _int(cs.get("max_chars", 16), "cs.max_chars", cfg["cs"]["min_chars"])
    cfg["cs"]["nouns"] = _pair(cs.get("nouns", [1, 3]), "cs.nouns", 1)
    cfg["cs"]["min_noun_count"] = _int(cs.get("min_noun_count", 5), "cs.min_noun_count", 1)
    cfg["cs"]["max_insertions"] = _int(cs.get("max_insertions", 1), "cs.max_insertions", 1)
    for lang in ("en", "zh"):
        spec = config.get(lang)
        if not isinstance(spec, dict) or set(spec) - _MONO_KEYS:
            raise ValueError(f"config key '{lang}' must be a mapping with keys from {sorted(_MONO_KEYS)}")
        out = {k: _int(spec.get(k), f"{lang}.{k}", 1) for k in MONO_SPLITS}
        out["min_chars"] = _int(spec.get("min_chars", 8), f"{lang}.min_chars", 1)
        out["max_chars"] = _int(spec.get("max_chars", 40), f"{lang}.max_chars", out["min_chars"])
        cfg[lang] = out
    cfg["zh_inventory"] = synth_corpus.validate_inventory(config.get("zh_inventory"), "zh_inventory")
    return cfg


def zh_inventory(cfg: dict, cache_dir: Path) -> Optional[Set[str]]:
    """The frequent-character inventory of the Chinese text source (People's Daily), or None."""
    spec = cfg["zh_inventory"]
    if spec is None:
        return None
    units = text_sources.harvest("zh", cache_dir)
    return set(char_inventory.frequent_characters(units, spec["size"], spec["max_homophones"]))


def _voice_fields(split: str, n: int, cfg: dict, rng: random.Random) -> List[dict]:
    variants = synth_corpus._balanced(cfg["train_variants" if "train" in split else "eval_variants"], n, rng)
    return [{"variant": v, "speed": rng.randint(*cfg["speed"]), "pitch": rng.randint(*cfg["pitch"])}
            for v in variants]


def _utt(tag: str, idx: int, split: str, segments: List[cs_text.Segment], fields: dict) -> dict:
    spk = f"{tag}-{fields['variant']}"
    return {"utt": f"{spk}-{idx:05d}", "spk": spk, "lang": tag, "split": split, "segments": segments,
            "transcript": cs_text.transcript(segments) if tag == "cs"
            else text_sources.to_transcript(segments[0][1], tag), **fields}


def plan_cs(cfg: dict, cache_dir: Path, inventory: Optional[Set[str]] = None
            ) -> Tuple[List[dict], Iterator[dict]]:
    """CS utterances: distinct clauses, shuffled once, taken test → dev → CS-b → CS-a (so a larger CS-a
    never changes the evaluation or target sets); and the generator of the unused clauses after them
    (``{segments, source, transcript}``, for :func:`repair_coverage`).  With an ``inventory`` only
    sentences whose Chinese characters (after the switch) all lie in it are taken."""
    spec = cfg["cs"]
    corpus, nouns = cs_text.switchable_clauses(cache_dir, spec["min_noun_count"])
    unique: Dict[str, list] = {}
    for clause in corpus:
        text = "".join(w for w, _ in clause)
        if spec["min_chars"] <= len(text) <= spec["max_chars"] and text not in unique:
            unique[text] = clause
    rng = random.Random(f"{cfg['seed']}:cs:text")
    order = sorted(unique)
    rng.shuffle(order)

    def candidates() -> Iterator[dict]:
        for text in order:
            segments = cs_text.code_switch(unique[text], nouns, rng.randint(*spec["nouns"]), rng)
            if (segments and sum(lang == "en" for lang, _ in segments) <= spec["max_insertions"]
                    and synth_corpus.spoken_text(text, "zh") is not None
                    and char_inventory.within(cs_text.transcript(segments), inventory)):
                yield {"segments": segments, "source": text, "transcript": cs_text.transcript(segments)}

    vrng = random.Random(f"{cfg['seed']}:cs:voice")
    sizes = {"cs_test": spec["test"], "cs_dev": spec["dev"], "cs_b_train": spec["train_b"],
             "cs_a_train": spec["train_a"]}
    plan, it, idx = [], candidates(), 0
    for split in CS_SETS:
        for f in _voice_fields(split, sizes[split], cfg, vrng):
            cand = next(it, None)
            if cand is None:
                raise ValueError(f"config key 'cs': not enough {spec['min_chars']}-{spec['max_chars']} character "
                                 f"clauses with a switchable noun{' within the Chinese inventory' if inventory else ''}"
                                 f" for {sum(sizes.values())} CS utterances")
            plan.append({**_utt("cs", idx, split, cand["segments"], f), "source": cand["source"]})
            idx += 1
    return plan, it


def plan_mono(lang: str, cfg: dict, cache_dir: Path, exclude: set, inventory: Optional[Set[str]] = None
              ) -> Tuple[List[dict], Iterator[str]]:
    """Monolingual EN or ZH utterances; ZH never reuses a clause behind a CS sentence (``exclude``) and
    keeps to the ``inventory``.  Also returns the generator of the unused sentences after them."""
    spec = cfg[lang]
    sentences = [s for s in text_sources.load_sentences(lang, cache_dir, spec["max_chars"], spec["min_chars"])
                 if text_sources.to_transcript(s, lang) not in exclude and char_inventory.within(s, inventory)
                 and synth_corpus.spoken_text(s, lang) is not None]
    rng = random.Random(f"{cfg['seed']}:{lang}:text")
    rng.shuffle(sentences)
    vrng = random.Random(f"{cfg['seed']}:{lang}:voice")
    plan, it, idx = [], iter(sentences), 0
    for split in MONO_SPLITS:
        for f in _voice_fields(split, spec[split], cfg, vrng):
            s = next(it, None)
            if s is None:
                raise ValueError(f"config key '{lang}': not enough {spec['min_chars']}-{spec['max_chars']} "
                                 f"character sentences for {spec['train'] + spec['dev'] + spec['test']} utterances")
            plan.append(_utt(lang, idx, f"{lang}_{split}", [(lang, s)], f))
            idx += 1
    return plan, it


def repair_coverage(plan: List[dict], cs_spare: Iterator[dict], zh_spare: Iterator[str], min_count: int) -> dict:
    """Every Chinese character of CS/ZH dev and test occurs >= ``min_count`` times in the training text
    (CS-a + CS-b + ZH train, the joint pool); uncovered evaluation sentences are swapped for the next
    covered unused ones (char_inventory.repair_coverage).  Returns per-set swap counts and the summary."""
    counts = char_inventory.train_counts(u["transcript"] for u in plan
                                         if u["split"] in ("cs_a_train", "cs_b_train", "zh_train"))
    used_cs = {u["source"] for u in plan if u["lang"] == "cs"}
    used_zh = {u["transcript"] for u in plan if u["lang"] == "zh"}

    def set_cs(old: dict, new: dict) -> dict:
        used_cs.add(new["source"])
        return {**old, "segments": new["segments"], "source": new["source"], "transcript": new["transcript"]}

    def set_zh(old: dict, new: str) -> dict:
        used_zh.add(text_sources.to_transcript(new, "zh"))
        return {**old, "segments": [("zh", new)], "transcript": text_sources.to_transcript(new, "zh")}

    report = {}
    for split, spare, replace in (("cs_test", cs_spare, set_cs), ("cs_dev", cs_spare, set_cs),
                                  ("zh_test", zh_spare, set_zh), ("zh_dev", zh_spare, set_zh)):
        idx = [i for i, u in enumerate(plan) if u["split"] == split]
        items = [plan[i] for i in idx]
        if split.startswith("cs"):
            fresh = (c for c in spare if c["source"] not in used_cs and c["source"] not in used_zh)
        else:
            fresh = (s for s in spare if text_sources.to_transcript(s, "zh") not in used_zh | used_cs)
        report[split] = char_inventory.repair_coverage(
            items, lambda u: u["transcript"] if isinstance(u, dict) else text_sources.to_transcript(u, "zh"),
            counts, min_count, fresh, f"corpus set {split}", replace=replace)
        for i, u in zip(idx, items):
            plan[i] = u
        report[split].update(char_inventory.coverage_summary([u["transcript"] for u in items], counts, min_count))
    return report


def synthesize_segments(utt: dict, voices: Dict[str, str], wav: Path) -> List[float]:
    """One espeak-ng call per segment (same variant/speed/pitch), joined by sox; returns boundaries (s)."""
    bounds, parts = [0.0], []
    for i, (lang, text) in enumerate(utt["segments"]):
        part = wav.with_name(f"{wav.stem}.{i}.wav")
        seg = {"utt": f"{utt['utt']}#{i}", "voice": f"{voices[lang]}+{utt['variant']}", "speed": utt["speed"],
               "pitch": utt["pitch"], "spoken": synth_corpus.spoken_text(text, lang)}
        bounds.append(bounds[-1] + synth_corpus.synthesize(seg, part))
        parts.append(part)
    if len(parts) == 1:
        parts[0].rename(wav)
    else:
        res = subprocess.run(["sox", "-D", *map(str, parts), str(wav)], capture_output=True)
        if res.returncode != 0:
            raise RuntimeError(f"sox concatenation failed for {utt['utt']}: {res.stderr.decode()[-500:]}")
        for p in parts:
            p.unlink()
    return bounds


def _write_set(path: Path, utts: List[dict]) -> None:
    synth_corpus.write_data_dir(path, utts)
    with open(path / "lang_segments", "w", encoding="utf-8") as f:
        for u in sorted(utts, key=lambda u: u["utt"]):
            spans = " ".join(f"{lang}:{a:.3f}:{b:.3f}" for (lang, _), a, b
                             in zip(u["segments"], u["bounds"], u["bounds"][1:]))
            f.write(f"{u['utt']} {spans}\n")


def set_statistics(sets: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Table 1 per set: utterances, speakers, hours, CMI, SPF (means over all utterances)."""
    out = {}
    for name, utts in sets.items():
        st = set_stats(u["transcript"] for u in utts)
        out[name] = {"utts": len(utts), "speakers": len({u["spk"] for u in utts}),
                     "hours": round(sum(u["bounds"][-1] for u in utts) / 3600, 4),
                     "cmi": round(st.cmi, 4), "spf": round(st.spf, 4)}
    return out


def build_cs_corpus(config: dict, out_dir: Path, nj: int, cache_dir: Path) -> Dict[str, dict]:
    """Build every set of :data:`ALL_SETS` under ``out_dir``; return :func:`set_statistics`.

    Idempotent like :func:`synth_corpus.build_corpus` (:mod:`espnet_ext.utils.atomic_dir`): built in
    ``.<name>.partial``, renamed into place, ``.done`` holds the config digest (a rerun with the same config
    returns at once)."""
    cfg = validate_config(config)
    digest = hashlib.sha256(json.dumps({"cfg": cfg, "v": BUILDER_VERSION, "text": text_sources.CACHE_VERSION},
                                       sort_keys=True).encode()).hexdigest()
    out_dir, cache_dir = Path(out_dir).absolute(), Path(cache_dir).absolute()
    out = atomic_output_dir(out_dir, {"builder": "synth_cs_corpus", "config": digest}, log=logger,
                            legacy=lambda old: {"builder": "synth_cs_corpus", "config": old["digest"]},
                            skip_log="{dir} is complete for this config; nothing to do")
    if out.complete:
        return out.record["stats"]
    synth_corpus.check_voices({**cfg, "languages": {lang: {"voice": v} for lang, v in cfg["voices"].items()}})
    inventory = zh_inventory(cfg, cache_dir)
    plan, cs_spare = plan_cs(cfg, cache_dir, inventory)
    zh_plan, zh_spare = plan_mono("zh", cfg, cache_dir, {u["source"] for u in plan}, inventory)
    plan += zh_plan + plan_mono("en", cfg, cache_dir, set())[0]
    coverage = None
    if cfg["zh_inventory"] is not None and cfg["zh_inventory"]["min_train_count"] > 0:
        coverage = repair_coverage(plan, cs_spare, zh_spare, cfg["zh_inventory"]["min_train_count"])
        logger.info("Chinese coverage (>= %d training occurrences per dev/test character): %s",
                    cfg["zh_inventory"]["min_train_count"], json.dumps(coverage, sort_keys=True))

    with out as tmp:
        for tag in ("cs", "en", "zh"):
            (tmp / "wav" / tag).mkdir(parents=True)
        with ThreadPoolExecutor(max(1, nj)) as pool:  # threads only wait on espeak-ng/sox processes
            futures = [pool.submit(synthesize_segments, u, cfg["voices"],
                                   tmp / "wav" / u["lang"] / f"{u['utt']}.wav") for u in plan]
            for u, fut in zip(plan, futures):
                u["bounds"] = fut.result()
                u["duration"] = u["bounds"][-1]
                u["final_path"] = str(out_dir / "wav" / u["lang"] / f"{u['utt']}.wav")
        sets = {name: [u for u in plan if u["split"] == name] for name in ALL_SETS if name != "cs_train"}
        sets["cs_train"] = sets["cs_a_train"] + sets["cs_b_train"]
        for name, utts in sets.items():
            _write_set(tmp / name, utts)
        stats = set_statistics(sets)
        if coverage is not None:
            stats["zh_coverage"] = coverage
        out.record.update(digest=digest, config=cfg, stats=stats)
    return stats


def table1_markdown(stats: Dict[str, dict]) -> str:
    """Table 1 layout: one row per set (utterances, speakers, hours, CMI, SPF)."""
    rows = ["| set | utts | speakers | hours | CMI | SPF |", "|---|---|---|---|---|---|"]
    for name in ALL_SETS:
        if name in stats:
            s = stats[name]
            rows.append(f"| {name} | {s['utts']} | {s['speakers']} | {s['hours']:.3f} | {s['cmi']:.3f} | "
                        f"{s['spf']:.3f} |")
    return "\n".join(rows) + "\n"
