"""Training step time of the pretrained-LM decoder vs ESPnet's transformer decoder (same encoder).

Usage:
    python -m benchmarks.bench_pretrained_decoder --pretrained_path downloads/e5_small_hf \
        [--num_blocks 4] [--vocab 300] [--batch 8] [--frames 400] [--tokens 30] [--steps 5] [--device cpu]

Builds two hybrid CTC/attention models that differ only in the decoder (the transformer decoder of
conf/tuning/train_smt_transformer_cpu.yaml: 2 layers, 4 heads, 576 units; vs pretrained_lm), runs
--steps timed forward/backward/Adam steps on random batches after one warm-up step, and prints JSON:
seconds per step of each model, their ratio, and parameter counts.  A measurement tool, not a test.
"""

import argparse
import json
import sys
import time

from espnet_ext.utils.cli import cli_main


def _model(decoder, encoder, vocab, token_list):
    from espnet2.asr.ctc import CTC
    from espnet2.asr.espnet_model import ESPnetASRModel

    return ESPnetASRModel(vocab_size=vocab, token_list=token_list, frontend=None, specaug=None, normalize=None,
                          preencoder=None, encoder=encoder, postencoder=None, decoder=decoder, joint_network=None,
                          ctc=CTC(vocab, encoder.output_size()), ctc_weight=0.3, lsm_weight=0.1)


def _time_steps(model, batch, steps, device):
    import torch

    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss, _, _ = model(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained_path", required=True)
    p.add_argument("--num_blocks", type=int, default=None, help="pretrained layers used (default: all)")
    p.add_argument("--vocab", type=int, default=300)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=400)
    p.add_argument("--tokens", type=int, default=30)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    import torch
    from espnet2.asr.decoder.transformer_decoder import TransformerDecoder
    from espnet2.asr.encoder.transformer_encoder import TransformerEncoder

    from espnet_ext.asr.decoder.pretrained_lm_decoder import PretrainedLMDecoder

    torch.manual_seed(0)
    token_list = ["<blank>", "<unk>"] + [f"\u2581p{i}" for i in range(args.vocab - 3)] + ["<sos/eos>"]

    def encoder():
        torch.manual_seed(0)
        return TransformerEncoder(80, output_size=144, attention_heads=4, linear_units=576, num_blocks=4,
                                  input_layer="conv2d", normalize_before=True)

    plain = _model(TransformerDecoder(args.vocab, 144, attention_heads=4, linear_units=576, num_blocks=2),
                   encoder(), args.vocab, token_list)
    pretrained = _model(PretrainedLMDecoder(args.vocab, 144, pretrained_path=args.pretrained_path,
                                            token_list=token_list, num_blocks=args.num_blocks),
                        encoder(), args.vocab, token_list)
    g = torch.Generator().manual_seed(1)
    batch = {"speech": torch.randn(args.batch, args.frames, 80, generator=g).to(args.device),
             "speech_lengths": torch.full((args.batch,), args.frames).to(args.device),
             "text": torch.randint(2, args.vocab - 1, (args.batch, args.tokens), generator=g).to(args.device),
             "text_lengths": torch.full((args.batch,), args.tokens).to(args.device)}
    t_plain = _time_steps(plain, batch, args.steps, args.device)
    t_pre = _time_steps(pretrained, batch, args.steps, args.device)
    count = lambda m: sum(x.numel() for x in m.parameters())  # noqa: E731
    print(json.dumps({
        "device": args.device, "torch_threads": torch.get_num_threads(), "batch": args.batch,
        "frames": args.frames, "tokens": args.tokens, "vocab": args.vocab, "steps": args.steps,
        "pretrained_path": args.pretrained_path, "pretrained_layers": len(pretrained.decoder.layers),
        "pretrained_width": pretrained.decoder.hidden_size,
        "step_s_transformer_decoder": round(t_plain, 4), "step_s_pretrained_decoder": round(t_pre, 4),
        "step_time_ratio": round(t_pre / t_plain, 3),
        "params_transformer_decoder_model": count(plain), "params_pretrained_decoder_model": count(pretrained),
        "decoder_params_transformer": count(plain.decoder), "decoder_params_pretrained": count(pretrained.decoder),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
