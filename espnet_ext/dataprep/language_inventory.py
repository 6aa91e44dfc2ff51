"""The language inventory file (``lang_list.txt``: one code per line, line order = id) and ``utt2lid``."""

from pathlib import Path
from typing import Dict, List

from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map, write_kaldi_map


def read_lang_list(path: Path) -> List[str]:
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: language list not found")
    langs = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    for i, code in enumerate(langs, 1):
        if not code or " " in code:
            raise DataDirError(f"{path}:{i}: bad language code '{code}'")
    if len(set(langs)) != len(langs):
        raise DataDirError(f"{path}: duplicate language code")
    if not langs:
        raise DataDirError(f"{path}: empty language list")
    return langs


def write_lang_list(path: Path, languages: List[str]) -> None:
    Path(path).write_text("".join(code + "\n" for code in languages), encoding="utf-8")


def utt2lang_to_utt2lid(utt2lang_path: Path, languages: List[str]) -> Dict[str, str]:
    """Map each utterance's language code to its index in ``languages``; unknown codes are errors."""
    index = {code: i for i, code in enumerate(languages)}
    out = {}
    for utt, code in read_kaldi_map(utt2lang_path, allow_empty_value=True).items():
        if code not in index:
            raise DataDirError(f"{utt2lang_path}: utterance '{utt}' has language '{code or '<none>'}' "
                               f"not in the inventory {languages}")
        out[utt] = str(index[code])
    return out


def write_utt2lid(utt2lang_path: Path, languages: List[str], out_path: Path) -> None:
    write_kaldi_map(out_path, utt2lang_to_utt2lid(utt2lang_path, languages))
