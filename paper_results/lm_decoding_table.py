"""CER/MER and decoding time of the code-switching test set decoded with and without the LM (the meta-transfer
paper's eq. 5; the cs_lm hook's stage 11, docs/cs_language_model.md).

    python -m paper_results.lm_decoding_table weights conf/decode_mtl_cs_lm.yaml      # prints "beta gamma"
    python -m paper_results.lm_decoding_table table --out exp/cs_demo/results/lm_decoding_x.md \\
        --ref dump/cs_demo/fbank/cs_test/text \\
        --row "plain beam search (no LM)" exp/.../decode_plain/cs_test "" \\
        --row "(a) 5-best + LM rescoring, eq. 5" exp/.../decode_nbest5/cs_test exp/.../rescored_lm_meta_ft

``weights``: eq. 5's beta (``lm_weight``) and gamma (``word_count_weight``) of a decoding config (alpha is 1,
the beam search's own score). ``table``: one row per decoding: its hypotheses (``<decode dir>/text``, or
``<rescored dir>/text`` when a rescoring dir is given), CER (characters, spaces not counted), MER (Chinese
characters + English words), and its time: the beam search summed over the decoding jobs, from the model being
ready (ESPnet's ``Decoding device=`` log line) to the last log line, + the rescoring's own seconds
(``summary.json``); the ratio is against the first row. Writes the .md table and a .json beside it.
"""

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.error_rate import cer_ignoring_spaces
from espnet_ext.utils.mixed_error_rate import mixed_error_rate

_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def eq5_weights(config: Path) -> List[float]:
    """[beta, gamma] of eq. 5 from a decoding YAML (0 where a weight is not set)."""
    with open(config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    return [float(conf.get("lm_weight", 0.0)), float(conf.get("word_count_weight", 0.0))]


def search_seconds(decode_dir: Path) -> float:
    """Σ over a decoding's jobs (``logdir/decode.*.log``) of the time from the model being ready to the last
    timestamped line: the beam search alone, without Python start-up and model loading."""
    logs = sorted(decode_dir.glob("logdir/decode.*.log"))
    if not logs:
        raise FileNotFoundError(f"no {decode_dir}/logdir/decode.*.log to time the decoding")
    total = 0.0
    for log in logs:
        start = end = None
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _TIMESTAMP.match(line)
            if not m:
                continue
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
            if start is None and "Decoding device=" in line:
                start = t
            end = t
        if start is None:
            raise ValueError(f"{log}: no 'Decoding device=' line (ESPnet log level above INFO?)")
        total += (end - start).total_seconds()
    return total


def table_rows(ref_file: Path, rows: List[List[str]]) -> List[Dict]:
    """One dict per (label, decode dir, rescored dir or "") row; time_ratio against the first row."""
    refs = read_kaldi_map(ref_file)
    table = []
    for label, dec, rescored in rows:
        hyp_file = Path(rescored) / "text" if rescored else Path(dec) / "text"
        hyps = read_kaldi_map(hyp_file, allow_empty_value=True)
        seconds = search_seconds(Path(dec))
        row = {"decoding": label, "hyp": str(hyp_file), "cer": round(cer_ignoring_spaces(refs, hyps).rate, 2),
               "mer": round(mixed_error_rate(refs, hyps).rate, 2), "search_s": round(seconds, 2)}
        if rescored:
            summary = json.loads((Path(rescored) / "summary.json").read_text(encoding="utf-8"))
            row.update(rescore_s=summary["seconds"], changed=summary["changed"])
            seconds += summary["seconds"]
        row["time_s"] = round(seconds, 2)
        table.append(row)
    base = table[0]["time_s"] if table else 0
    for row in table:
        row["time_ratio"] = round(row["time_s"] / base, 2) if base > 0 else None
    return table


def markdown(table: List[Dict], set_name: str) -> str:
    lines = [f"| decoding ({set_name}) | CER % | MER % | decoding time (s) | time / plain |",
             "|---|---:|---:|---:|---:|"]
    for r in table:
        t = f"{r['search_s']:.2f}" + (f" + {r['rescore_s']:.2f}" if "rescore_s" in r else "")
        ratio = "–" if r["time_ratio"] is None else f"{r['time_ratio']:.2f}"
        lines.append(f"| {r['decoding']} | {r['cer']:.2f} | {r['mer']:.2f} | {t} | {ratio} |")
    return "\n".join(lines) + "\n"


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="print eq. 5's beta and gamma of a decoding config")
    w.add_argument("config", type=Path)
    t = sub.add_parser("table", help="CER/MER/time of each decoding -> --out (.md) and .json beside it")
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--ref", required=True, type=Path, help="reference text (Kaldi map)")
    t.add_argument("--row", nargs=3, action="append", required=True, metavar=("LABEL", "DECODE_DIR", "RESCORED_DIR"),
                   help="a decoding; RESCORED_DIR is '' when the decode dir's own text is scored")
    args = p.parse_args(argv)
    if args.command == "weights":
        print(*eq5_weights(args.config))
        return 0
    table = table_rows(args.ref, args.row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(table, args.ref.parent.name), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
