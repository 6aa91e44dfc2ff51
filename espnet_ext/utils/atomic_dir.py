"""Output directories that appear whole or not at all, with a completion marker saying what made them.

Every builder of a directory (feature extraction, the corpus builders, the corpus preparers, the text-source
caches) follows the same steps, done here once:

    out = atomic_output_dir(out_dir, fingerprint(...))   # reads out_dir/.done; logs a skip or why it redoes
    if out.complete:
        return out.record["stats"]                       # what the marker recorded beside the fingerprint
    ...checks that need no output dir...
    with out as tmp:                                      # a fresh sibling dir .<name>.partial
        ...write everything into tmp...
        out.record["stats"] = stats                      # optional: kept in the marker for skipped re-runs
    # here out_dir is the new dir: tmp got its .done (written atomically), then replaced out_dir

* **Skip** only when ``out_dir/.done`` records the same fingerprint (:mod:`espnet_ext.utils.stage_marker`:
  a flat map of input names to values or digests); otherwise the log says what changed
  (``<dir> is out of date: option seed changed ('0' -> '1') since it was made; redoing it``).
* **Never half-done**: the output is written into ``.<name>.partial`` beside ``out_dir``; on success the
  marker is written into it and it is renamed over ``out_dir`` (the old dir is moved to ``.<name>.old`` first
  and removed after). An exception (or Ctrl-C) inside the ``with`` removes the partial dir and leaves the old
  ``out_dir`` as it was; a killed process leaves at most a ``.partial`` dir, which the next run removes.
  Paths written into the output (``wav.scp``, ``feats.scp``) must name the final ``out_dir``, not ``tmp``.
* **Not ours**: a non-empty ``out_dir`` without a marker, or with a marker another builder wrote (its
  fingerprint's ``builder`` entry differs, or an old-format marker ``legacy`` does not recognise), is refused
  (``foreign="refuse"``, the default) rather than deleted; ``foreign="replace"`` redoes it instead.
* **Markers of older versions**: ``legacy(marker_json)`` translates a marker written before this module
  (no ``inputs`` entry) into the fingerprint it stands for, so finished outputs are not redone.
"""

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

from espnet_ext.utils.stage_marker import DONE_MARKER, NO_FINGERPRINT, PathLike, changes_since, write_marker

logger = logging.getLogger(__name__)

DEFAULT_SKIP_LOG = "{dir} is complete; skipping (delete {marker} to redo)"
Legacy = Callable[[Any], Optional[Mapping[str, str]]]


class ForeignOutputDirError(RuntimeError):
    """``out_dir`` holds output this builder did not make: refused, not deleted (the message says what to do;
    the command-line tools print it as one ``ERROR:`` line, espnet_ext.utils.cli)."""


def options_fingerprint(builder: str, options: Mapping[str, Any]) -> Dict[str, str]:
    """Fingerprint of a builder run from option values: ``builder`` plus ``option:<name>`` entries
    (strings as they are, anything else as sorted JSON: ``30.0``, ``null``, ``["en", "zh"]``)."""
    fp = {"builder": builder}
    for name, value in options.items():
        fp[f"option:{name}"] = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                                                ensure_ascii=False)
    return fp


def partial_dir(out_dir: PathLike) -> Path:
    """Where the output of ``out_dir`` is written before it is renamed into place."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.partial"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


class AtomicOutputDir:
    """One build of an output dir (module docstring). Attributes: ``path`` (the output dir as given),
    ``marker``, ``tmp`` (the ``.partial`` dir), ``complete`` (its marker records this fingerprint),
    ``reason`` (why it is made again; None when it was complete or is new), ``record`` (when complete: the marker's
    JSON; when building: entries to write into the marker beside ``inputs``)."""

    def __init__(self, out_dir: PathLike, fingerprint: Mapping[str, str], foreign: str = "refuse",
                 legacy: Optional[Legacy] = None, skip_log: Optional[str] = DEFAULT_SKIP_LOG,
                 log: Optional[logging.Logger] = None):
        if foreign not in ("refuse", "replace"):
            raise ValueError(f"foreign must be 'refuse' or 'replace', got '{foreign}'")
        self.path = Path(out_dir)
        if self.path.name in ("", ".", ".."):
            raise ValueError(f"output dir '{out_dir}' has no name of its own; give a path ending in a new dir")
        self.marker = self.path / DONE_MARKER
        self.tmp = partial_dir(self.path)
        self._old = self.path.parent / f".{self.path.name}.old"
        self.fingerprint = dict(fingerprint)
        self.record: Dict[str, Any] = {}
        self.complete = False
        self.reason: Optional[str] = None
        self._foreign, self._log = foreign, log or logger
        self._check(legacy, skip_log)

    def _refuse(self, why: str) -> None:
        raise ForeignOutputDirError(f"{self.path} {why}; remove it or choose another --out_dir")

    def _check(self, legacy: Optional[Legacy], skip_log: Optional[str]) -> None:
        if not self.marker.is_file():
            if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
                if self._foreign == "refuse":
                    self._refuse(f"exists, is not empty and has no {DONE_MARKER} marker of this builder")
                self.reason = "it has no completion marker"
                self._log.info("%s is out of date: %s; redoing it", self.path, self.reason)
            return
        try:
            recorded_json = json.loads(self.marker.read_text(encoding="utf-8"))
        except ValueError:
            recorded_json = None
        if isinstance(recorded_json, dict) and isinstance(recorded_json.get("inputs"), dict):
            recorded = recorded_json["inputs"]
        elif recorded_json is not None and legacy is not None:
            try:
                recorded = legacy(recorded_json)
            except (KeyError, TypeError, AttributeError, ValueError):  # another layout: not this builder's
                recorded = None
        else:
            recorded = None
        if recorded is None:
            if self._foreign == "refuse":
                self._refuse(f"has a {DONE_MARKER} marker this builder did not write")
            self.reason = NO_FINGERPRINT
        else:
            builders = recorded.get("builder"), self.fingerprint.get("builder")
            if self._foreign == "refuse" and None not in builders and builders[0] != builders[1]:
                self._refuse(f"holds the output of {builders[0]}, not of {builders[1]}")
            self.reason = changes_since(recorded, self.fingerprint)
        if self.reason is None:
            self.complete = True
            self.record = recorded_json
            if skip_log:
                self._log.info(skip_log.format(dir=self.path, marker=self.marker))
        else:
            self._log.info("%s is out of date: %s; redoing it", self.path, self.reason)

    def __enter__(self) -> Path:
        if self.complete:
            raise RuntimeError(f"{self.path} is complete: check .complete before writing it again")
        _remove(self.tmp)  # what a killed run left
        self.tmp.mkdir(parents=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            _remove(self.tmp)
            return False
        try:
            write_marker(self.tmp / DONE_MARKER, self.fingerprint, self.record)
            _remove(self._old)
            if self.path.exists() or self.path.is_symlink():
                os.rename(self.path, self._old)
            os.rename(self.tmp, self.path)
        except BaseException:
            if not self.path.exists() and self._old.exists():
                os.rename(self._old, self.path)  # put the previous output back
            _remove(self.tmp)
            raise
        _remove(self._old)
        self.complete = True
        return False


def atomic_output_dir(out_dir: PathLike, fingerprint: Mapping[str, str], foreign: str = "refuse",
                      legacy: Optional[Legacy] = None, skip_log: Optional[str] = DEFAULT_SKIP_LOG,
                      log: Optional[logging.Logger] = None) -> AtomicOutputDir:
    """Check ``out_dir`` against ``fingerprint`` and prepare its atomic rebuild (module docstring).

    Args:
        out_dir: the output dir; its parent holds ``.<name>.partial`` while it is built.
        fingerprint: what the output is made from (:func:`espnet_ext.utils.stage_marker.fingerprint`,
            :func:`options_fingerprint`); recorded as the marker's ``inputs``.
        foreign: ``"refuse"`` (RuntimeError) or ``"replace"`` a dir that is not this builder's.
        legacy: translates an older marker format (parsed JSON) into its fingerprint; None = not ours.
        skip_log: the log line of a skip (``{dir}``, ``{marker}``); None logs nothing.
        log: the logger of the caller (its name shows in the log lines).
    """
    return AtomicOutputDir(out_dir, fingerprint, foreign, legacy, skip_log, log)
