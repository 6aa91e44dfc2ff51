"""Completion markers that record what produced a stage's output, so a re-run never trusts stale work.

A stage's output dir holds a marker file (``.done``) whose JSON records a *fingerprint*: a flat map from
input names to digests — ``file:<name>`` the sha256 of an input file ("missing" when absent),
``yaml:<name>`` beside it for a YAML input (``.yaml`` / ``.yml``) the sha256 of its parsed content,
``option:<name>`` an option's value as given, ``code`` the digest of the Python modules that do the
stage's work plus the espnet_ext version.  A re-run skips the stage only when the fingerprint it would
record now equals the recorded one; otherwise it names what changed and redoes the stage.

A YAML input counts by what it says, not how it is written: when the recorded and the current ``yaml:<name>``
agree, a different ``file:<name>`` is not a change, so an edited comment, blank line or quoting style of a
training config neither redoes nor refuses to resume a run. A marker made before ``yaml:`` entries existed has
only the bytes, which then decide as before.

Upstream stages are covered by naming their markers as input files: stage 5's fingerprint holds the
digest of stage 4's ``.done``, which holds the digest of stage 3's, and so on, so a change anywhere
upstream reaches every stage below it while each stage reads only a few small files (the features
themselves are never hashed; stage 2's marker digests the data dir they were made from).

Markers are written by rename, never in place: a killed stage leaves no marker a re-run would trust.
"""

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Union

DONE_MARKER = ".done"
MISSING = "missing"
NO_FINGERPRINT = "its completion marker records no input fingerprint (made by an older espnet_ext)"
PathLike = Union[str, Path]


def file_digest(path: PathLike) -> str:
    """sha256 of a file's bytes, read in blocks (model files may be large); ``"missing"`` if absent."""
    path = Path(path)
    if not path.is_file():
        return MISSING
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_digest(modules: Iterable[str]) -> str:
    """Digest of the source of the named modules (e.g. ``espnet_ext.bin.asr_train``) and the package version.

    Only the modules a stage names count: an edit to one of them redoes the stage, an edit elsewhere in
    the package does not (docs/reliability.md says why)."""
    from espnet_ext import __version__

    digest = hashlib.sha256(f"espnet_ext {__version__}\n".encode())
    for name in sorted(set(modules)):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            raise ValueError(f"code module '{name}' not found (a stage names a module that does not exist)")
        digest.update(f"{name}\n".encode())
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()


YAML_SUFFIXES = (".yaml", ".yml")


def yaml_digest(path: PathLike) -> Optional[str]:
    """sha256 of a YAML file's parsed content (``yaml.safe_load``, as ESPnet reads configs), re-serialised with
    its keys in their written order; None when the file is absent or does not parse (its bytes then decide).

    Comments, blank lines, indentation and quoting do not reach the digest; a value, a type (``1`` / ``"1"``),
    a key or the keys' order does (the order is kept: conservative, a reordering redoes the stage)."""
    import yaml  # only stages with a YAML input pay for the import

    path = Path(path)
    if not path.is_file():
        return None
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        canonical = yaml.safe_dump(content, sort_keys=False, default_flow_style=True, allow_unicode=True, width=1 << 30)
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fingerprint(files: Mapping[str, PathLike] = None, options: Mapping[str, str] = None,
                code: Iterable[str] = ()) -> Dict[str, str]:
    """The fingerprint of a stage run from these input files, option values and code modules."""
    result = {f"file:{name}": file_digest(path) for name, path in (files or {}).items()}
    for name, path in (files or {}).items():
        if Path(path).suffix.lower() in YAML_SUFFIXES:
            content = yaml_digest(path)
            if content is not None:
                result[f"yaml:{name}"] = content
    result.update({f"option:{name}": str(value) for name, value in (options or {}).items()})
    modules = list(code)
    if modules:
        result["code"] = code_digest(modules)
    return result


def read_marker(marker: PathLike) -> Optional[Dict[str, str]]:
    """The fingerprint recorded in ``marker``; None when it records none (an older, empty marker)."""
    try:
        recorded = json.loads(Path(marker).read_text(encoding="utf-8"))["inputs"]
    except (ValueError, KeyError, TypeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def stale_reason(marker: PathLike, current: Mapping[str, str]) -> Optional[str]:
    """Why the output of ``marker``'s stage must be (re)done, or None when it was made from ``current``."""
    marker = Path(marker)
    if not marker.is_file():
        return "it has no completion marker"
    recorded = read_marker(marker)
    if recorded is None:
        return NO_FINGERPRINT
    return changes_since(recorded, current)


def changes_since(recorded: Mapping[str, str], current: Mapping[str, str]) -> Optional[str]:
    """What differs between a recorded fingerprint and ``current`` (None when nothing does)."""
    changes = []
    for name in sorted(set(current) | set(recorded)):
        before, now = recorded.get(name), current.get(name)
        if before == now:
            continue
        if name.startswith("yaml:"):  # never reported itself: it only excuses a file:<name> change (below)
            continue
        if name.startswith("file:") and _same_yaml(recorded, current, name[5:]):
            continue  # a YAML file rewritten without changing what it says (comments, layout)
        if name.startswith("option:"):
            changes.append(f"option {name[7:]} changed ('{before}' -> '{now}')" if before is not None
                           else f"option {name[7:]} is new ('{now}')")
        elif name.startswith("file:"):
            changes.append(f"{name[5:]} changed")
        elif name == "code":
            changes.append("the stage's code changed")
        else:
            changes.append(f"{name} changed")
    return "; ".join(changes) + " since it was made" if changes else None


def _same_yaml(recorded: Mapping[str, str], current: Mapping[str, str], name: str) -> bool:
    before, now = recorded.get("yaml:" + name), current.get("yaml:" + name)
    return before is not None and before == now


def write_marker(marker: PathLike, current: Mapping[str, str], extra: Mapping[str, object] = None) -> None:
    """Record ``current`` in ``marker`` atomically (write a sibling temporary file, then rename).

    ``extra``: further top-level JSON entries beside ``inputs`` (what a builder returns on a skipped re-run,
    e.g. its statistics); readers of the fingerprint ignore them."""
    marker = Path(marker)
    payload = dict(extra or {})
    if "inputs" in payload:
        raise ValueError("extra marker entries cannot be named 'inputs' (that is the fingerprint)")
    payload["inputs"] = dict(current)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{marker.name}.tmp.{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, marker)
