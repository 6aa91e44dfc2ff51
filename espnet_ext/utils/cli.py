"""The one entry helper of espnet_ext's command-line tools: one log format, and a user error as one line.

Every ``main`` of ``espnet_ext/bin``, ``benchmarks`` and ``paper_results`` is decorated with :func:`cli_main`::

    @cli_main()
    def main(argv=None) -> int:
        args = get_parser().parse_args(argv)
        set_log_level(args.log_level)  # only a CLI that has --log_level
        ...

    if __name__ == "__main__":
        sys.exit(main())

The decorated ``main`` returns the exit status (``None`` counts as 0), so tests call it in-process as before.

Logging: configured once, before ``main`` runs, as ``logging.basicConfig`` would (nothing is done when the root
logger already has a handler: a test runner's, or a caller's), in ESPnet's own format :data:`LOG_FORMAT`.  The
level is the CLI's ``--log_level`` where it has one (:func:`set_log_level`), else :data:`LOG_LEVEL_ENV`
(``ESPNET_EXT_LOG_LEVEL=DEBUG``), else the CLI's default (``INFO`` unless it says otherwise).  The CLIs that hand
over to ESPnet's ``AbsTask.main`` (``asr_train``, ``asr_train_multitask``, ``lm_train_multitask``) pass
``configure_logging=False``: ESPnet configures logging there (``main_worker``: the same format behind
``[host:rank]``, at the ``--log_level`` it parses), and a handler installed first would make that a no-op.

The user-error rule: an exception that says what is wrong with the input, or with the machine, is reported as one
``ERROR: <message>`` line on stderr (a message of several lines keeps its continuation lines) and exit status 1,
without a traceback:

* espnet_ext's own errors: :class:`~espnet_ext.fileio.kaldi_map.DataDirError` (a ``ValueError``),
  :class:`~espnet_ext.checkpoint_io.CorruptCheckpointError` and
  :class:`~espnet_ext.utils.atomic_dir.ForeignOutputDirError` (an ``--out_dir`` holding another tool's output);
* ``ValueError`` (bad values and contents, ``UnicodeDecodeError``, ``json.JSONDecodeError``) and a malformed YAML
  file (``yaml.YAMLError``);
* ``OSError``: a missing or unreadable file (``FileNotFoundError``, ``PermissionError``, ...), a full disk;
* what one CLI adds with ``extra_user_errors`` (``RuntimeError`` where SentencePiece or ESPnet's token converter
  raise it for a bad input, ``ImportError`` where an optional package is missing);
* ``KeyboardInterrupt``: ``ERROR: interrupted`` and exit status 130 (128 + SIGINT, as the shell reports it and as
  ``launch.py`` reports SIGTERM with 143).

Any other exception (``KeyError``, ``TypeError``, ``RuntimeError`` from torch, ...) is a bug: it propagates, so
the traceback is shown and the status is Python's 1.  ``SystemExit`` passes through untouched: argparse's usage
errors keep exit status 2 and ``--help`` exits 0.  ``ESPNET_EXT_TRACEBACK=1`` prints the traceback of a user
error too, above its ``ERROR:`` line.

This module imports nothing heavy (no torch, no ESPnet): every CLI imports it, ``stage_marker`` once per stage.
"""

import argparse
import contextlib
import functools
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple, Type, Union

from espnet_ext.checkpoint_io import CorruptCheckpointError
from espnet_ext.fileio.kaldi_map import DataDirError
from espnet_ext.utils.atomic_dir import ForeignOutputDirError

__all__ = ["LOG_FORMAT", "LOG_LEVEL_ENV", "TRACEBACK_ENV", "EXIT_USER_ERROR", "EXIT_INTERRUPTED", "USER_ERRORS",
           "setup_logging", "set_log_level", "is_user_error", "report_user_error", "cli_main"]

#: ESPnet's own log format (espnet2/bin/asr_inference.py; its training puts ``[host:rank]`` in front).
LOG_FORMAT = "%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"
#: The log level of a CLI without ``--log_level`` (DEBUG, INFO, WARNING, ERROR, CRITICAL).
LOG_LEVEL_ENV = "ESPNET_EXT_LOG_LEVEL"
#: Set to 1 to see the traceback of a user error as well.
TRACEBACK_ENV = "ESPNET_EXT_TRACEBACK"
EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 130
#: The exception types every CLI reports as one ``ERROR:`` line (``yaml.YAMLError`` too, once yaml is loaded).
USER_ERRORS: Tuple[Type[BaseException], ...] = (DataDirError, CorruptCheckpointError, ForeignOutputDirError,
                                                 ValueError, OSError)

Level = Union[int, str]
_handler: Optional[logging.Handler] = None  # the root handler this module installed, if it did


def _level(level: Level, source: str) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(str(level).strip().upper())
    if not isinstance(value, int):
        raise ValueError(f"{source}: unknown log level '{level}' (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
    return value


def setup_logging(default_level: Level = logging.INFO) -> bool:
    """Configure the root logger once, in :data:`LOG_FORMAT` on stderr, at :data:`LOG_LEVEL_ENV` if set, else at
    ``default_level``.  Does nothing (and returns False) when the root logger already has a handler."""
    global _handler
    root = logging.getLogger()
    if root.handlers:
        return False
    env = os.environ.get(LOG_LEVEL_ENV, "").strip()
    level = _level(env, LOG_LEVEL_ENV) if env else _level(default_level, "log level")
    logging.basicConfig(level=level, format=LOG_FORMAT)
    _handler = root.handlers[0] if root.handlers else None
    return True


def set_log_level(level: Level) -> None:
    """Apply a CLI's ``--log_level``: sets the root level if :func:`setup_logging` configured the root logger
    (a test runner's or a caller's logging is left as it is)."""
    level = _level(level, "--log_level")
    if _handler is not None and _handler in logging.getLogger().handlers:
        logging.getLogger().setLevel(level)


@contextlib.contextmanager
def quiet_loggers(names: Sequence[str], level: Level = logging.ERROR) -> Iterator[None]:
    """Raise the named loggers to ``level`` inside the block and give them back their own levels after it, so a
    CLI called in-process (a test, a notebook) leaves the caller's logging as it found it."""
    loggers = [logging.getLogger(n) for n in names]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, old in zip(loggers, saved):
            lg.setLevel(old)


def _yaml_error() -> Tuple[Type[BaseException], ...]:
    yaml = sys.modules.get("yaml")  # a YAML error can only come from a process that loaded yaml
    return (yaml.YAMLError,) if yaml is not None and hasattr(yaml, "YAMLError") else ()


def is_user_error(exc: BaseException, extra: Sequence[Type[BaseException]] = ()) -> bool:
    """Whether ``exc`` is reported as one ``ERROR:`` line (the rule of the module docstring)."""
    return isinstance(exc, USER_ERRORS + _yaml_error() + tuple(extra))


def report_user_error(exc: BaseException) -> int:
    """Print ``ERROR: <message>`` on stderr (the traceback above it with ESPNET_EXT_TRACEBACK=1); the exit status."""
    if os.environ.get(TRACEBACK_ENV, "").strip() not in ("", "0"):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, KeyboardInterrupt):
        print("ERROR: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    message = str(exc).strip() or type(exc).__name__
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


def cli_main(log_level: Level = logging.INFO, configure_logging: bool = True,
             extra_user_errors: Sequence[Type[BaseException]] = ()) -> Callable[[Callable], Callable[..., int]]:
    """Decorator for a CLI's ``main``: logging set up first (unless ``configure_logging`` is False; ``log_level``
    is the default level), user errors turned into one ``ERROR:`` line and exit status 1 (130 for
    KeyboardInterrupt), any other exception left to propagate.  The wrapped ``main`` returns an int."""
    extra = tuple(extra_user_errors)

    def decorate(main: Callable) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapper(*args, **kwargs) -> int:
            try:
                if configure_logging:
                    setup_logging(log_level)
                status = main(*args, **kwargs)
            except KeyboardInterrupt as e:
                return report_user_error(e)
            except Exception as e:
                if not is_user_error(e, extra):
                    raise
                return report_user_error(e)
            return 0 if status is None else status

        return wrapper

    return decorate


def named_paths(items: Sequence[str], parser: argparse.ArgumentParser, form: str, kind: str) -> Dict[str, Path]:
    """``NAME=PATH`` positional arguments as {name: path} in their order; ``parser.error`` for an item not of
    the ``form`` (e.g. ``SEED=RESULTS_JSON``) or a ``kind`` (e.g. ``seed``) named twice."""
    out: Dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"'{item}' is not {form}")
        if name in out:
            parser.error(f"{kind} '{name}' given twice")
        out[name] = Path(path)
    return out
