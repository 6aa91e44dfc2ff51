"""Wrapping the layers of a built ESPnet transformer in place: how language conditioning gets into a layer.

The adapter transformer encoder and decoder (A2 eqs. 13 and 16) and the LID encoder let ESPnet's
``TransformerEncoder`` / ``TransformerDecoder`` build everything, then replace every layer by a subclass of
ESPnet's own layer class that takes over the built layer's sub-modules and adds one module (a Dual-Adapter,
a language vector).  Taking over rather than copying keeps ESPnet's parameter names: a stock transformer
checkpoint loads into the wrapped model (the added modules are missing keys), and a model trained with
these wrappers keeps its state_dict keys whatever the wrapper looks like.
"""

from typing import Callable

import torch
from espnet.nets.pytorch_backend.transformer.encoder_layer import EncoderLayer


def wrap_layers(layers: torch.nn.Module, wrap: Callable[[torch.nn.Module], torch.nn.Module]) -> None:
    """Replace each layer of ``layers`` (ESPnet's ``MultiSequential``, or a ``ModuleList``) by ``wrap(layer)``.

    In place, not into a new container: ``MultiSequential`` carries ESPnet's layer drop, and every wrapped
    layer keeps its index, so its parameters keep their names (``encoders.<i>.``, ``decoders.<i>.``).
    Layers are wrapped first to last, one at a time; ``wrap`` may build new modules (adapters) from the
    global RNG, and this order is what a fixed seed has always reproduced.
    """
    for i, layer in enumerate(layers):
        layers[i] = wrap(layer)


def adopt_submodules(wrapper: torch.nn.Module, layer: torch.nn.Module) -> None:
    """Make ``wrapper`` (an instance of ``layer``'s class, or a subclass) use ``layer``'s sub-modules.

    ESPnet's layer constructors take the attention and feed-forward modules but build their LayerNorms and
    concat-after projections themselves; every child of ``layer`` replaces the wrapper's child of the same
    name (which keeps its place, so the state_dict order is unchanged).  Children that ``layer`` has and
    the wrapper's constructor did not build would be added, so nothing of ``layer`` is lost.
    """
    for name, child in layer.named_children():
        setattr(wrapper, name, child)


class WrappedEncoderLayer(EncoderLayer):
    """An ESPnet ``EncoderLayer`` made from a built one (its sub-modules and settings); subclasses add to it.

    Args:
        layer: the layer built by ESPnet's ``TransformerEncoder``.
    """

    def __init__(self, layer: EncoderLayer):
        # EncoderLayer.__init__ builds throw-away LayerNorms (and a concat-after Linear, which draws from the
        # RNG); it is called all the same so that a fixed seed initialises every later module as before.
        super().__init__(layer.size, layer.self_attn, layer.feed_forward, layer.dropout.p,
                         layer.normalize_before, layer.concat_after, layer.stochastic_depth_rate)
        adopt_submodules(self, layer)
