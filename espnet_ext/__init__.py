"""espnet_ext: ESPnet 202511 plugins for long-tail multilingual (Adapt-and-Adjust) and code-switched
(meta-transfer) speech recognition.

Importing the package registers every plugin class into ESPnet's class choices (espnet_ext.registry):
at once when ESPnet's task modules are loaded, otherwise the moment they load.  ESPnet's own entry points
(``Speech2Text``, ``build_model_from_file``) and DDP worker processes, which import the package again,
find them; the data-prep tools, which never load ESPnet, start fast.
"""

from espnet_ext.registry import install

__version__ = "0.1.0"

install()
