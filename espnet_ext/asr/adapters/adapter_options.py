"""The adapter options of an encoder or decoder conf (``adapter_*``), read and checked in one place.

The adapter transformer encoder and decoder and the pretrained-LM decoder put a Dual-Adapter (A2 Sec. 2.4,
eq. 4) into every layer and take the same options for it, under the same config keys: ``languages`` (the
inventory, copied from ``model_conf.languages``) and ``adapter_<x>`` for ``x`` in ``mode``, ``bottleneck``,
``groups``, ``bottleneck_per_language`` and ``residual``.  Conf key ``adapter_<x>`` is field ``x`` of
:class:`AdapterOptions` and argument ``x`` of ``DualAdapter``.

The classes keep these as explicit constructor arguments rather than one nested option: ESPnet builds
each class from its flat conf dict and lists its signature with ``--print_config``, ``MultilingualASRTask``
copies ``languages`` into every conf whose class takes it (found by signature), and shipped YAMLs and the
config.yaml of trained models use the flat keys.  What they share: gather the keys into
:class:`AdapterOptions` (which checks the language inventory) and build each layer's adapter with
:meth:`AdapterOptions.new_adapter`.  Everything else about the options (modes, groups, bottleneck keys) is
checked by ``DualAdapter`` itself, the one place that knows what they mean.
"""

from dataclasses import dataclass, replace
from typing import Dict, List, Optional

from espnet_ext.asr.adapters.dual_adapter import DualAdapter
from espnet_ext.asr.language_conditioning import require_languages


@dataclass(frozen=True)
class AdapterOptions:
    """The Dual-Adapter options of one encoder / decoder (see the module docstring for their conf keys).

    The fields are ``DualAdapter``'s arguments of the same names and mean what its docstring says there
    (modes, A2 Table 11 groups, per-adapter bottlenecks, residual); ``languages`` is the model's inventory.
    """

    languages: List[str]
    mode: str = "dual"
    bottleneck: int = 64
    groups: Optional[Dict[str, str]] = None
    bottleneck_per_language: Optional[Dict[str, int]] = None
    residual: str = "single"

    @classmethod
    def from_conf(cls, conf_key: str, languages: Optional[List[str]], adapter_mode: Optional[str],
                  adapter_bottleneck: int, adapter_groups: Optional[Dict[str, str]],
                  adapter_bottleneck_per_language: Optional[Dict[str, int]],
                  adapter_residual: str) -> Optional["AdapterOptions"]:
        """The options given under ``conf_key`` (``encoder_conf`` / ``decoder_conf``); None without adapters.

        ``adapter_mode`` None means no adapters (the pretrained-LM decoder's default): ``languages`` is then
        not needed.  Called before the layers are built, so a missing inventory fails before any work.
        """
        if adapter_mode is None:
            return None
        return cls(require_languages(conf_key, languages), adapter_mode, adapter_bottleneck, adapter_groups,
                   adapter_bottleneck_per_language, adapter_residual)

    def new_adapter(self, size: int) -> DualAdapter:
        """A fresh Dual-Adapter (eq. 4) for one layer of width ``size``; every layer gets its own."""
        return DualAdapter(size, self.languages, bottleneck=self.bottleneck, mode=self.mode, groups=self.groups,
                           bottleneck_per_language=self.bottleneck_per_language, residual=self.residual)

    def common_only(self) -> "AdapterOptions":
        """These options with the common adapter alone (mode ``common``, the same bottleneck and residual): a
        layer without language-specific adapters (``encoder_conf.adapter_common_layers``)."""
        return replace(self, mode="common", groups=None, bottleneck_per_language=None)
