"""The one place where espnet_ext classes enter ESPnet's class choices.

ESPnet 202511 has no plugin registry: ``ASRTask.build_model`` looks classes up in module-level
``ClassChoices`` objects of ``espnet2.tasks.asr`` (and ``espnet2.tasks.lm`` for language models),
whose ``classes`` dict is read whenever a parser is built.  Adding entries there before any parser is
built makes a name usable from YAML, from the command line and from ``build_model_from_file``.

``ClassChoices`` checks base classes only in its constructor, so :func:`register` does its own check.
Registration is idempotent for the *same* class (a module imported twice, e.g. in a spawned DDP
worker that re-imports ``espnet_ext``) and refuses a *different* class under a taken name.

The plugin table :data:`PLUGINS` names every espnet_ext class by import path.  ``import espnet_ext``
calls :func:`install`: the plugins of a kind are registered as soon as the ESPnet module holding that
kind's choices has executed — at once if it is already imported, otherwise by an import hook that fires
when it finishes loading.  No parser or ``build_model`` can run before that module exists, so every
entry point (including spawned DDP workers and ``build_model_from_file``) sees the plugins, while the
data-prep tools do not pay ESPnet's ~20 s import time.
"""

import contextlib
import importlib
import importlib.util
import re
import sys
import threading
from typing import Dict, Iterator, Optional, Tuple

_KIND_TO_CHOICES = {
    # kind: (module holding the ClassChoices, attribute name, dotted path of the required base class)
    "asr.frontend": ("espnet2.tasks.asr", "frontend_choices", "espnet2.asr.frontend.abs_frontend.AbsFrontend"),
    "asr.normalize": ("espnet2.tasks.asr", "normalize_choices", "espnet2.layers.abs_normalize.AbsNormalize"),
    "asr.encoder": ("espnet2.tasks.asr", "encoder_choices", "espnet2.asr.encoder.abs_encoder.AbsEncoder"),
    "asr.decoder": ("espnet2.tasks.asr", "decoder_choices", "espnet2.asr.decoder.abs_decoder.AbsDecoder"),
    "asr.model": ("espnet2.tasks.asr", "model_choices", "espnet2.asr.espnet_model.ESPnetASRModel"),
    "asr.specaug": ("espnet2.tasks.asr", "specaug_choices", "espnet2.asr.specaug.abs_specaug.AbsSpecAug"),
    "lm.lm": ("espnet2.tasks.lm", "lm_choices", "espnet2.lm.abs_model.AbsLM"),
}

# Every espnet_ext plugin: (kind, name used in YAML, "module:ClassName").  Later features add rows here.
PLUGINS: Tuple[Tuple[str, str, str], ...] = (
    ("asr.model", "multilingual", "espnet_ext.asr.multilingual_model:MultilingualASRModel"),
    ("asr.encoder", "adapter_transformer", "espnet_ext.asr.encoder.adapter_transformer_encoder:AdapterTransformerEncoder"),
    ("asr.encoder", "lid_transformer", "espnet_ext.asr.encoder.lid_transformer_encoder:LIDTransformerEncoder"),
    ("asr.decoder", "adapter_transformer", "espnet_ext.asr.decoder.adapter_transformer_decoder:AdapterTransformerDecoder"),
    ("asr.model", "logit_adjusted", "espnet_ext.asr.logit_adjusted_model:LogitAdjustedASRModel"),
    ("asr.encoder", "vgg_transformer", "espnet_ext.asr.encoder.vgg_transformer_encoder:VGGTransformerEncoder"),
    ("asr.decoder", "pretrained_lm", "espnet_ext.asr.decoder.pretrained_lm_decoder:PretrainedLMDecoder"),
    ("asr.frontend", "stage2_fbank", "espnet_ext.asr.frontend.stage2_fbank_frontend:Stage2FbankFrontend"),
    ("asr.specaug", "mel_warp", "espnet_ext.asr.specaug.mel_warp_specaug:MelWarpSpecAug"),
)


def _import_attr(dotted: str):
    module, _, attr = dotted.replace(":", ".").rpartition(".")
    return getattr(importlib.import_module(module), attr)


def choices_for(kind: str):
    """The ESPnet ``ClassChoices`` object that holds classes of ``kind``."""
    if kind not in _KIND_TO_CHOICES:
        raise ValueError(f"Unknown plugin kind '{kind}'; known kinds: {sorted(_KIND_TO_CHOICES)}")
    module, attr, _ = _KIND_TO_CHOICES[kind]
    return getattr(importlib.import_module(module), attr)


def base_class_for(kind: str) -> type:
    choices_for(kind)  # validates kind
    return _import_attr(_KIND_TO_CHOICES[kind][2])


def _same_class(a: type, b: type) -> bool:
    # A module re-executed (importlib.reload, or a second import path) yields a new class object with
    # the same qualified name: that is the same plugin, not a clash.
    return a is b or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def register(kind: str, name: str, cls: type) -> None:
    """Make ``cls`` selectable as ``name`` wherever ESPnet chooses a class of ``kind``.

    Raises:
        ValueError: unknown kind, or ``name`` already taken by a different class.
        TypeError: ``cls`` is not a subclass of the base class ESPnet requires for ``kind``.
    """
    choices = choices_for(kind)
    base = base_class_for(kind)
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise TypeError(
            f"Cannot register {cls!r} as {kind} '{name}': it must subclass {base.__module__}.{base.__qualname__}"
        )
    key = name.lower()  # ClassChoices lower-cases the user's value before lookup
    existing = choices.classes.get(key)
    if existing is not None:
        if _same_class(existing, cls):
            choices.classes[key] = cls
            return
        raise ValueError(
            f"Duplicate {kind} name '{name}': already registered to "
            f"{existing.__module__}.{existing.__qualname__}, refusing {cls.__module__}.{cls.__qualname__}"
        )
    choices.classes[key] = cls


def registered(kind: str) -> Dict[str, type]:
    """A copy of the name -> class table ESPnet uses for ``kind``."""
    return dict(choices_for(kind).classes)


def register_all() -> None:
    """Import ESPnet's task modules and register every row of :data:`PLUGINS` (idempotent)."""
    for kind, name, path in PLUGINS:
        register(kind, name, _import_attr(path))


def _register_module_kinds(module_name: str) -> None:
    for kind, name, path in PLUGINS:
        if _KIND_TO_CHOICES[kind][0] == module_name:
            register(kind, name, _import_attr(path))


class _RegisterAfterImport:
    """Wraps the loader of ESPnet's task modules so registration runs right after they execute.

    A meta-path finder and its loader need only ``find_spec`` / ``create_module`` + ``exec_module``; they do not
    subclass importlib.abc, whose import (importlib.resources) would cost every espnet_ext command ~25 ms."""

    def __init__(self, module_names):
        self.pending = set(module_names)
        self._busy = threading.local()

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.pending or getattr(self._busy, "active", False):
            return None
        self._busy.active = True
        try:
            spec = importlib.util.find_spec(fullname)  # the normal finders' answer
        finally:
            self._busy.active = False
        if spec is None or spec.loader is None:
            return spec
        loader, finder = spec.loader, self

        class _Loader:
            def create_module(self, spec_):
                return loader.create_module(spec_)

            def exec_module(self, module):
                loader.exec_module(module)
                finder.pending.discard(fullname)
                _register_module_kinds(fullname)

        spec.loader = _Loader()
        return spec


def install() -> None:
    """Register plugins for every ESPnet task module already imported; hook the others (idempotent)."""
    modules = sorted({m for m, _, _ in _KIND_TO_CHOICES.values()})
    waiting = []
    for module_name in modules:
        if module_name in sys.modules:
            _register_module_kinds(module_name)
        else:
            waiting.append(module_name)
    if waiting and not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport(waiting))


# ESPnet's ClassChoices.get_class: "--encoder must be one of ('a', 'b'): --encoder name".
_UNKNOWN_CHOICE = re.compile(r"--(\w+) must be one of .*: --\w+ (\S+)\s*$", re.DOTALL)
# The option under which a config names a class of each kind.
_KIND_OPTION = {"asr.frontend": "frontend", "asr.normalize": "normalize", "asr.encoder": "encoder",
                "asr.decoder": "decoder", "asr.model": "model", "asr.specaug": "specaug", "lm.lm": "lm"}


def plugin_hint(message: str) -> Optional[str]:
    """A hint for ESPnet's "--X must be one of ...: --X name" error when espnet_ext can explain it.

    * ``name`` is an espnet_ext class of that option that is not registered in this process: ESPnet was
      reached without ``import espnet_ext`` (say what to run instead);
    * ``name`` is an espnet_ext class of another option (e.g. a decoder given as ``encoder``);
    * otherwise, the espnet_ext classes of that option, if any.
    """
    m = _UNKNOWN_CHOICE.search(message)
    if m is None:
        return None
    option, name = m.group(1), m.group(2).lower()
    ours = [(kind, path) for kind, plugin, path in PLUGINS if plugin.lower() == name]
    same = [(kind, path) for kind, path in ours if _KIND_OPTION[kind] == option]
    if same:
        kind, path = same[0]
        return (f"'{name}' is espnet_ext's {option} class {path}, but espnet_ext's plugins are not registered "
                f"in this process. Run espnet_ext's entry points (python -m espnet_ext.bin.asr_train, "
                f"python -m espnet_ext.bin.asr_inference), or 'import espnet_ext' before ESPnet builds a parser "
                f"or model (e.g. before Speech2Text); python -m espnet2.bin.* alone never loads espnet_ext "
                f"(docs/reliability.md)")
    if ours:
        kind, path = ours[0]
        return (f"'{name}' is an espnet_ext {_KIND_OPTION[kind]} class ({path}), not a choice for --{option}: "
                f"give it as '{_KIND_OPTION[kind]}: {name}' in the config")
    names = sorted(plugin for kind, plugin, _ in PLUGINS if _KIND_OPTION[kind] == option)
    if names:
        return f"espnet_ext adds these {option} classes: {', '.join(names)}"
    return None


@contextlib.contextmanager
def explain_unknown_class() -> Iterator[None]:
    """Re-raise ESPnet's unknown-class ``ValueError`` with :func:`plugin_hint`'s hint appended."""
    try:
        yield
    except ValueError as e:
        hint = plugin_hint(str(e))
        if hint is None:
            raise
        raise ValueError(f"{e}\nHint: {hint}") from e
