"""Build a long-tailed multilingual ASR corpus offline: real sentences, espeak-ng voices, Kaldi data dirs.

The papers' corpora (CommonVoice etc.) cannot be fetched here, yet the recipes must train and be
scored end to end. This builder makes a stand-in with the same shape: per-language train counts
that follow a long tail, disjoint dev/test sentences, and speaker-independent dev/test sets (their
espeak-ng voice variants never occur in train). Text comes from :mod:`text_sources`; the config
schema and the design choices are documented in docs/corpus_synthetic.md.

Everything random is drawn from ``random.Random`` seeded with strings derived from the config seed,
so a config always yields the same utterance ids, transcripts and (espeak-ng and sox -D being
deterministic) the same audio, whatever ``nj``.
"""

import hashlib
import json
import logging
import random
import shutil
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

from tqdm import tqdm

from espnet_ext.dataprep import char_inventory, text_sources
from espnet_ext.utils.atomic_dir import atomic_output_dir

logger = logging.getLogger(__name__)

BUILDER_VERSION = 1  # configs without an inventory build exactly as before
SAMPLE_RATE = 16000
SPLITS = ("train", "dev", "test")
#: espeak-ng voice per language; zh reads tone-numbered pinyin (its ``cmn`` voice reads the digits
#: as English numbers in Debian's 1.51 build).
DEFAULT_VOICES = {"en": "en-us", "fr": "fr-fr", "es": "es", "it": "it", "ru": "ru", "zh": "cmn-latn-pinyin",
                  "tt": "tt", "nl": "nl", "tr": "tr", "ky": "ky", "sv": "sv"}
_DEFAULTS = {"seed": 0, "max_chars": 40, "min_chars": 8, "speed": [130, 190], "pitch": [30, 70]}
_TOP_KEYS = set(_DEFAULTS) | {"train_variants", "eval_variants", "languages"}
_LANG_KEYS = {"train", "dev", "test", "voice", "max_chars", "min_chars", "inventory"}
INVENTORY_KEYS = {"size", "max_homophones", "min_train_count"}


def _int(value, key: str, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"config key '{key}' must be an integer {span}, got {value!r}")
    return value


def _range(value, key: str, low: int, high: Optional[int] = None) -> List[int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"config key '{key}' must be a [min, max] pair, got {value!r}")
    a, b = (_int(v, key, low, high) for v in value)
    if a > b:
        raise ValueError(f"config key '{key}' has min > max: {value!r}")
    return [a, b]


def validate_config(config: dict) -> dict:
    """Check a corpus config and return it with defaults filled in; ``ValueError`` names the bad key."""
    if not isinstance(config, dict):
        raise ValueError("corpus config must be a mapping")
    unknown = set(config) - _TOP_KEYS
    if unknown:
        raise ValueError(f"unknown config key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    cfg = {k: config.get(k, v) for k, v in _DEFAULTS.items()}
    cfg["seed"] = _int(cfg["seed"], "seed", 0)
    cfg["max_chars"] = _int(cfg["max_chars"], "max_chars", 1)
    cfg["min_chars"] = _int(cfg["min_chars"], "min_chars", 1)
    cfg["speed"] = _range(cfg["speed"], "speed", 80, 450)
    cfg["pitch"] = _range(cfg["pitch"], "pitch", 0, 99)
    for key in ("train_variants", "eval_variants"):
        value = config.get(key)
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) and v.replace("_", "").isalnum() for v in value)):
            raise ValueError(f"config key '{key}' must be a non-empty list of espeak-ng variant names "
                             f"(letters, digits, _), got {value!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"config key '{key}' lists a variant twice: {value!r}")
        cfg[key] = list(value)
    overlap = set(cfg["train_variants"]) & set(cfg["eval_variants"])
    if overlap:
        raise ValueError(f"config keys 'train_variants' and 'eval_variants' overlap in {sorted(overlap)}: "
                         "dev/test voices must be held out from train")
    langs = config.get("languages")
    if not isinstance(langs, dict) or not langs:
        raise ValueError("config key 'languages' must be a non-empty mapping of language code to counts")
    cfg["languages"] = {}
    for lang in sorted(langs):
        spec = langs[lang]
        key = f"languages.{lang}"
        if lang not in text_sources.LANGUAGES:
            raise ValueError(f"config key '{key}': unknown language '{lang}' "
                             f"(supported: {' '.join(text_sources.LANGUAGES)})")
        if not isinstance(spec, dict):
            raise ValueError(f"config key '{key}' must be a mapping with train/dev/test counts")
        bad = set(spec) - _LANG_KEYS
        if bad:
            raise ValueError(f"config key '{key}' has unknown key(s) {sorted(bad)}; known: {sorted(_LANG_KEYS)}")
        out = {s: _int(spec.get(s), f"{key}.{s}", 0) for s in SPLITS}
        if sum(out.values()) == 0:
            raise ValueError(f"config key '{key}' asks for no utterances at all")
        out["max_chars"] = _int(spec.get("max_chars", cfg["max_chars"]), f"{key}.max_chars", 1)
        out["min_chars"] = _int(spec.get("min_chars", cfg["min_chars"]), f"{key}.min_chars", 1)
        if out["min_chars"] > out["max_chars"]:
            raise ValueError(f"config key '{key}.min_chars' exceeds its max_chars")
        voice = spec.get("voice", DEFAULT_VOICES[lang])
        if not isinstance(voice, str) or not voice or "+" in voice or " " in voice:
            raise ValueError(f"config key '{key}.voice' must be an espeak-ng voice name without variant")
        out["voice"] = voice
        if "inventory" in spec:
            if lang != "zh":
                raise ValueError(f"config key '{key}.inventory': a character inventory applies to zh only")
            out["inventory"] = validate_inventory(spec["inventory"], f"{key}.inventory")
        cfg["languages"][lang] = out
    for split in SPLITS:
        if not any(spec[split] for spec in cfg["languages"].values()):
            raise ValueError(f"config key 'languages': split '{split}' gets no utterance in any language")
    return cfg


def validate_inventory(spec, key: str) -> Optional[dict]:
    """``{size, max_homophones, min_train_count}`` of a Chinese inventory (char_inventory); None = off."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - INVENTORY_KEYS or "size" not in spec:
        raise ValueError(f"config key '{key}' must be a mapping with 'size' and optionally 'max_homophones', "
                         f"'min_train_count', got {spec!r}")
    return {"size": _int(spec["size"], f"{key}.size", 1),
            "max_homophones": _int(spec.get("max_homophones", 0), f"{key}.max_homophones", 0),
            "min_train_count": _int(spec.get("min_train_count", 0), f"{key}.min_train_count", 0)}


def config_digest(cfg: dict) -> str:
    """Identity of a build: the validated config plus the code versions that shape the output."""
    blob = json.dumps({"cfg": cfg, "builder": BUILDER_VERSION, "text": text_sources.CACHE_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def spoken_text(sentence: str, lang: str) -> Optional[str]:
    """What espeak-ng reads: the sentence itself, or for zh tone-numbered pinyin (None if unknown chars)."""
    if lang != "zh":
        return sentence
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError as e:
        raise RuntimeError("Mandarin synthesis needs the PyPI package 'pypinyin'; install it with: "
                           "pip install pypinyin") from e
    syllables = lazy_pinyin(sentence, style=Style.TONE3, neutral_tone_with_five=True)
    if not all(s[:-1].isascii() and s[:-1].isalpha() and s[-1] in "12345" for s in syllables):
        return None
    return " ".join(syllables)


def _balanced(items: List[str], n: int, rng: random.Random) -> List[str]:
    """``n`` picks from ``items``, each used equally often (±1), in a shuffled order."""
    picks = [items[i % len(items)] for i in range(n)]
    rng.shuffle(picks)
    return picks


def plan_language(lang: str, spec: dict, cfg: dict, sentences: List[str]) -> List[dict]:
    """The utterances of one language: sentence, split, voice variant, speed and pitch.

    Sentences are shuffled once and taken test first, then dev, then train, so raising a train count
    never changes the dev/test sets. Variants are balanced within a split; dev/test draw only from
    ``eval_variants``.
    """
    rng = random.Random(f"{cfg['seed']}:{lang}:text")
    order = list(sentences)
    rng.shuffle(order)
    need = spec["test"] + spec["dev"] + spec["train"]
    speakable = ((s, spoken_text(s, lang)) for s in order)
    speakable = ((s, spoken) for s, spoken in speakable if spoken is not None)
    chosen = [pair for _, pair in zip(range(need), speakable)]
    if len(chosen) < need:
        raise ValueError(
            f"config key 'languages.{lang}': needs {need} distinct sentences (train+dev+test) but only "
            f"{len(chosen)} of {spec['min_chars']}-{spec['max_chars']} characters exist; lower the counts "
            "or raise max_chars")
    inventory = spec.get("inventory")
    if inventory and inventory["min_train_count"] > 0:
        # Every character of dev/test occurs >= min_train_count times in train (char_inventory.repair_coverage);
        # an uncovered dev/test sentence is swapped for the next unused covered one, train never changes.
        n_eval = spec["test"] + spec["dev"]
        counts = char_inventory.train_counts(text_sources.to_transcript(s, lang) for s, _ in chosen[n_eval:])
        evaluation = chosen[:n_eval]
        report = char_inventory.repair_coverage(
            evaluation, lambda pair: text_sources.to_transcript(pair[0], lang), counts,
            inventory["min_train_count"], speakable, f"config key 'languages.{lang}.inventory'")
        chosen[:n_eval] = evaluation
        logger.info("%s: %d dev/test sentences swapped for ones whose characters occur >= %d times in train",
                    lang, report["replaced"], inventory["min_train_count"])
    vrng = random.Random(f"{cfg['seed']}:{lang}:voice")
    plan, start = [], 0
    for split in ("test", "dev", "train"):
        n = spec[split]
        variants = _balanced(cfg["train_variants" if split == "train" else "eval_variants"], n, vrng)
        for k in range(n):
            idx = start + k
            sentence, spoken = chosen[idx]
            variant = variants[k]
            spk = f"{lang}-{variant}"
            plan.append({
                "utt": f"{spk}-{idx:05d}", "spk": spk, "lang": lang, "split": split, "sentence": sentence,
                "spoken": spoken, "transcript": text_sources.to_transcript(sentence, lang),
                "voice": f"{spec['voice']}+{variant}", "speed": vrng.randint(*cfg["speed"]),
                "pitch": vrng.randint(*cfg["pitch"]),
            })
        start += n
    return plan


def _require_tool(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise RuntimeError(f"corpus synthesis needs '{tool}' from the Debian package '{package}'; install it "
                           f"with: apt-get install -y {package}")


def check_voices(cfg: dict) -> None:
    """Fail before synthesis when a voice or variant is unknown (espeak-ng would silently fall back)."""
    _require_tool("espeak-ng", "espeak-ng")
    _require_tool("sox", "sox")
    listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
    variants = {tok[3:] for tok in listing.split() if tok.startswith("!v/")}
    for key in ("train_variants", "eval_variants"):
        missing = [v for v in cfg[key] if v not in variants]
        if missing:
            raise ValueError(f"config key '{key}': espeak-ng has no variant(s) {missing}")
    voices = set()
    for line in subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True).stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            voices.update({cols[1].lower(), cols[4].lower().rsplit("/", 1)[-1]})
    for lang, spec in cfg["languages"].items():
        if spec["voice"].lower() not in voices:
            raise ValueError(f"config key 'languages.{lang}.voice': espeak-ng has no voice '{spec['voice']}'")


def synthesize(utt: dict, wav_path: Path) -> float:
    """Render one utterance to a 16 kHz mono 16-bit WAV; return its duration in seconds.

    Text goes through ``--stdin`` so a sentence starting with ``-`` is not read as an option;
    ``sox -D`` disables dither (random, so not reproducible) and ``-v 0.8`` leaves headroom for
    the resampling filter.
    """
    tts = subprocess.run(["espeak-ng", "-v", utt["voice"], "-s", str(utt["speed"]), "-p", str(utt["pitch"]),
                          "--stdin", "--stdout"], input=(utt["spoken"] + "\n").encode("utf-8"),
                         capture_output=True)
    if tts.returncode != 0 or len(tts.stdout) <= 44:
        raise RuntimeError(f"espeak-ng failed for {utt['utt']} ({utt['voice']}): {tts.stderr.decode()[-500:]}")
    conv = subprocess.run(["sox", "-D", "-v", "0.8", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1",
                           "-b", "16", "-e", "signed-integer", str(wav_path)], input=tts.stdout, capture_output=True)
    if conv.returncode != 0:
        raise RuntimeError(f"sox failed for {utt['utt']}: {conv.stderr.decode()[-500:]}")
    with wave.open(str(wav_path), "rb") as w:
        return w.getnframes() / w.getframerate()


def _write_map(path: Path, mapping: Dict[str, str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for key in sorted(mapping):
            f.write(f"{key} {mapping[key]}\n")


def write_data_dir(path: Path, utts: List[dict]) -> None:
    """Kaldi files sorted by utt id; ``<lang>-<variant>`` speaker ids prefix utt ids, so sorting
    by utt id keeps each speaker's utterances together, as Kaldi requires."""
    path.mkdir(parents=True, exist_ok=True)
    _write_map(path / "wav.scp", {u["utt"]: u["final_path"] for u in utts})
    _write_map(path / "text", {u["utt"]: u["transcript"] for u in utts})
    _write_map(path / "utt2spk", {u["utt"]: u["spk"] for u in utts})
    _write_map(path / "utt2lang", {u["utt"]: u["lang"] for u in utts})
    _write_map(path / "utt2dur", {u["utt"]: f"{u['duration']:.3f}" for u in utts})
    spk2utt: Dict[str, List[str]] = {}
    for u in sorted(utts, key=lambda u: u["utt"]):
        spk2utt.setdefault(u["spk"], []).append(u["utt"])
    _write_map(path / "spk2utt", {spk: " ".join(v) for spk, v in spk2utt.items()})


def _summary(plan: List[dict]) -> dict:
    stats: dict = {}
    for u in plan:
        entry = stats.setdefault(u["split"], {}).setdefault(u["lang"], {"utts": 0, "hours": 0.0})
        entry["utts"] += 1
        entry["hours"] += u["duration"] / 3600
    for split in stats.values():
        for entry in split.values():
            entry["hours"] = round(entry["hours"], 4)
    return stats


def build_corpus(config: dict, out_dir: Path, nj: int, cache_dir: Path) -> dict:
    """Build ``out_dir/{train,dev,test}`` and ``out_dir/wav/<lang>/``; return per-split statistics.

    Idempotent and never half-done (:mod:`espnet_ext.utils.atomic_dir`): the corpus is built in a sibling
    ``.<name>.partial`` directory and renamed into place, and ``out_dir/.done`` records the config digest
    (and, beside it, the config and the statistics). A rerun with the same config returns at once; with
    another config it rebuilds and replaces the old corpus. A non-empty ``out_dir`` without the marker is
    not ours and is left alone (error).
    """
    cfg = validate_config(config)
    digest = config_digest(cfg)
    out_dir, cache_dir = Path(out_dir).absolute(), Path(cache_dir).absolute()
    out = atomic_output_dir(out_dir, {"builder": "synth_corpus", "config": digest}, log=logger,
                            legacy=lambda old: {"builder": "synth_corpus", "config": old["digest"]},
                            skip_log="{dir} is complete for this config ({marker}); nothing to do")
    if out.complete:
        return out.record["stats"]
    check_voices(cfg)

    plan: List[dict] = []
    for lang, spec in cfg["languages"].items():
        sentences = text_sources.load_sentences(lang, cache_dir, spec["max_chars"], spec["min_chars"], nj)
        if spec.get("inventory"):
            inventory = set(char_inventory.frequent_characters(
                text_sources.harvest(lang, cache_dir, nj), spec["inventory"]["size"],
                spec["inventory"]["max_homophones"]))
            sentences = [s for s in sentences if char_inventory.within(s, inventory)]
        plan.extend(plan_language(lang, spec, cfg, sentences))
        logger.info("%s: %d sentences available, train/dev/test = %d/%d/%d", lang, len(sentences),
                    spec["train"], spec["dev"], spec["test"])

    with out as tmp:
        for lang in cfg["languages"]:
            (tmp / "wav" / lang).mkdir(parents=True)
        for u in plan:
            u["tmp_path"] = tmp / "wav" / u["lang"] / f"{u['utt']}.wav"
            u["final_path"] = str(out_dir / "wav" / u["lang"] / f"{u['utt']}.wav")
        # Each job runs two external processes (espeak-ng, sox); threads only wait on them, so nj
        # threads keep nj synthesis pipelines busy without pickling anything.
        pool = ThreadPoolExecutor(max(1, nj))
        try:
            futures = [pool.submit(synthesize, u, u["tmp_path"]) for u in plan]
            for u, fut in zip(plan, tqdm(futures, desc="synthesising", unit="utt", mininterval=2.0)):
                u["duration"] = fut.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        for split in SPLITS:
            write_data_dir(tmp / split, [u for u in plan if u["split"] == split])
        stats = _summary(plan)
        out.record.update(digest=digest, config=cfg, stats=stats)
    for split in SPLITS:
        hours = sum(e["hours"] for e in stats.get(split, {}).values())
        utts = sum(e["utts"] for e in stats.get(split, {}).values())
        logger.info("%s: %d utterances, %.3f h", split, utts, hours)
    return stats
