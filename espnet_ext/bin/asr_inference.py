"""ASR decoding with espnet_ext's plugins and a per-utterance language key.

Usage:
    python -m espnet_ext.bin.asr_inference --asr_train_config exp/asr/config.yaml \
        --asr_model_file exp/asr/valid.acc.ave.pth --output_dir exp/asr/decode/test \
        --data_path_and_name_and_type dump/test/feats.scp,speech,kaldi_ark \
        --utt2lang dump/test/utt2lang [--key_file keys.1] [every option of espnet2.bin.asr_inference]

Output layout is ESPnet's: ``<output_dir>/<n>best_recog/{text,token,token_int,score}``.  The language of an
utterance comes from ``--utt2lang`` or a ``lang`` data key; ``--logit_adjust_tau``/``--token_prior`` decode
with Adjust-Inference (A2 eq. 11); an utterance too short for the encoder gets an empty hypothesis.

This module is the command line only.  The options and the decoder, with what each of them does, are
:mod:`espnet_ext.asr.speech2text_builder`, shared with the other tools that decode (transcribe, tau_sweep,
the benchmarks) so that they all build the same ``Speech2Text`` from the same options.
"""

import sys

from espnet_ext.asr.speech2text_builder import get_parser, inference
from espnet_ext.utils.cli import cli_main, set_log_level

__all__ = ["get_parser", "main"]


@cli_main()
def main(cmd=None):
    print(" ".join(sys.argv), file=sys.stderr)
    args = vars(get_parser().parse_args(cmd))
    args.pop("config", None)
    set_log_level(args["log_level"])
    inference(args)


if __name__ == "__main__":
    sys.exit(main())
