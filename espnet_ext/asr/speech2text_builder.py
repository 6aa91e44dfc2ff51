"""ESPnet's ``Speech2Text`` with espnet_ext's plugins and a per-utterance language: build it, decode with it.

The decoder of ``python -m espnet_ext.bin.asr_inference`` (the CLI is that module's ``main``), kept here so that
every tool that decodes builds it the same way from the same options: the CLI, ``espnet_ext.bin.transcribe``,
``espnet_ext.bin.tau_sweep`` and the benchmarks.  :func:`get_parser` is the option set (ESPnet's
``asr_inference`` options plus ours); ``vars(get_parser().parse_args(...))`` is the ``args`` dict that
:func:`build_speech2text`, :func:`decode` and :func:`inference` take.

The language comes either from ``--utt2lang`` (language codes, mapped through the model's
``model_conf.languages``) or from a ``lang`` data key (``utt2lid,lang,text_int``).  Output layout is
ESPnet's: ``<output_dir>/<n>best_recog/{text,token,token_int,score}``.

Adjust-Inference (A2 eq. 11; espnet_ext/asr/scorers/logit_adjusted_scorer.py): ``--logit_adjust_tau T``
decodes the attention term from log_softmax(log p - T log prior) with ``--token_prior PATH`` or the prior
stored in a ``logit_adjusted`` model; without the option, Adjust-Train models use their own tau and prior,
other models decode as in ESPnet; T = 0 decodes from the raw decoder.

Routing without a tag (docs/lid_routing.md): ``--lang_routing oracle|hard|soft``.  A model with a LID head
(``model_conf.lid_weight > 0``) decodes without any language input by default (``soft``; ``oracle`` when a
language is given) and writes ``<output_dir>/lang``: ``utt language posterior`` (the language the adapters
were routed to, or its largest share under ``soft``, with its LID posterior).  ``hard``/``soft`` on a model
without a LID head is an error.

An utterance too short for the encoder's subsampling (ESPnet's ``TooShortUttError``) gets an empty
hypothesis (empty text, token and token_int; score 0.0, as in ESPnet's own inference) and a warning naming
it; decoding goes on. A model trained on stage-2 features (no front end) given other input — a raw
waveform, or features of another dimension — is an error naming the utterance and the expected dimension.
"""

import inspect
import logging
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from espnet_ext.tasks.asr import LANG_DATA_NAME, MultilingualASRTask
from espnet2.bin.asr_inference import Speech2Text
from espnet2.bin.asr_inference import get_parser as espnet_get_parser
from espnet2.fileio.datadir_writer import DatadirWriter
from espnet2.torch_utils.set_all_random_seed import set_all_random_seed
from espnet2.utils.types import float_or_none, str2bool, str_or_none
from espnet.nets.beam_search import Hypothesis
from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError

from espnet_ext.asr.lid.lid_calibration import LidCalibration
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from espnet_ext.asr.scorers.logit_adjusted_scorer import LogitAdjustedScorer
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.registry import explain_unknown_class

logger = logging.getLogger("espnet_ext.asr_inference")


class MultilingualSpeech2Text(Speech2Text):
    """``Speech2Text`` whose call takes the utterance's language (code or inventory index).

    For a :class:`MultilingualASRModel` the language is set on the model's language-conditioned modules
    for the encoder pass and the whole beam search; other models ignore it.
    """

    def check_input(self, speech, key: Optional[str] = None) -> None:
        """A model without a front end takes stage-2 features (T, input_size): say so for anything else
        (a raw waveform from wav.scp is 1-D; features of another --feats_conf have another width)."""
        if getattr(self.asr_model, "frontend", None) is not None:
            return
        dim = getattr(self.asr_train_args, "input_size", None)
        shape = tuple(speech.shape)
        if dim is None or (len(shape) == 2 and shape[1] == dim):
            return
        if len(shape) == 1:
            what, fix = f"a 1-D signal of {shape[0]} samples (a raw waveform?)", "decode feats.scp, not wav.scp"
        else:
            what, fix = f"shape {shape}", "extract features with the feats_conf the model was trained with"
        where = f"utterance '{key}': " if key is not None else ""
        raise ValueError(
            f"{where}the model expects {dim}-dim features from stage 2 (dump/fbank/<set>/feats.scp, type "
            f"kaldi_ark; input_size {dim} in its config), got {what}: {fix}")

    def __call__(self, speech, lang=None):
        self.check_input(speech)
        model = self.asr_model
        if not isinstance(model, MultilingualASRModel):
            return super().__call__(speech)
        if model.lid_router is not None:
            model.lid_router.last = None
        elif lang is None:
            return super().__call__(speech)
        with model.language_context(lang, batch_size=1) as ids, LogitAdjustedScorer.language(self.beam_search, ids):
            return super().__call__(speech)

    def last_language(self) -> Optional[Tuple[str, float]]:
        """(language code, LID posterior) of the last decoded utterance; None without a LID head.

        The language is the one the adapters were routed to: the tag (``oracle``), the arg-max of the LID
        posterior (``hard``; ``soft``: the language of largest weight).
        """
        model = self.asr_model
        lid = getattr(model, "lid_router", None) and model.lid_router.last
        if not lid:
            return None
        posterior = lid.posteriors(model.lid_router.level)[0]
        index = int(lid.tag[0]) if lid.routing == "oracle" else int(posterior.argmax())
        return model.languages[index], float(posterior[index])


def _speech2text_kwargs(args: Dict) -> Dict:
    """The parsed options that ``Speech2Text.__init__`` takes, by name."""
    accepted = inspect.signature(Speech2Text.__init__).parameters
    kwargs = {k: v for k, v in args.items() if k in accepted}
    kwargs["device"] = "cuda" if args["ngpu"] >= 1 else "cpu"
    return kwargs


def build_speech2text(args: Dict) -> MultilingualSpeech2Text:
    """Check the options, load the model, install Adjust-Inference when asked (or by an Adjust-Train model)."""
    if args["batch_size"] > 1:
        raise ValueError("--batch_size > 1 is not supported by ESPnet's Speech2Text; parallelise with --key_file")
    if args["ngpu"] > 1:
        raise ValueError("decoding uses at most one GPU per process; split the data with --key_file")
    if args.get("model_tag"):
        raise ValueError("--model_tag downloads from a model hub, which espnet_ext never does; "
                         "give --asr_train_config and --asr_model_file")
    if args.get("word_lm_train_config"):
        raise ValueError("--word_lm_train_config is not supported (as in ESPnet)")
    set_all_random_seed(args["seed"])
    with explain_unknown_class():  # a config naming a class this process does not know: espnet_ext's hint
        speech2text = MultilingualSpeech2Text(**_speech2text_kwargs(args))
    smoothing = args.get("lid_frame_smoothing", 1)  # a bad value (0, even) is the router's error
    temperature = args.get("lid_temperature", 1.0)
    calibration = args.get("lid_calibration")
    if isinstance(speech2text.asr_model, MultilingualASRModel):
        model = speech2text.asr_model
        bias = LidCalibration.load(calibration).bias_for(model.languages, calibration) if calibration else None
        model.set_lang_routing(args.get("lang_routing"), smoothing, temperature, bias)  # no head: its error
    elif smoothing != 1 or temperature != 1 or calibration:
        option = ("--lid_frame_smoothing" if smoothing != 1 else "--lid_temperature" if temperature != 1
                  else "--lid_calibration")
        raise ValueError(f"{option} acts on a LID head's posteriors; "
                         f"{type(speech2text.asr_model).__name__} is not a multilingual model")
    elif args.get("lang_routing") not in (None, "oracle"):
        raise ValueError(f"--lang_routing {args['lang_routing']} routes adapters by a LID head; "
                         f"{type(speech2text.asr_model).__name__} is not a multilingual model")
    LogitAdjustedScorer.attach(speech2text.beam_search, speech2text.asr_model, tau=args.get("logit_adjust_tau"),
                               token_prior=args.get("token_prior"),
                               per_language=bool(args.get("logit_adjust_per_language")))
    from espnet_ext.asr.scorers.word_count_bonus import WordCountBonus  # eq. 5 γ√wc(Y) (Winata et al. 2020)
    WordCountBonus.attach(speech2text.beam_search, speech2text.asr_model.token_list,
                          speech2text.asr_train_args.token_type, args.get("word_count_weight"))
    return speech2text


def decode(speech2text: MultilingualSpeech2Text, args: Dict) -> None:
    """Decode ``args['data_path_and_name_and_type']`` into ``args['output_dir']``."""
    model = speech2text.asr_model
    utt2lang: Optional[Dict[str, str]] = read_kaldi_map(args["utt2lang"]) if args.get("utt2lang") else None
    if utt2lang is not None and isinstance(model, MultilingualASRModel):
        for utt, code in utt2lang.items():
            if code not in model.languages:
                raise ValueError(f"{args['utt2lang']}: utterance '{utt}' has language '{code}' unknown to the model "
                                 f"(model_conf.languages = {model.languages})")

    train_args = speech2text.asr_train_args
    loader = MultilingualASRTask.build_streaming_iterator(
        args["data_path_and_name_and_type"], dtype=args["dtype"], batch_size=1, key_file=args["key_file"],
        num_workers=args["num_workers"], preprocess_fn=MultilingualASRTask.build_preprocess_fn(train_args, False),
        collate_fn=MultilingualASRTask.build_collate_fn(train_args, False),
        allow_variable_data_keys=args["allow_variable_data_keys"], inference=True,
    )
    nbest = args["nbest"]
    with DatadirWriter(args["output_dir"]) as writer:
        for keys, batch in loader:
            key = keys[0]
            batch = {k: v[0] for k, v in batch.items() if not k.endswith("_lengths")}
            lang = batch.pop(LANG_DATA_NAME, None)
            if utt2lang is not None:
                if key not in utt2lang:
                    raise ValueError(f"{args['utt2lang']}: no language for utterance '{key}'")
                lang = utt2lang[key]
            if isinstance(lang, torch.Tensor):
                lang = lang.reshape(-1)[:1]
            speech = batch.pop("speech")
            speech2text.check_input(speech, key)
            too_short = False
            try:
                results = speech2text(speech, lang=lang)
            except TooShortUttError as e:
                too_short = True
                # As ESPnet's own inference: one utterance the front end cannot take does not sink the job.
                logger.warning("utterance '%s': %d frames are too few for the encoder's subsampling (it needs "
                               "at least %d); writing an empty hypothesis", key, e.actual_size, e.limit)
                results = [("", [], [], Hypothesis(score=0.0, scores={}, states={}, yseq=[]))] * nbest
            if isinstance(results, tuple):  # (n-best, intermediate CTC outputs)
                results = results[0]
            # no LID line for an utterance the encoder never saw (the router would still hold the previous one's)
            chosen = None if too_short else speech2text.last_language()
            if chosen is not None:
                writer["lang"][key] = f"{chosen[0]} {chosen[1]:.4f}"
            for n, (text, token, token_int, hyp) in zip(range(1, nbest + 1), results):
                out = writer[f"{n}best_recog"]
                out["token"][key] = " ".join(token)
                out["token_int"][key] = " ".join(map(str, token_int))
                out["score"][key] = str(float(hyp.score))
                if text is not None:
                    out["text"][key] = text
            logger.info("%s: %s", key, results[0][0] if results else "")


def inference(args: Dict) -> None:
    decode(build_speech2text(args), args)


def get_parser():
    parser = espnet_get_parser()
    parser.description = "ASR decoding (espnet_ext): ESPnet's options plus a per-utterance language"
    parser.add_argument("--utt2lang", type=str_or_none, default=None,
                        help="Kaldi-style 'utt language-code' file; codes are mapped through model_conf.languages")
    parser.add_argument("--lang_routing", type=str_or_none, default=None, choices=[None, "oracle", "hard", "soft"],
                        help="adapter routing: oracle (the given language), hard (arg-max of the LID head), soft "
                             "(adapters mixed by the LID posterior); default: oracle with a language, else soft "
                             "(models with a LID head). docs/lid_routing.md")
    parser.add_argument("--lid_frame_smoothing", type=int, default=1,
                        help="frame-level LID head (code-switching): centred moving average of the frame posteriors "
                             "over this many frames (odd) before they route the adapters; 1: none. "
                             "docs/lid_routing.md")
    parser.add_argument("--lid_temperature", type=float, default=1.0,
                        help="soft routing: the adapters are mixed by softmax(LID logits / T); T > 1 flattens the "
                             "head's posteriors (calibrate T on a dev set); 1: the posteriors. docs/lid_routing.md")
    parser.add_argument("--lid_calibration", type=str_or_none, default=None,
                        help="JSON of espnet_ext.bin.lid_calibrate: a per-language bias on the LID head's logits, "
                             "fit on a dev set; it moves hard and soft routing and the written posterior. "
                             "docs/lid_routing.md")
    parser.add_argument("--logit_adjust_tau", type=float_or_none, default=None,
                        help="Adjust-Inference tau (A2 eq. 11); default: the model's own (Adjust-Train) or none")
    parser.add_argument("--token_prior", type=str_or_none, default=None,
                        help="prior file of espnet_ext.bin.compute_token_priors; default: the model's stored prior")
    parser.add_argument("--logit_adjust_per_language", type=str2bool, default=False,
                        help="use the utterance language's prior from --token_prior")
    parser.add_argument("--word_count_weight", type=float, default=0.0,
                        help="γ of eq. 5 (Winata et al. 2020): weight of the √wc(Y) word-count bonus in the beam search")
    return parser
