"""Decoding real-time factor of raw-audio input (the packed model's frontend computes the stage-2 features)
against the dumped stage-2 features, on the same utterances, in one process (not a test; issue 19).

Usage:
    python -m benchmarks.bench_frontend --exp_dir exp/demo/asr_X --model_file valid.acc.ave.pth \
        --packed exp/demo/asr_X/valid.acc.ave.zip --feats_scp dump/demo/fbank/test/feats.scp \
        --wav_scp data/demo/test/wav.scp --decode_config conf/decode_asr_demo.yaml [--max_utts 20] [--repeats 3]

Both models decode every utterance once per repeat, alternating which goes first, after one untimed warm-up
utterance each. Audio is read into memory beforehand, so the raw-audio time is the frontend (resampling if
needed, fbank, CMVN) plus the same network and beam search. Prints JSON: per-repeat seconds, real-time factors
(decoding seconds / audio seconds), the median ratio raw / dumped, and how many 1-best texts agree.
"""

import argparse
import json
import statistics
import sys
from typing import List, Optional

import kaldiio

from benchmarks.bench_adjust_inference import time_decoding
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main, set_log_level


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp_dir", required=True, help="experiment dir trained on stage-2 features (config.yaml)")
    p.add_argument("--model_file", default="valid.acc.ave.pth", help="weights, relative to --exp_dir")
    p.add_argument("--packed", required=True, help="the same model packed (espnet_ext.bin.pack_model): raw audio in")
    p.add_argument("--feats_scp", required=True, help="dumped stage-2 features of the utterances")
    p.add_argument("--wav_scp", required=True, help="their audio (id path)")
    p.add_argument("--decode_config", default=None, help="decoding YAML for both (the recipe's inference config)")
    p.add_argument("--max_utts", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--log_level", default="WARNING")
    args = p.parse_args(argv)
    set_log_level(args.log_level)
    import espnet_ext  # noqa: F401  (plugins registered before ESPnet builds the models)
    from espnet_ext.asr.speech2text_builder import build_speech2text
    from espnet_ext.bin.transcribe import Transcriber, decoder_args, read_audio, resolve_model

    wavs = read_kaldi_map(args.wav_scp)
    feats = kaldiio.load_scp(args.feats_scp)
    utts = [u for u in sorted(wavs) if u in feats][: args.max_utts]
    if not utts:
        raise ValueError(f"{args.feats_scp} and {args.wav_scp} share no utterance id")
    dumped = build_speech2text(decoder_args(f"{args.exp_dir}/config.yaml", f"{args.exp_dir}/{args.model_file}",
                                            args.decode_config, {}, "cpu"))
    raw_config, raw_weights = resolve_model(args.packed)
    raw = Transcriber(decoder_args(raw_config, raw_weights, args.decode_config, {}, "cpu"))
    feat_inputs = [(u, feats[u]) for u in utts]
    raw_inputs, audio_s = [], 0.0
    for u in utts:
        wave, rate = read_audio(wavs[u])
        raw_inputs.append((u, raw._prepare(wave, rate)))
        audio_s += len(wave) / rate
    time_decoding(dumped, feat_inputs[:1])  # warm-up
    time_decoding(raw.speech2text, raw_inputs[:1])
    runs = []
    for r in range(args.repeats):
        order = [("dumped", dumped, feat_inputs), ("raw", raw.speech2text, raw_inputs)]
        if r % 2:
            order.reverse()
        seconds, texts = {}, {"dumped": {}, "raw": {}}
        for name, s2t, inputs in order:
            seconds[name] = time_decoding(s2t, inputs, texts=texts[name])["wall_s"]
        runs.append({"dumped_s": round(seconds["dumped"], 3), "raw_s": round(seconds["raw"], 3),
                     "ratio": round(seconds["raw"] / seconds["dumped"], 4)})
    same = sum(texts["dumped"][u] == texts["raw"][u] for u in utts)
    report = {"utterances": len(utts), "audio_s": round(audio_s, 2), "repeats": runs,
              "rtf_dumped": round(statistics.median(r["dumped_s"] for r in runs) / audio_s, 4),
              "rtf_raw": round(statistics.median(r["raw_s"] for r in runs) / audio_s, 4),
              "median_ratio_raw_over_dumped": statistics.median(r["ratio"] for r in runs),
              "same_1best": f"{same}/{len(utts)}"}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
