"""Checkpoint files that a kill cannot leave half-written, and a resume that names a damaged one.

* :func:`save_atomic`: ``torch.save`` into a temporary file of the same directory, flushed to disk, then
  ``os.replace`` onto the target: a reader sees the old file or the complete new one, never a prefix.
  Every model/checkpoint espnet_ext itself writes goes through it.
* :func:`check_resume_checkpoint`: ESPnet's ``Trainer`` writes ``checkpoint.pth`` in place (not atomic; that
  code is ESPnet's), so a job killed while saving leaves a truncated file, and ``--resume true`` then fails
  in ``torch.load`` with an unpickling / zip error that names no file. The ASR tasks call this before
  training starts, so the error names the file and says what to do.
"""

import os
import zipfile
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]


class CorruptCheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file and the way out."""


def save_atomic(obj, path: PathLike) -> None:
    """``torch.save(obj, path)`` that replaces ``path`` only once the new file is complete on disk."""
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _last_epoch_model(output_dir: Path) -> Optional[Path]:
    epochs = [(int(p.name[:-len("epoch.pth")]), p) for p in output_dir.glob("*epoch.pth")
              if p.name[:-len("epoch.pth")].isdigit()]
    return max(epochs)[1] if epochs else None


def _damage(path: Path) -> Optional[str]:
    """Why ``path`` cannot be a complete ``torch.save`` file, or None when it looks whole."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":  # torch's zip format (every torch.save since PyTorch 1.6)
        # The zip directory is written last: a file cut short anywhere lacks it or points past the end.
        try:
            with zipfile.ZipFile(path) as z:
                infos = z.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            return f"not a complete zip archive ({e})"
        if not any(i.filename.endswith("data.pkl") for i in infos):
            return "no data.pkl record in the archive"
        if any(i.header_offset + i.compress_size > size for i in infos):
            return "a record extends past the end of the file"
        return None
    import torch  # the legacy (pre-zip) format has no directory to check: load it

    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001  (any failure to load is the damage to report)
        return f"torch.load failed: {type(e).__name__}: {e}"
    return None


def check_resume_checkpoint(path: PathLike) -> None:
    """Raise :class:`CorruptCheckpointError` naming ``path`` if it exists but cannot be a whole checkpoint."""
    path = Path(path)
    if not path.is_file():
        return
    damage = _damage(path)
    if damage is None:
        return
    last = _last_epoch_model(path.parent)
    keep = (f"; or, to keep the weights of the last finished epoch, delete it and add --init_param {last} "
            f"(the epoch count and optimizer state then start afresh)") if last else ""
    raise CorruptCheckpointError(
        f"{path} is truncated or corrupt (killed while saving?): {damage}. ESPnet resumes only from this file: "
        f"delete it to restart training from epoch 1{keep}")
