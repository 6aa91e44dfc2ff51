"""ESPnet's ASR task with espnet_ext's plugins registered and the ``lang`` data key allowed.

Class lookup stays ESPnet's own (``espnet2.tasks.asr`` module-level ClassChoices, filled by
``espnet_ext.registry``), so models built here also load through stock ``ASRTask`` and ``Speech2Text``.

On top of ``ASRTask`` (A2 paper, docs/adapters_and_sampling.md):
    * ``model_conf.languages`` is copied into the conf of every encoder / decoder whose constructor takes
      ``languages`` (Dual-Adapters, LID vector), so the inventory is written once; likewise ``--token_list``
      into the conf of a part that takes ``token_list`` (the pretrained-LM decoder's vocabulary mapping); ESPnet saves the
      completed confs in config.yaml, which stock ``ASRTask.build_model_from_file`` then reads.
    * ``--lang_balanced_per_language N``: balanced sampling (BS) of the training batches;
      ``--lang_balanced_alpha A`` tempers it to language shares p_l ∝ n_l^A (0: BS, 1: SMT's proportions);
      ``--lang_balanced_alpha_schedule linear|cosine --lang_balanced_alpha_end B`` moves alpha from A at the
      first epoch to B at ``--max_epoch``.
    * ``--train_adapters_only NAMES``: freeze everything but the named adapters.
    * ``--resume true`` with a truncated ``checkpoint.pth`` (killed while ESPnet saved it) is an error
      naming the file (espnet_ext.checkpoint_io); an unknown class name gets espnet_ext's hint
      (espnet_ext.registry.plugin_hint).
"""

import argparse
import inspect
from pathlib import Path
from typing import List, Optional, Tuple

import espnet_ext  # noqa: F401  (registers the plugins before any parser is built)
import torch
from espnet2.iterators.abs_iter_factory import AbsIterFactory
from espnet2.iterators.sequence_iter_factory import SequenceIterFactory
from espnet2.tasks.abs_task import IteratorOptions
from espnet2.tasks.asr import ASRTask
from espnet2.utils.types import int_or_none, str_or_none

# Data key holding each utterance's index into model_conf.languages (file utt2lid, type text_int).
LANG_DATA_NAME = "lang"
# Parts whose class may take the language inventory as ``languages``.
_LANGUAGE_AWARE_PARTS = ("preencoder", "encoder", "postencoder", "decoder")


def _name_list(value: str) -> Optional[List[str]]:
    """'sv,common' -> ['sv', 'common']; 'none' -> None."""
    if value.strip().lower() in ("", "none", "null"):
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _sampling_alpha(value: str) -> float:
    """--lang_balanced_alpha: a number in [0, 1] (the sampler's check, reported by argparse)."""
    from espnet_ext.samplers.language_balanced_batch_sampler import check_alpha

    try:
        return check_alpha(float(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {value!r}") from None


def _sampling_alpha_or_none(value: str) -> Optional[float]:
    """--lang_balanced_alpha_end: 'none' or a number in [0, 1]."""
    return None if value.strip().lower() in ("none", "null") else _sampling_alpha(value)


def _read_tokens(token_list) -> List[str]:
    if isinstance(token_list, str):
        with open(token_list, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.rstrip("\n")]
    return list(token_list)


class MultilingualASRTask(ASRTask):
    """``ASRTask`` + the optional per-utterance language key, balanced sampling, adapter-only training."""

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return super().optional_data_names(train, inference) + (LANG_DATA_NAME,)

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        super().add_task_arguments(parser)
        group = parser.add_argument_group("espnet_ext: balanced sampling and adapters (A2)")
        group.add_argument("--lang_balanced_per_language", type=int_or_none, default=None,
                           help="Balanced sampling (BS): utterances of every language per training batch, read "
                                "from the 'lang' data key (utt2lid). None: ESPnet's sampling (SMT)")
        group.add_argument("--lang_balanced_layout", type=str, default="mixed", choices=["mixed", "grouped"],
                           help="mixed: each batch holds N per language; grouped: each batch one language, "
                                "cycles of L batches (use accum_grad = L, the paper's 6 x 11)")
        group.add_argument("--lang_balanced_epoch", type=str, default="corpus", choices=["corpus", "max", "min"],
                           help="BS epoch: as many utterances as the corpus (corpus), the largest (max) or the "
                                "smallest (min) language seen once")
        group.add_argument("--lang_balanced_alpha", type=_sampling_alpha, default=0.0,
                           help="Temperature of the language shares, p_l ∝ n_l^alpha with n_l the language's "
                                "training utterances, in [0, 1]: 0 balanced (BS), 1 the corpus proportions (SMT). "
                                "Needs --lang_balanced_per_language (the batch size is N x languages). With "
                                "--lang_balanced_alpha_schedule: the alpha of the first epoch")
        group.add_argument("--lang_balanced_alpha_schedule", type=str, default="constant",
                           choices=["constant", "linear", "cosine"],
                           help="How alpha changes over the epochs: constant (lang_balanced_alpha throughout), "
                                "or linear / cosine from lang_balanced_alpha at the first epoch to "
                                "lang_balanced_alpha_end at max_epoch (e.g. 0 -> 1: balanced, then the corpus "
                                "proportions in the last epochs). Needs the corpus epoch")
        group.add_argument("--lang_balanced_alpha_end", type=_sampling_alpha_or_none, default=None,
                           help="The alpha of the last epoch (max_epoch), in [0, 1]; only with "
                                "--lang_balanced_alpha_schedule linear or cosine")
        group.add_argument("--token_prior", type=str_or_none, default=None,
                           help="Token-prior file (espnet_ext.bin.compute_token_priors); filled into "
                                "model_conf.token_prior of models that take one and leave it null")
        group.add_argument("--train_adapters_only", type=_name_list, default=None,
                           help="Comma-separated adapter names (language codes, group names, 'common', or "
                                "'all') to train; every other parameter is frozen")

    @classmethod
    def _complete_language_confs(cls, args: argparse.Namespace) -> None:
        languages = (getattr(args, "model_conf", None) or {}).get("languages")
        for choices in cls.class_choices_list:
            if choices.name not in _LANGUAGE_AWARE_PARTS or getattr(args, choices.name, None) is None:
                continue
            klass = choices.get_class(getattr(args, choices.name))
            params = inspect.signature(klass.__init__).parameters
            key = f"{choices.name}_conf"
            conf = dict(getattr(args, key) or {})
            if "token_list" in params and conf.get("token_list") is None and args.token_list is not None:
                # ESPnet hands decoders only vocab_size; a decoder that maps its vocabulary (pretrained LM)
                # gets the task's token list, stored as a list so config.yaml stays portable.
                conf["token_list"] = _read_tokens(args.token_list)
                setattr(args, key, conf)
            if "languages" not in params:
                continue
            given = conf.get("languages")
            if given is None:
                if languages:
                    conf["languages"] = list(languages)
            elif languages and list(given) != list(languages):
                raise ValueError(f"{key}.languages {list(given)} differs from model_conf.languages "
                                 f"{list(languages)}; drop {key}.languages (it is copied from model_conf)")
            setattr(args, key, conf)

    @classmethod
    def _complete_model_conf(cls, args: argparse.Namespace) -> None:
        """Fill model_conf.token_prior from --token_prior for a model class that takes it (Adjust-Train)."""
        prior = getattr(args, "token_prior", None)
        if prior is None:
            return
        from espnet2.tasks.asr import model_choices

        klass = model_choices.get_class(args.model)
        if "token_prior" in inspect.signature(klass.__init__).parameters:
            conf = dict(args.model_conf or {})
            if conf.get("token_prior") is None:
                conf["token_prior"] = prior
                args.model_conf = conf

    @classmethod
    def check_sampling_args(cls, args: argparse.Namespace) -> None:
        """YAML values skip argparse's types: check the alpha options here, before any model is built."""
        from espnet_ext.samplers.alpha_schedule import AlphaSchedule

        schedule = AlphaSchedule(getattr(args, "lang_balanced_alpha", 0.0),
                                 getattr(args, "lang_balanced_alpha_end", None),
                                 getattr(args, "lang_balanced_alpha_schedule", "constant"),
                                 getattr(args, "max_epoch", None))
        if getattr(args, "lang_balanced_per_language", None) is not None:
            return
        if schedule.varies:
            raise ValueError(f"lang_balanced_alpha_schedule ({schedule.shape!r}) needs lang_balanced_per_language: "
                             "without it training uses ESPnet's sampling (SMT) and the schedule would be ignored")
        if schedule.start != 0:
            raise ValueError(f"lang_balanced_alpha ({schedule.start}) needs lang_balanced_per_language: without it "
                             "training uses ESPnet's sampling (SMT) and the alpha would be ignored")

    @classmethod
    def check_required_command_args(cls, args: argparse.Namespace):
        super().check_required_command_args(args)
        cls.check_sampling_args(args)

    @classmethod
    def main_worker(cls, args: argparse.Namespace):
        if getattr(args, "resume", False) and not getattr(args, "collect_stats", False) \
                and not getattr(args, "dry_run", False) and getattr(args, "output_dir", None):
            from espnet_ext.checkpoint_io import check_resume_checkpoint

            check_resume_checkpoint(Path(args.output_dir) / "checkpoint.pth")
        super().main_worker(args)

    @classmethod
    def build_model(cls, args: argparse.Namespace):
        from espnet_ext.registry import explain_unknown_class

        with explain_unknown_class():
            cls._complete_language_confs(args)
            cls._complete_model_conf(args)
            model = super().build_model(args)
        selection = getattr(args, "train_adapters_only", None)
        if selection:
            from espnet_ext.asr.adapters.adapter_io import train_only_adapters

            train_only_adapters(model, [selection] if isinstance(selection, str) else selection)
        return model

    @classmethod
    def build_iter_factory(cls, args: argparse.Namespace, distributed_option, mode: str,
                           kwargs: Optional[dict] = None) -> AbsIterFactory:
        iterator_type = args.valid_iterator_type if mode == "valid" and args.valid_iterator_type else \
            args.iterator_type
        if mode == "train" and getattr(args, "lang_balanced_per_language", None) is not None \
                and iterator_type != "sequence":
            raise ValueError(f"--lang_balanced_per_language needs --iterator_type sequence, got '{iterator_type}'")
        if mode == "train":
            cls.check_sampling_args(args)
        return super().build_iter_factory(args, distributed_option, mode, kwargs)

    @classmethod
    def build_sequence_iter_factory(cls, args: argparse.Namespace, iter_options: IteratorOptions,
                                    mode: str) -> AbsIterFactory:
        if mode != "train" or getattr(args, "lang_balanced_per_language", None) is None:
            return super().build_sequence_iter_factory(args, iter_options, mode)
        return cls._build_lang_balanced_iter_factory(args, iter_options)

    @classmethod
    def _build_lang_balanced_iter_factory(cls, args: argparse.Namespace,
                                          iter_options: IteratorOptions) -> AbsIterFactory:
        from espnet_ext.samplers.language_balanced_batch_sampler import LanguageBalancedBatchSampler

        lang_files = [path for path, name, _ in iter_options.data_path_and_name_and_type if name == LANG_DATA_NAME]
        if not lang_files:
            raise ValueError("--lang_balanced_per_language needs the language of every training utterance: add "
                             f"--train_data_path_and_name_and_type <dir>/utt2lid,{LANG_DATA_NAME},text_int")
        languages = (args.model_conf or {}).get("languages")
        if not languages:
            raise ValueError("--lang_balanced_per_language needs model_conf.languages (the language inventory)")
        if args.shuffle_within_batch:
            raise ValueError("--shuffle_within_batch would mix the balanced batches; disable it with "
                             "--lang_balanced_per_language")
        keys = None
        if iter_options.shape_files:
            with open(iter_options.shape_files[0], encoding="utf-8") as f:
                keys = [line.split(maxsplit=1)[0] for line in f if line.strip()]
        if iter_options.distributed:
            world_size, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
        else:
            world_size, rank = 1, 0

        layout = args.lang_balanced_layout
        num_iters = iter_options.num_iters_per_epoch
        if layout == "grouped" and num_iters and num_iters % args.accum_grad:
            raise ValueError(f"--num_iters_per_epoch ({num_iters}) must be a multiple of accum_grad "
                             f"({args.accum_grad}) with --lang_balanced_layout grouped")
        sampler = LanguageBalancedBatchSampler(
            lang_files[0], languages, args.lang_balanced_per_language, layout=layout,
            epoch=args.lang_balanced_epoch, keys=keys, seed=args.seed, rank=rank, world_size=world_size,
            accum_grad=args.accum_grad, alpha=getattr(args, "lang_balanced_alpha", 0.0),
            alpha_end=getattr(args, "lang_balanced_alpha_end", None),
            alpha_schedule=getattr(args, "lang_balanced_alpha_schedule", "constant"),
            max_epoch=getattr(args, "max_epoch", None), num_iters_per_epoch=num_iters)

        dataset = cls.build_dataset(args, iter_options)  # every key: epochs draw different utterances
        return SequenceIterFactory(
            dataset=dataset, batches=sampler, seed=args.seed, num_iters_per_epoch=iter_options.num_iters_per_epoch,
            # The sampler already randomises; a grouped layout must keep its cycles aligned with accum_grad.
            shuffle=layout == "mixed", shuffle_within_batch=False, num_workers=args.num_workers,
            collate_fn=iter_options.collate_fn, pin_memory=args.ngpu > 0,
        )
