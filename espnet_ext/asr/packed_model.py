"""Model archives: pack a trained model into one zip that decodes anywhere, and unpack it for ``Speech2Text``.

The library of ``python -m espnet_ext.bin.pack_model`` (which writes archives with :func:`pack`) and of
``espnet_ext.bin.transcribe`` (which reads them with :func:`load_packed`), so that the two agree on the format.

Why: an experiment dir's config.yaml points at files all over the recipe (token list, SentencePiece model,
CMVN stats of collect_stats or stage 2, token prior) by paths that only exist on the machine that trained
it.  Like egs2's packing stage, the archive holds those files at its root and the config names them by
paths relative to that root; :func:`load_packed` unpacks into a cache dir and writes them back as absolute
paths, so ``Speech2Text(asr_train_config=..., asr_model_file=...)`` (after ``import espnet_ext``) and
``python -m espnet_ext.bin.transcribe --model model.zip`` load it with nothing else around.

Archive contents:
    config.yaml            takes raw audio: frontend stage2_fbank with the stage-2 conf
                           (espnet_ext.asr.raw_audio_config)
    config_features.yaml   the training config as is (takes stage-2 features: dump/.../feats.scp)
    model.pth              the weights
    tokens.txt             the token list
    bpe.model              when the config names a SentencePiece model
    feats_stats.npz        when ``normalize: global_mvn``
    token_prior.txt        when ``model_conf.token_prior`` names an existing file (a logit-adjusted model
                           also keeps its prior in the weights, so a missing file is only a warning)
    meta.yaml              espnet_ext version, source, and which config keys hold archive paths
"""

import hashlib
import logging
import os
import shutil
import zipfile
from pathlib import Path
from typing import Dict, Optional, Tuple

import yaml

logger = logging.getLogger("espnet_ext.pack_model")

# (config key path, name inside the archive) of every file a config may point at.
FILE_KEYS: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    (("token_list",), "tokens.txt"),
    (("bpemodel",), "bpe.model"),
    (("normalize_conf", "stats_file"), "feats_stats.npz"),
    (("model_conf", "token_prior"), "token_prior.txt"),
)
CONFIGS = ("config.yaml", "config_features.yaml")
MODEL_NAME = "model.pth"
META_NAME = "meta.yaml"
_DONE = ".unpacked"


def _get(config: dict, keys):
    for k in keys[:-1]:
        config = config.get(k) or {}
    return config.get(keys[-1])


def _set(config: dict, keys, value) -> None:
    for k in keys[:-1]:
        if not isinstance(config.get(k), dict):
            config[k] = {}
        config = config[k]
    config[keys[-1]] = value


def _is_path(value) -> bool:
    return isinstance(value, str) and value.strip().lower() not in ("", "none", "null")


def _dump(config: dict) -> str:
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def pack(exp_dir, model_file: str, out, fbank_conf, config_name: str = "config.yaml") -> Path:
    """Write the archive ``out`` for ``exp_dir/model_file`` (see module docstring); returns its path."""
    from espnet_ext.asr.raw_audio_config import raw_audio_config
    from espnet_ext.dataprep.fbank import read_fbank_conf

    exp_dir, out = Path(exp_dir), Path(out)
    config_path, model_path = exp_dir / config_name, Path(model_file)
    if not model_path.is_absolute() and not model_path.is_file():
        model_path = exp_dir / model_path
    for path, what in ((config_path, "config"), (model_path, "model file")):
        if not path.is_file():
            raise FileNotFoundError(f"{what} {path} not found")
    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if config.get("input_size") is None and config.get("frontend") not in (None, "stage2_fbank"):
        raise ValueError(f"{config_path}: the model has its own frontend '{config['frontend']}'; pack_model packs "
                         "models trained on stage-2 features (input_size set)")
    files: Dict[str, bytes] = {}
    packed_keys = []
    for keys, name in FILE_KEYS:
        value = _get(config, keys)
        key = ".".join(keys)
        if keys == ("token_list",) and isinstance(value, list):
            files[name] = "".join(f"{t}\n" for t in value).encode("utf-8")
        elif keys == ("normalize_conf", "stats_file") and config.get("normalize") != "global_mvn":
            continue
        elif not _is_path(value):
            continue
        elif not Path(value).is_file():
            if keys == ("model_conf", "token_prior"):
                logger.warning("%s: model_conf.token_prior %s does not exist; packing without it (the prior stored "
                               "in the weights is used)", config_path, value)
                _set(config, keys, None)
                continue
            raise FileNotFoundError(f"{config_path}: {key} names {value}, which does not exist")
        else:
            files[name] = Path(value).read_bytes()
        _set(config, keys, name)
        packed_keys.append(key)
    if config.get("input_size") is None:
        raw = config  # already a raw-audio (stage2_fbank) config
    else:
        raw = raw_audio_config(config, read_fbank_conf(fbank_conf), source=str(config_path))
    from espnet_ext import __version__

    meta = {"espnet_ext_version": __version__, "source_exp_dir": str(exp_dir.resolve()),
            "source_model_file": str(model_path.resolve()), "relative_keys": packed_keys,
            "files": sorted(list(files) + [MODEL_NAME, *CONFIGS])}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.yaml", _dump(raw))
        z.writestr("config_features.yaml", _dump(config))
        z.write(model_path, MODEL_NAME)
        for name, data in sorted(files.items()):
            z.writestr(name, data)
        z.writestr(META_NAME, _dump(meta))
    os.replace(tmp, out)
    return out


def default_cache_dir() -> Path:
    return Path(os.environ.get("ESPNET_EXT_CACHE", Path.home() / ".cache" / "espnet_ext")) / "packed"


def load_packed(archive, cache_dir=None, features: bool = False) -> Tuple[str, str]:
    """Unpack ``archive`` (once per content) under ``cache_dir``; returns (config path, model path).

    The config's archive-relative paths become absolute paths into the unpacked dir.  ``features=True``
    returns the stage-2 features config instead of the raw-audio one."""
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"model archive {archive} not found")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / f"{archive.stem}-{digest}"
    if not (target / _DONE).is_file():
        tmp = root / f".{target.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            _unpack(archive, tmp, final=target)
            (tmp / _DONE).write_text(digest + "\n")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    config = target / ("config_features.yaml" if features else "config.yaml")
    return str(config), str(target / MODEL_NAME)


def _unpack(archive: Path, dest: Path, final: Path) -> None:
    """Extract into ``dest``; the configs name files under ``final``, where ``dest`` is then moved."""
    try:
        z = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{archive} is not a model archive of espnet_ext.bin.pack_model: {e}") from e
    with z:
        names = z.namelist()
        missing = [n for n in (META_NAME, MODEL_NAME, *CONFIGS) if n not in names]
        if missing:
            raise ValueError(f"{archive} is not a model archive of espnet_ext.bin.pack_model: no {', '.join(missing)}")
        for name in names:
            if name.startswith("/") or ".." in Path(name).parts:
                raise ValueError(f"{archive}: refusing the entry '{name}' (outside the archive root)")
        z.extractall(dest)
    meta = yaml.safe_load((dest / META_NAME).read_text(encoding="utf-8"))
    relative = [tuple(k.split(".")) for k in meta.get("relative_keys", [])]
    for name in CONFIGS:
        path = dest / name
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        for keys in relative:
            value = _get(config, keys)
            if _is_path(value):
                _set(config, keys, str(final.resolve() / value))
        path.write_text(_dump(config), encoding="utf-8")
