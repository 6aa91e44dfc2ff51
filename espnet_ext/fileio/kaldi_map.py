"""Kaldi text maps: files of ``key value...`` lines (``wav.scp``, ``text``, ``utt2spk``, ``utt2lang``, ...).

One reader and one writer for every such file the recipes, CLIs and libraries touch, so that they all agree on
what a line is (the key ends at the first space or tab, as in Kaldi), on the order (Kaldi's C-locale order) and
on the errors, which name file, line and key.  Data-dir checks built on these live in
:mod:`espnet_ext.dataprep.datadir`; this module imports nothing else of espnet_ext, so any package can use it.
"""

import logging
import re
from pathlib import Path
from typing import Dict

logger = logging.getLogger(__name__)


class DataDirError(ValueError):
    """A Kaldi text map or data directory that the recipe cannot use; the message names file, line and utterance.

    Raised by :func:`read_kaldi_map` and by the data-dir checks of :mod:`espnet_ext.dataprep.datadir`, which
    re-exports it: one class, so ``except DataDirError`` catches both."""


UTF8_BOM = b"\xef\xbb\xbf"
# Kaldi splits a line at the first run of ASCII blanks: "utt value" and "utt<TAB>value" are the same line.
_LINE = re.compile(r"([^ \t]*)[ \t]*(.*)$", re.DOTALL)


def _decode_line(path: Path, lineno: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        key = _LINE.match(raw.decode("utf-8", errors="replace")).group(1)
        raise DataDirError(f"{path} line {lineno} ({key}): not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                           f"{e.start + 1}); re-encode the file as UTF-8") from None


def read_kaldi_map(path: Path, allow_empty_value: bool = False, require_sorted: bool = False) -> Dict[str, str]:
    """Read ``key value...`` lines in order; reject duplicates and (unless allowed) empty values.

    The key ends at the first space or tab (as in Kaldi). A UTF-8 byte-order mark at the start of the file
    is dropped with a warning; a line that is not UTF-8 is an error naming file, line and utterance.
    With ``require_sorted``, a key smaller than the one before it (Kaldi's C-locale order, which for UTF-8
    is Python's string order) is an error naming the first such line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: file not found")
    out: Dict[str, str] = {}
    prev_key, prev_lineno = None, 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(UTF8_BOM):
                logger.warning("%s: starts with a UTF-8 byte-order mark; ignoring it (the data-dir copies stage 2 "
                               "writes have none)", path)
                raw = raw[len(UTF8_BOM):]
            line = _decode_line(path, lineno, raw).rstrip("\r\n")
            if not line.strip():
                raise DataDirError(f"{path}:{lineno}: blank line")
            key, value = _LINE.match(line).groups()
            value = value.strip()
            if key in out:
                raise DataDirError(f"{path}:{lineno}: duplicate key '{key}'")
            if require_sorted and prev_key is not None and key < prev_key:
                raise DataDirError(
                    f"{path}:{lineno}: not sorted: key '{key}' comes after '{prev_key}' (line {prev_lineno}); "
                    f"sort the file by key in the C locale: LC_ALL=C sort -o {path} {path}")
            if not value and not allow_empty_value:
                raise DataDirError(f"{path}:{lineno}: utterance '{key}' has an empty value")
            out[key] = value
            prev_key, prev_lineno = key, lineno
    return out


def write_kaldi_map(path: Path, mapping: Dict[str, str]) -> None:
    """Write ``key value`` lines sorted by key (Kaldi's C-locale order) atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for key in sorted(mapping):
            f.write(f"{key} {mapping[key]}\n")
    tmp.replace(path)
