"""espnet_ext.utils.cli: one log format, a user error as one ``ERROR:`` line and exit status 1, a bug as a
traceback; and every entry point of espnet_ext/bin, benchmarks and paper_results goes through it."""

import ast
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

from espnet_ext.checkpoint_io import CorruptCheckpointError
from espnet_ext.fileio.kaldi_map import DataDirError
from espnet_ext.utils.atomic_dir import ForeignOutputDirError
from espnet_ext.utils import cli
from espnet_ext.utils.cli import EXIT_INTERRUPTED, LOG_FORMAT, cli_main, is_user_error
from tests.conftest import REPO

TOY = '''
import argparse
import logging
import os
import sys

from espnet_ext.utils.cli import cli_main, set_log_level

logger = logging.getLogger("toy")


def get_parser():
    p = argparse.ArgumentParser(description="a toy CLI")
    p.add_argument("what", choices=["ok", "value", "missing", "multiline", "bug", "interrupt", "yaml", "runtime"])
    p.add_argument("--log_level", default=None)
    return p


@cli_main(extra_user_errors=(LookupError,) if os.environ.get("TOY_LOOKUP_IS_USER_ERROR") else ())
def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.log_level:
        set_log_level(args.log_level)
    logger.debug("debug line")
    logger.info("info line")
    logger.warning("warning line")
    if args.what == "value":
        raise ValueError("bad value: 'x' is not a number")
    if args.what == "missing":
        open("/nonexistent/espnet_ext_cli_test")
    if args.what == "multiline":
        raise ValueError("first line\\nHint: second line")
    if args.what == "bug":
        {}["no such key"]
    if args.what == "interrupt":
        raise KeyboardInterrupt
    if args.what == "yaml":
        import yaml
        yaml.safe_load("a: [1, 2")
    if args.what == "runtime":
        raise RuntimeError("not a user error")
    print("done")


if __name__ == "__main__":
    sys.exit(main())
'''


def run_toy(tmp_path: Path, *args: str, env=None) -> Tuple[int, str, str]:
    script = tmp_path / "toy_cli.py"
    script.write_text(TOY, encoding="utf-8")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ESPNET_EXT_")}
    full_env.update(PYTHONPATH=str(REPO), **(env or {}))
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=full_env,
                          cwd=tmp_path)
    return proc.returncode, proc.stdout, proc.stderr


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \(toy_cli:\d+\) (DEBUG|INFO|WARNING): (.*)$")


def log_lines(err: str):
    return [(m.group(1), m.group(2)) for m in map(LOG_LINE.match, err.splitlines()) if m]


def test_log_format_is_espnets(tmp_path):
    assert LOG_FORMAT == "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
    rc, out, err = run_toy(tmp_path, "ok")
    assert (rc, out) == (0, "done\n")
    assert log_lines(err) == [("INFO", "info line"), ("WARNING", "warning line")]
    assert len(err.splitlines()) == 2, err  # nothing else on stderr


def test_log_level_from_the_option_or_the_environment(tmp_path):
    rc, _, err = run_toy(tmp_path, "ok", env={"ESPNET_EXT_LOG_LEVEL": "warning"})
    assert rc == 0 and log_lines(err) == [("WARNING", "warning line")]
    rc, _, err = run_toy(tmp_path, "ok", env={"ESPNET_EXT_LOG_LEVEL": "DEBUG"})
    assert rc == 0 and [level for level, _ in log_lines(err)] == ["DEBUG", "INFO", "WARNING"]
    # the CLI's --log_level wins over the environment
    rc, _, err = run_toy(tmp_path, "ok", "--log_level", "WARNING", env={"ESPNET_EXT_LOG_LEVEL": "DEBUG"})
    assert rc == 0 and log_lines(err) == [("WARNING", "warning line")]
    rc, _, err = run_toy(tmp_path, "ok", env={"ESPNET_EXT_LOG_LEVEL": "LOUD"})
    assert rc == 1 and err == ("ERROR: ESPNET_EXT_LOG_LEVEL: unknown log level 'LOUD' "
                               "(DEBUG, INFO, WARNING, ERROR, CRITICAL)\n")


def test_user_error_is_one_line_and_exit_status_1(tmp_path):
    rc, out, err = run_toy(tmp_path, "value")
    assert (rc, out) == (1, "")
    assert err.splitlines()[-1] == "ERROR: bad value: 'x' is not a number"
    assert "Traceback" not in err and len(err.splitlines()) == 3  # the two log lines, then the error
    rc, _, err = run_toy(tmp_path, "missing")
    assert rc == 1 and err.splitlines()[-1] == ("ERROR: [Errno 2] No such file or directory: "
                                                "'/nonexistent/espnet_ext_cli_test'")
    rc, _, err = run_toy(tmp_path, "multiline")
    assert rc == 1 and err.splitlines()[-2:] == ["ERROR: first line", "Hint: second line"]
    rc, _, err = run_toy(tmp_path, "yaml")
    assert rc == 1 and "Traceback" not in err and "ERROR: while parsing a flow sequence" in err


def test_traceback_of_a_user_error_on_request(tmp_path):
    rc, _, err = run_toy(tmp_path, "value", env={"ESPNET_EXT_TRACEBACK": "1"})
    assert rc == 1 and "Traceback (most recent call last)" in err
    assert err.splitlines()[-2:] == ["ValueError: bad value: 'x' is not a number",
                                     "ERROR: bad value: 'x' is not a number"]


def test_unexpected_exception_keeps_its_traceback(tmp_path):
    rc, _, err = run_toy(tmp_path, "bug")
    assert rc == 1 and "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == "KeyError: 'no such key'" and "ERROR:" not in err
    rc, _, err = run_toy(tmp_path, "runtime")
    assert rc == 1 and err.splitlines()[-1] == "RuntimeError: not a user error"
    rc, _, err = run_toy(tmp_path, "bug", env={"TOY_LOOKUP_IS_USER_ERROR": "1"})  # a CLI's extra_user_errors
    assert rc == 1 and err.splitlines()[-1] == "ERROR: 'no such key'" and "Traceback" not in err


def test_keyboard_interrupt_exits_130(tmp_path):
    rc, _, err = run_toy(tmp_path, "interrupt")
    assert rc == EXIT_INTERRUPTED == 130
    assert err.splitlines()[-1] == "ERROR: interrupted" and "Traceback" not in err


def test_usage_errors_and_help_stay_argparses(tmp_path):
    rc, _, err = run_toy(tmp_path, "nope")
    assert rc == 2 and "invalid choice: 'nope'" in err and "ERROR" not in err
    rc, out, _ = run_toy(tmp_path, "--help")
    assert rc == 0 and "a toy CLI" in out


def test_in_process(capsys):
    """Tests call a CLI's main in-process: it returns the status, and a bug still raises."""

    @cli_main()
    def main(kind):
        if kind == "value":
            raise DataDirError("data/x/text:3: duplicate key 'u1'")
        if kind == "checkpoint":
            raise CorruptCheckpointError("exp/checkpoint.pth is truncated or corrupt")
        if kind == "bug":
            raise TypeError("a bug")
        if kind == "exit":
            sys.exit(3)
        return None if kind == "none" else 4

    assert main("value") == 1
    assert capsys.readouterr().err == "ERROR: data/x/text:3: duplicate key 'u1'\n"
    assert main("checkpoint") == 1
    assert capsys.readouterr().err == "ERROR: exp/checkpoint.pth is truncated or corrupt\n"
    with pytest.raises(TypeError, match="a bug"):
        main("bug")
    with pytest.raises(SystemExit) as e:
        main("exit")
    assert e.value.code == 3
    assert main("none") == 0 and main("other") == 4
    assert main.__name__ == "main" and main.__wrapped__ is not None


def test_user_error_rule():
    for exc in (ValueError("x"), DataDirError("x"), CorruptCheckpointError("x"), ForeignOutputDirError("x"),
                FileNotFoundError("x"), PermissionError("x"), UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "x")):
        assert is_user_error(exc), exc
    for exc in (KeyError("x"), TypeError("x"), RuntimeError("x"), AttributeError("x"), ImportError("x")):
        assert not is_user_error(exc), exc
    assert is_user_error(RuntimeError("x"), extra=(RuntimeError,))


def test_logging_of_a_caller_or_test_runner_is_left_alone(monkeypatch):
    """Under pytest the root logger has handlers already: nothing is added and no level is changed."""
    root = logging.getLogger()
    monkeypatch.setattr(cli, "_handler", None)
    handlers, level = list(root.handlers), root.level
    if not handlers:
        pytest.skip("the root logger has no handler here")
    assert cli.setup_logging(logging.DEBUG) is False
    cli.set_log_level("DEBUG")
    assert root.handlers == handlers and root.level == level


# ---- every entry point goes through the helper (docs/package_layout.md) ----

ENTRY_FOLDERS = ("espnet_ext/bin", "benchmarks", "paper_results")
#: Modules allowed to call logging.basicConfig themselves, and why (none today: ESPnet's own AbsTask.main
#: configures the logging of asr_train, asr_train_multitask and lm_train_multitask, which pass
#: configure_logging=False, so they call no basicConfig either).
BASIC_CONFIG_EXCEPTIONS: Dict[str, str] = {}


def entry_modules() -> Iterator[Path]:
    for folder in ENTRY_FOLDERS:
        yield from sorted((REPO / folder).glob("*.py"))


def basic_config_calls(source: str) -> Iterator[int]:
    """Lines that call logging.basicConfig: ``logging.basicConfig``, under another module name, or imported."""
    tree = ast.parse(source)
    logging_names, function_names = {"logging"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            logging_names |= {a.asname or a.name for a in node.names if a.name == "logging"}
        elif isinstance(node, ast.ImportFrom) and node.module == "logging":
            function_names |= {a.asname or a.name for a in node.names if a.name == "basicConfig"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Attribute) and f.attr == "basicConfig" and isinstance(f.value, ast.Name)
                    and f.value.id in logging_names) or (isinstance(f, ast.Name) and f.id in function_names):
                yield node.lineno


def main_is_wrapped(source: str):
    """None without a module-level ``main``; else whether it is decorated with ``cli_main(...)``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            for d in node.decorator_list:
                call = d.func if isinstance(d, ast.Call) else d
                if (isinstance(call, ast.Name) and call.id == "cli_main") or \
                        (isinstance(call, ast.Attribute) and call.attr == "cli_main"):
                    return True
            return False
    return None


def test_the_scanners_can_fail():
    assert list(basic_config_calls("import logging\nlogging.basicConfig(level=logging.INFO)")) == [2]
    assert list(basic_config_calls("import logging as lg\ndef main():\n    lg.basicConfig()")) == [3]
    assert list(basic_config_calls("from logging import basicConfig as bc\nbc()")) == [2]
    assert list(basic_config_calls("import logging\nlogging.getLogger().setLevel(10)")) == []
    assert main_is_wrapped("def main(argv=None):\n    pass") is False
    assert main_is_wrapped("@cli.cli_main()\ndef main(argv=None):\n    pass") is True
    assert main_is_wrapped("def helper():\n    pass") is None


def test_no_entry_point_configures_logging_itself():
    offenders = [f"{path.relative_to(REPO)}:{line}" for path in entry_modules()
                 for line in basic_config_calls(path.read_text(encoding="utf-8"))
                 if str(path.relative_to(REPO)) not in BASIC_CONFIG_EXCEPTIONS]
    assert not offenders, ("call espnet_ext.utils.cli (cli_main / set_log_level), not logging.basicConfig:\n"
                           + "\n".join(offenders))


def test_every_main_goes_through_cli_main():
    mains = {str(p.relative_to(REPO)): main_is_wrapped(p.read_text(encoding="utf-8")) for p in entry_modules()}
    assert sum(1 for v in mains.values() if v is not None) >= 40  # the scan found the entry points
    assert [name for name, wrapped in mains.items() if wrapped is False] == []


def test_entry_points_exit_with_their_mains_status():
    """``if __name__ == "__main__": sys.exit(main())``: the status the helper returns reaches the shell."""
    missing = []
    for path in entry_modules():
        source = path.read_text(encoding="utf-8")
        if main_is_wrapped(source) and "sys.exit(main())" not in textwrap.dedent(source.split("__main__")[-1]):
            missing.append(str(path.relative_to(REPO)))
    assert missing == []


def test_only_the_espnet_training_entry_points_leave_logging_to_espnet():
    """asr_train, asr_train_multitask and lm_train_multitask hand over to ESPnet's AbsTask.main, which configures
    logging (its format behind ``[host:rank]``, its --log_level): a handler installed first would make that a no-op."""
    def leaves_logging(path: Path) -> bool:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name == "main":
                return any(isinstance(d, ast.Call) and any(
                    k.arg == "configure_logging" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in d.keywords) for d in node.decorator_list)
        return False

    assert sorted(p.stem for p in entry_modules() if leaves_logging(p)) == [
        "asr_train", "asr_train_multitask", "lm_train_multitask"]


def test_quiet_loggers_restores_each_level_also_after_an_error():
    import logging

    from espnet_ext.utils.cli import quiet_loggers

    a, b = logging.getLogger("espnet_ext.test_quiet.a"), logging.getLogger("espnet_ext.test_quiet.b")
    a.setLevel(logging.DEBUG)  # b: NOTSET, i.e. its parent's
    with pytest.raises(RuntimeError):
        with quiet_loggers(["espnet_ext.test_quiet.a", "espnet_ext.test_quiet.b"]):
            assert a.level == b.level == logging.ERROR
            raise RuntimeError("boom")
    assert (a.level, b.level) == (logging.DEBUG, logging.NOTSET)
