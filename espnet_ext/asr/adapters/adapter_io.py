"""Adapter-only training and adapter weights on their own (A2 Dual-Adapters, eq. 4).

Adapters are found by type, never by parameter-name search: every :class:`DualAdapter` in the model is a
container of named adapters — one per language (or language group) and ``common`` — and
``DualAdapter.named_adapter_parameters(name)`` lists exactly one adapter's parameters.  An adapter
*selection* is a list of those names (``["sv"]``, ``["sv", "common"]``) or ``["all"]``.

Typical use: add a language to a trained model.  Train with the grown inventory, ``--init_param`` the
trained model (the new language's adapters are absent from it and start as the identity) and
``--train_adapters_only <new language>``; the shared model stays frozen.  ``save_adapters`` /
``load_adapters`` move the adapter weights alone between models of the same architecture
(see docs/adapters_and_sampling.md and ``espnet_ext.bin.adapter_tool``).
"""

from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch

from espnet_ext.asr.adapters.dual_adapter import DualAdapter
from espnet_ext.checkpoint_io import save_atomic

ALL = "all"
FORMAT = "espnet_ext.adapters"
FORMAT_VERSION = 1


def dual_adapters(model: torch.nn.Module) -> Dict[str, DualAdapter]:
    """{module name: DualAdapter} of every Dual-Adapter in ``model`` (in module order)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, DualAdapter)}


def adapter_names(model: torch.nn.Module) -> List[str]:
    """Every adapter name present in ``model`` (language codes / group names and ``common``)."""
    names: List[str] = []
    for module in dual_adapters(model).values():
        names.extend(n for n in module.adapter_names() if n not in names)
    return names


def _resolve(model: torch.nn.Module, selection: Optional[Sequence[str]]) -> List[str]:
    available = adapter_names(model)
    if not available:
        raise ValueError("the model has no Dual-Adapters (use the adapter_transformer encoder or decoder)")
    if selection is None or list(selection) == [ALL]:
        return available
    unknown = [n for n in selection if n not in available]
    if unknown:
        raise ValueError(f"adapter names {unknown} match no adapter of the model; its adapters are {available}"
                         f" (or '{ALL}')")
    return list(dict.fromkeys(selection))


def named_adapter_parameters(model: torch.nn.Module, selection: Optional[Sequence[str]] = None
                             ) -> Iterator[Tuple[str, torch.nn.Parameter]]:
    """(full parameter name, parameter) of the selected adapters in every Dual-Adapter of ``model``.

    Args:
        selection: adapter names (language codes / group names / ``common``), ``["all"]`` or None (all).
    """
    names = _resolve(model, selection)
    for prefix, module in dual_adapters(model).items():
        for name in names:
            if name in module.adapter_names():
                for pname, p in module.named_adapter_parameters(name):
                    yield f"{prefix}.{pname}", p


def train_only_adapters(model: torch.nn.Module, selection: Optional[Sequence[str]] = None) -> List[str]:
    """Freeze every parameter except those of the selected adapters; returns the trainable names."""
    trainable = dict(named_adapter_parameters(model, selection))
    keep = {id(p) for p in trainable.values()}
    for p in model.parameters():
        p.requires_grad = id(p) in keep
    return list(trainable)


def adapter_state_dict(model: torch.nn.Module, selection: Optional[Sequence[str]] = None
                       ) -> Dict[str, torch.Tensor]:
    """The selected adapters' weights, keyed by their names in ``model.state_dict()``."""
    return {name: p.detach().cpu().clone() for name, p in named_adapter_parameters(model, selection)}


def save_adapters(model: torch.nn.Module, path: Union[str, Path], selection: Optional[Sequence[str]] = None
                  ) -> List[str]:
    """Write the selected adapters' weights (only) to ``path``; returns the saved parameter names."""
    state = adapter_state_dict(model, selection)
    save_atomic({"format": FORMAT, "version": FORMAT_VERSION, "adapters": _resolve(model, selection),
                 "state_dict": state}, path)
    return list(state)


def load_adapters(model: torch.nn.Module, path: Union[str, Path], strict: bool = True) -> List[str]:
    """Copy adapter weights saved by :func:`save_adapters` into ``model``; returns the loaded names.

    Raises:
        ValueError: not an adapter file; a saved parameter the model lacks or with another shape; with
            ``strict``, a parameter of a saved adapter that the file lacks.
    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not an espnet_ext adapter file (written by save_adapters)")
    if blob.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: adapter file version {blob.get('version')}, expected {FORMAT_VERSION}")
    saved: Dict[str, torch.Tensor] = blob["state_dict"]
    unknown = [n for n in blob["adapters"] if n not in adapter_names(model)]
    if unknown:
        raise ValueError(f"{path}: adapters {unknown} do not exist in the model (adapters {adapter_names(model)});"
                         " build the model with the same languages / groups")
    targets = dict(named_adapter_parameters(model, blob["adapters"]))
    for name, value in saved.items():
        if name not in targets:
            raise ValueError(f"{path}: parameter '{name}' is not an adapter parameter of the model")
        if targets[name].shape != value.shape:
            raise ValueError(f"{path}: '{name}' has shape {tuple(value.shape)}, the model's has "
                             f"{tuple(targets[name].shape)} (different size or bottleneck)")
    if strict:
        missing = sorted(set(targets) - set(saved))
        if missing:
            raise ValueError(f"{path}: lacks {len(missing)} parameters of the saved adapters, e.g. '{missing[0]}'")
    with torch.no_grad():
        for name, value in saved.items():
            targets[name].copy_(value.to(targets[name].device, targets[name].dtype))
    return list(saved)
