"""Decoding time with Adjust-Inference vs without: same model, same data, one process (not a test).

Usage:
    python -m benchmarks.bench_adjust_inference --asr_train_config exp/asr_X/config.yaml \
        --asr_model_file exp/asr_X/valid.acc.ave.pth --data_path_and_name_and_type dump/fbank/dev/feats.scp,speech,kaldi_ark \
        --utt2lang dump/fbank/dev/utt2lang --output_dir /tmp/bench --bench_tau 0.3 --bench_repeats 5 \
        [--bench_max_utts 20] [--token_prior PATH] [decoding options, e.g. --config conf/decode_asr.yaml]

Each repeat decodes the same utterances twice, plain and adjusted, alternating which goes first, after one
untimed warm-up pass of each; prints JSON with per-repeat seconds and the median of the per-repeat ratios
adjusted / plain (goal <= 1.05).
"""

import itertools
import json
import statistics
import sys
import time
from typing import Dict, Mapping, Optional, Sequence, Tuple

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main, set_log_level


def time_decoding(speech2text, utts: Sequence[Tuple[str, object]],
                  utt2lang: Optional[Mapping[str, str]] = None,
                  texts: Optional[Dict[str, str]] = None) -> Dict[str, float]:
    """Decode every (utt, features) of ``utts`` once: wall and process CPU seconds, mean 1-best length.

    The language of ``utt2lang`` is passed only when there is one (stock ``Speech2Text`` takes none).
    ``texts``, when given, receives each utterance's 1-best text."""
    start, cpu_start, lengths = time.perf_counter(), time.process_time(), []
    for utt, feats in utts:
        lang = (utt2lang or {}).get(utt)
        results = speech2text(feats) if lang is None else speech2text(feats, lang=lang)
        if isinstance(results, tuple):  # (n-best, intermediate CTC outputs)
            results = results[0]
        lengths.append(len(results[0][2]) if results else 0)
        if texts is not None:
            texts[utt] = (results[0][0] or "") if results else ""
    return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu_start,
            "mean_len": sum(lengths) / max(1, len(lengths))}


@cli_main()
def main(cmd=None) -> int:
    import kaldiio

    from espnet_ext.asr.scorers.logit_adjusted_scorer import LogitAdjustedScorer
    from espnet_ext.asr.speech2text_builder import build_speech2text
    from espnet_ext.asr.speech2text_builder import get_parser as inference_parser

    parser = inference_parser()
    parser.add_argument("--bench_tau", type=float, default=0.3)
    parser.add_argument("--bench_repeats", type=int, default=5)
    parser.add_argument("--bench_max_utts", type=int, default=20)
    args = vars(parser.parse_args(cmd))
    args.pop("config", None)
    set_log_level(args["log_level"])
    tau, repeats, max_utts = args.pop("bench_tau"), args.pop("bench_repeats"), args.pop("bench_max_utts")
    if tau <= 0 or repeats < 1:
        raise ValueError("--bench_tau must be > 0 and --bench_repeats >= 1")
    path, name, kind = args["data_path_and_name_and_type"][0]
    if kind != "kaldi_ark" or name != "speech":
        raise ValueError("the benchmark reads features: --data_path_and_name_and_type feats.scp,speech,kaldi_ark")
    utts = list(itertools.islice(kaldiio.load_scp(path).items(), max_utts))
    utt2lang = read_kaldi_map(args["utt2lang"]) if args.get("utt2lang") else {}
    speech2text = build_speech2text(dict(args, logit_adjust_tau=0.0))
    model, beam_search = speech2text.asr_model, speech2text.beam_search

    def set_mode(adjusted: bool) -> None:
        LogitAdjustedScorer.attach(beam_search, model, tau=tau if adjusted else 0.0, token_prior=args.get("token_prior"),
                                   per_language=bool(args.get("logit_adjust_per_language")))

    def decode_all() -> float:
        return time_decoding(speech2text, utts, utt2lang)["wall_s"]

    for adjusted in (False, True):  # warm-up
        set_mode(adjusted)
        decode_all()
    runs = []
    for r in range(repeats):
        times = {}
        for adjusted in ((False, True) if r % 2 == 0 else (True, False)):
            set_mode(adjusted)
            times["adjusted" if adjusted else "plain"] = decode_all()
        runs.append(times)
    ratios = [t["adjusted"] / t["plain"] for t in runs]
    print(json.dumps({"utterances": len(utts), "tau": tau, "repeats": repeats,
                      "plain_s": [round(t["plain"], 4) for t in runs], "adjusted_s": [round(t["adjusted"], 4) for t in runs],
                      "ratio_median": round(statistics.median(ratios), 4), "ratios": [round(x, 4) for x in ratios]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
