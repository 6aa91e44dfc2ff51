"""Transcribe audio files with a trained espnet_ext model: the short way to use a model once it exists.

Usage:
    python -m espnet_ext.bin.transcribe --model model.zip a.wav b.flac dir/ [--wav_scp wav.scp]
        [--format text|json] [--lang en] [--nj 2] [--decode_config conf/decode.yaml] [--beam_size 10]
        [--ctc_weight 0.3] [--output hyp.txt] [--device cpu|cuda]

``--model`` is an archive of espnet_ext.bin.pack_model or an experiment dir (config.yaml + a .pth).  A dir
of a model trained on stage-2 features needs its raw-audio config: ``config_raw_audio.yaml`` beside it
(espnet_ext.bin.raw_audio_config) or ``--fbank_conf`` (the conf stage 2 ran with).  Inputs: files, dirs
(searched recursively for .wav .flac .mp3 .ogg) and ``--wav_scp`` (``id path`` lines).  Audio is read with
soundfile (libsndfile: wav, flac, ogg, mp3), falling back to torchaudio; several channels are averaged;
any sample rate is resampled by the model's frontend.

Output, one line per input in input order: ``<id> <text>``, or with ``--format json`` one object per line
``{"id", "text", "path"[, "lang"]}``.  ``lang`` is the ``--lang`` given (which also conditions a multilingual
model: Dual-Adapters, LID vector); a language-ID head's own prediction is written by espnet_ext.bin.asr_inference
``--lang_routing`` (docs/lid_routing.md), not here.  An unreadable file
is an error line on stderr naming it; the others are still decoded, and the exit status is 1.
Decoding is espnet_ext.bin.asr_inference's (``espnet_ext.asr.speech2text_builder.build_speech2text``):
``--decode_config`` takes the same YAML as the recipes' inference config, and the options above override it.
"""

import argparse
import json
import logging
import multiprocessing
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from espnet_ext.utils.cli import cli_main, set_log_level, setup_logging

logger = logging.getLogger("espnet_ext.transcribe")

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
PREFERRED_WEIGHTS = ("valid.acc.ave.pth", "valid.acc.best.pth", "valid.loss.ave.pth", "valid.loss.best.pth")


def collect_inputs(inputs: List[str], wav_scp: Optional[str] = None) -> List[Tuple[str, str]]:
    """(id, path) of every input, in order: files by stem, dir members by relative path, wav.scp by key."""
    items: List[Tuple[str, str]] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                raise ValueError(f"directory {path} holds no {'/'.join(AUDIO_EXTENSIONS)} files")
            items += [(p.relative_to(path).with_suffix("").as_posix(), str(p)) for p in found]
        else:
            items.append((path.stem, str(path)))  # a missing file becomes an error line when it is read
    if wav_scp:
        with open(wav_scp, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.strip().split(maxsplit=1)
                if len(parts) != 2:
                    raise ValueError(f"{wav_scp}:{n}: expected '<id> <path>', got '{line.strip()}'")
                items.append((parts[0], parts[1]))
    seen: Dict[str, str] = {}
    for utt, path in items:
        if utt in seen:
            raise ValueError(f"two inputs have the id '{utt}': {seen[utt]} and {path} (rename one, or give a wav.scp)")
        seen[utt] = path
    return items


def read_audio(path: str) -> Tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate; ValueError naming the file when it cannot be read."""
    if path.rstrip().endswith("|"):
        raise ValueError(f"{path}: command pipes are not read; give an audio file path")
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    try:
        import soundfile

        wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as sf_error:  # soundfile cannot read it: torchaudio may (its own decoders)
        try:
            import torchaudio

            tensor, rate = torchaudio.load(path)
            wave = tensor.numpy().T.astype(np.float32)
        except Exception:
            raise ValueError(f"{path}: cannot read audio: {sf_error}") from sf_error
    if wave.shape[0] == 0:
        raise ValueError(f"{path}: the audio has no samples")
    return wave.mean(axis=1) if wave.shape[1] > 1 else wave[:, 0], int(rate)


def _pick_weights(exp_dir: Path) -> Path:
    for name in PREFERRED_WEIGHTS:
        if (exp_dir / name).is_file():
            return exp_dir / name
    found = sorted(p for p in exp_dir.glob("*.pth") if p.name != "checkpoint.pth")
    if len(found) == 1:
        return found[0]
    raise ValueError(f"{exp_dir}: cannot tell which weights to use ({', '.join(p.name for p in found) or 'no .pth'}); "
                     "give --model_file")


def resolve_model(model: str, model_file: Optional[str] = None, fbank_conf: Optional[str] = None,
                  cache_dir: Optional[str] = None, work_dir: Optional[str] = None) -> Tuple[str, str]:
    """(raw-audio config, weights) of an archive or an experiment dir (see module docstring)."""
    import yaml

    path = Path(model)
    if path.is_file() and path.suffix == ".zip":
        from espnet_ext.asr.packed_model import load_packed

        config, weights = load_packed(path, cache_dir)
        return config, model_file or weights
    if not path.is_dir():
        raise ValueError(f"--model {model}: neither a model archive (.zip of espnet_ext.bin.pack_model) nor an "
                         "experiment dir")
    weights = Path(model_file) if model_file else _pick_weights(path)
    from espnet_ext.asr.raw_audio_config import DEFAULT_NAME, write_raw_audio_config

    if fbank_conf:
        return str(write_raw_audio_config(path / "config.yaml", fbank_conf,
                                          Path(work_dir or tempfile.mkdtemp()) / DEFAULT_NAME)), str(weights)
    for name in (DEFAULT_NAME, "config.yaml"):
        config = path / name
        if config.is_file():
            with open(config, encoding="utf-8") as f:
                if yaml.safe_load(f).get("input_size") is None:
                    return str(config), str(weights)
    raise ValueError(f"{path / 'config.yaml'}: the model takes stage-2 features, not audio: give --fbank_conf (the "
                     "conf stage 2 ran with, e.g. conf/fbank_40.yaml), or write its raw-audio config with python -m "
                     "espnet_ext.bin.raw_audio_config, or pack it with python -m espnet_ext.bin.pack_model")


def decoder_args(config: str, weights: str, decode_config: Optional[str], overrides: Dict, device: str) -> Dict:
    """The options of espnet_ext.bin.asr_inference for this model: ESPnet's defaults < decode_config < overrides."""
    from espnet_ext.asr import speech2text_builder

    # ESPnet's parser requires a data source and an output dir; transcribe reads and writes neither.
    cmd = ["--output_dir=unused", "--data_path_and_name_and_type=unused,speech,sound", f"--asr_train_config={config}",
           f"--asr_model_file={weights}", "--ngpu", "1" if device == "cuda" else "0"]
    if decode_config:
        cmd += [f"--config={decode_config}"]
    for key, value in overrides.items():
        if value is not None:
            cmd += [f"--{key}={value}"]
    args = vars(speech2text_builder.get_parser().parse_args(cmd))
    args.pop("config", None)
    return args


class Transcriber:
    """One loaded model; :meth:`transcribe` decodes one audio file (a worker process holds one)."""

    def __init__(self, args: Dict, lang: Optional[str] = None):
        import espnet_ext  # noqa: F401  (plugins registered before ESPnet builds the model)
        from espnet_ext.asr.speech2text_builder import build_speech2text

        self.speech2text = build_speech2text(args)
        self.lang = lang
        self.frontend = getattr(self.speech2text.asr_model, "frontend", None)

    def _prepare(self, wave: np.ndarray, rate: int) -> np.ndarray:
        from espnet_ext.asr.frontend.stage2_fbank_frontend import Stage2FbankFrontend

        if isinstance(self.frontend, Stage2FbankFrontend):
            self.frontend.input_rate = rate  # the frontend resamples (and logs each new rate once)
            return wave
        fs = int((self.speech2text.asr_train_args.frontend_conf or {}).get("fs", 16000))
        if rate != fs:  # another ESPnet frontend: it assumes its own rate
            import torch
            import torchaudio.functional

            wave = torchaudio.functional.resample(torch.from_numpy(wave), rate, fs).numpy()
        return wave

    def transcribe(self, path: str) -> str:
        from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError

        wave, rate = read_audio(path)
        try:
            results = self.speech2text(self._prepare(wave, rate), lang=self.lang)
        except TooShortUttError:
            logger.warning("%s: too short for the model (%d samples at %d Hz); empty text", path, len(wave), rate)
            return ""
        if isinstance(results, tuple):  # (n-best, intermediate CTC outputs)
            results = results[0]
        return (results[0][0] or "") if results else ""


_WORKER: Optional[Transcriber] = None


def _init_worker(args: Dict, lang: Optional[str], log_level: str) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(1)  # one process per --nj: threads would oversubscribe the cores
    setup_logging(log_level)  # a spawned worker starts without logging
    set_log_level(log_level)
    _WORKER = Transcriber(args, lang)


def _run(item: Tuple[str, str]) -> Tuple[str, str, Optional[str], Optional[str]]:
    utt, path = item
    try:
        return utt, path, _WORKER.transcribe(path), None
    except Exception as e:  # one bad file must not stop the others
        message = str(e) if str(e).startswith(path) else f"{path}: {type(e).__name__}: {e}"
        return utt, path, None, message


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Transcribe audio files (see python -m espnet_ext.bin.transcribe --help)",
                                epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="audio files and/or directories (recursive: .wav .flac .mp3 .ogg)")
    p.add_argument("--model", required=True, help="archive of espnet_ext.bin.pack_model, or an experiment dir")
    p.add_argument("--model_file", default=None, help="weights of an experiment dir (default: valid.acc.ave.pth, ...)")
    p.add_argument("--fbank_conf", default=None, help="stage-2 feature conf of an experiment dir's features model")
    p.add_argument("--wav_scp", default=None, help="Kaldi-style '<id> <path>' list of audio files")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--lang", default=None, help="language code of every input (conditions multilingual models)")
    p.add_argument("--output", default=None, help="write the results here instead of stdout")
    p.add_argument("--nj", type=int, default=1, help="parallel decoding processes (each loads the model once)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--cache_dir", default=None, help="where archives are unpacked (default ~/.cache/espnet_ext)")
    p.add_argument("--decode_config", default=None, help="ESPnet inference config YAML (beam_size, ctc_weight, ...)")
    p.add_argument("--beam_size", type=int, default=None)
    p.add_argument("--ctc_weight", type=float, default=None)
    p.add_argument("--lm_weight", type=float, default=None)
    p.add_argument("--penalty", type=float, default=None)
    p.add_argument("--maxlenratio", type=float, default=None)
    p.add_argument("--log_level", default="WARNING")
    return p


@cli_main(log_level=logging.WARNING)
def main(argv=None) -> int:
    from tqdm import tqdm

    args = get_parser().parse_args(argv)
    set_log_level(args.log_level)
    if args.nj < 1:
        print("transcribe: error: --nj must be >= 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work_dir:
        items = collect_inputs(args.inputs, args.wav_scp)
        if not items:
            raise ValueError("no inputs: give audio files, directories or --wav_scp")
        config, weights = resolve_model(args.model, args.model_file, args.fbank_conf, args.cache_dir, work_dir)
        overrides = {k: getattr(args, k) for k in ("beam_size", "ctc_weight", "lm_weight", "penalty", "maxlenratio")}
        dargs = decoder_args(config, weights, args.decode_config, overrides, args.device)
        nj = min(args.nj, len(items))
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
        failed = 0
        pool = None
        try:
            if nj == 1:
                _init_worker(dargs, args.lang, args.log_level)
                results = map(_run, items)
            else:
                pool = multiprocessing.get_context("spawn").Pool(nj, _init_worker, (dargs, args.lang, args.log_level))
                results = pool.imap(_run, items)
            for utt, path, text, error in tqdm(results, total=len(items), desc="transcribe", unit="file",
                                               disable=len(items) < 2, file=sys.stderr):
                if error is not None:
                    failed += 1
                    tqdm.write(f"transcribe: error: {error}", file=sys.stderr)
                    continue
                if args.format == "json":
                    record = {"id": utt, "text": text, "path": path}
                    if args.lang is not None:
                        record["lang"] = args.lang
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    out.write(f"{utt} {text}\n")
                out.flush()
        finally:
            if pool is not None:
                pool.close()
                pool.join()
            if out is not sys.stdout:
                out.close()
    if failed:
        print(f"transcribe: {failed} of {len(items)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
