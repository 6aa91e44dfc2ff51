"""List, export and import the adapter weights of a trained model (A2 Dual-Adapters, eq. 4).

Usage:
    python -m espnet_ext.bin.adapter_tool list --asr_train_config exp/a2/config.yaml \
        --asr_model_file exp/a2/valid.acc.ave.pth
    python -m espnet_ext.bin.adapter_tool export --asr_train_config exp/a2/config.yaml \
        --asr_model_file exp/a2/valid.acc.ave.pth --adapters sv,common --out sv.adapters.pth
    python -m espnet_ext.bin.adapter_tool import --asr_train_config exp/a2/config.yaml \
        --asr_model_file exp/a2/valid.acc.ave.pth --adapters_file sv.adapters.pth --out exp/a2/with_sv.pth

``export`` writes the selected adapters' weights only (``--adapters all`` for every adapter); ``import``
copies such a file into the model and writes the whole model's state dict, loadable by ESPnet.
"""

import argparse
import sys
from typing import List, Optional

from espnet_ext.asr.adapters import adapter_io
from espnet_ext.checkpoint_io import save_atomic
from espnet_ext.utils.cli import cli_main


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["list", "export", "import"])
    parser.add_argument("--asr_train_config", required=True, help="config.yaml of the trained model")
    parser.add_argument("--asr_model_file", required=True, help="model weights (.pth)")
    parser.add_argument("--adapters", default="all",
                        help="export: comma-separated adapter names (languages, groups, 'common') or 'all'")
    parser.add_argument("--adapters_file", help="import: a file written by export")
    parser.add_argument("--out", help="export: adapter file to write; import: model file to write")
    return parser


@cli_main()
def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    from espnet_ext.tasks.asr import MultilingualASRTask

    model, _ = MultilingualASRTask.build_model_from_file(args.asr_train_config, args.asr_model_file, "cpu")
    if args.command == "list":
        for prefix, module in adapter_io.dual_adapters(model).items():
            sizes = {n: sum(p.numel() for _, p in module.named_adapter_parameters(n)) for n in module.adapter_names()}
            print(f"{prefix}: mode={module.mode} " + " ".join(f"{n}({k} params)" for n, k in sizes.items()))
        return
    if not args.out:
        raise ValueError(f"adapter_tool {args.command}: --out is required")
    if args.command == "export":
        names = adapter_io.save_adapters(model, args.out, [a.strip() for a in args.adapters.split(",")])
        print(f"wrote {len(names)} adapter parameters to {args.out}")
    else:
        if not args.adapters_file:
            raise ValueError("adapter_tool import: --adapters_file is required")
        names = adapter_io.load_adapters(model, args.adapters_file)
        save_atomic(model.state_dict(), args.out)
        print(f"loaded {len(names)} adapter parameters from {args.adapters_file}; wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
