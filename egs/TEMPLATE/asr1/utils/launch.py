#!/usr/bin/env python3
"""Run an array of jobs on this machine or on a Slurm cluster, and wait for all of them.

Usage: launch.py [options] [JOB=1:N] LOG command [args...]
  Runs the command once per job index (1..N), each with its output in LOG. JOB in LOG and in the command is
  replaced by the job index where it stands as a word of its own (decode.JOB.log, keys.JOB, out/JOB/, --job JOB;
  not inside a name: SLURM_JOB_ID, JOBS, JOBp, log_JOB stay as they are); the variable may have another name
  (SPLIT=1:4), and JOB=3 is JOB=3:3. Without the JOB= argument there is one job and LOG is taken as it is.
  The arguments of the command are quoted and joined into one bash command line; a single argument is run as a
  command line as it is, so that pipes and redirections can be given in quotes: launch.py x.log "a | b > out".
  LOG starts with the command and ends with its exit status, as '# ' lines.
  Exits 0 when every job exited 0; otherwise 1, after naming each failed job and its log.

Options (--name value or --name=value; a later one wins, --sbatch_opt adds up):
  --backend local|slurm  where the jobs run (default: local)
      local  child processes of this one, in the caller's process group (killing the stage's process group
             kills the jobs); killing this process (SIGTERM, SIGINT, SIGHUP) kills every job and its children
      slurm  one `sbatch --array --wait` submission; each array task writes its LOG (and its exit status in
             LOG_DIR/q/); killing this process cancels the array (scancel)
  --max_jobs N   at most N jobs at once (local: N processes; slurm: --array=...%N); 0 = no limit (default)
  Slurm requests (ignored by the local backend; nothing is requested that is not given here):
  --partition P  --time T  --mem M  --cpus N (--cpus-per-task)  --gpus N (--gres=gpu:N; 0 = none)
  --account A  --qos Q  --job_name NAME (a prefix; a unique suffix is added)
  --sbatch_opt "OPTION"  any other sbatch option, e.g. --sbatch_opt "--constraint=avx2"
  --status_wait S  slurm: seconds to wait for the exit-status files of failed tasks to appear on a shared
                   file system before calling them lost (default 30)
  egs2 spellings are accepted too: --gpu N (= --gpus), --num_threads N (= --cpus).

Written for espnet_ext (docs/cluster.md); it follows the calling convention of the egs2 job launchers but
shares no code with them. Standard library only: it runs on a submit host without the recipe's venv.
"""

import getpass
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PROG = "launch.py"
VALUE_OPTS = {"backend", "max_jobs", "partition", "time", "mem", "cpus", "gpus", "account", "qos", "job_name",
              "sbatch_opt", "status_wait"}
ALIASES = {"gpu": "gpus", "num_threads": "cpus"}
JOBSPEC = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?$")
TAIL_LINES = 5
HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # killing the launcher with these kills its jobs


class UsageError(Exception):
    pass


class HelpRequested(Exception):
    pass


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def parse_args(argv: List[str]) -> Tuple[Dict[str, object], str, int, int, str, List[str]]:
    """-> (options, job variable, first, last, log template, command words)."""
    opts: Dict[str, object] = {"backend": "local", "max_jobs": "0", "status_wait": "30", "sbatch_opt": []}
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        name, eq, value = argv[i][2:].partition("=")
        name = ALIASES.get(name, name)
        if name == "help":
            raise HelpRequested()
        if name not in VALUE_OPTS:
            raise UsageError(f"unknown option {argv[i]} (see --help)")
        if not eq:
            if i + 1 >= len(argv):
                raise UsageError(f"option --{name} needs a value")
            i += 1
            value = argv[i]
        if name == "sbatch_opt":
            opts["sbatch_opt"].extend(shlex.split(value))  # type: ignore[union-attr]
        else:
            opts[name] = value
        i += 1
    rest = argv[i:]
    var, first, last = "JOB", 1, 1
    m = JOBSPEC.match(rest[0]) if rest else None
    if m:
        var, first = m.group(1), int(m.group(2))
        last = int(m.group(3)) if m.group(3) is not None else first
        rest = rest[1:]
        if first < 1 or last < first:
            raise UsageError(f"{m.group(0)}: the job range must be 1 <= first <= last")
    if len(rest) < 2:
        raise UsageError("expected [JOB=1:N] LOG command [args...] (see --help)")
    if opts["backend"] not in ("local", "slurm"):
        raise UsageError(f"--backend must be local or slurm, got '{opts['backend']}'")
    for name in ("max_jobs", "cpus", "gpus", "status_wait"):
        if opts.get(name) is not None and not str(opts[name]).isdigit():
            raise UsageError(f"--{name} must be a non-negative integer, got '{opts[name]}'")
    return opts, var, first, last, rest[0], rest[1:]


def _word(var: str) -> str:
    """The job variable as a word of its own: not inside a name (SLURM_JOB_ID, JOBS, JOBp stay as they are)."""
    return rf"(?<![A-Za-z0-9_]){re.escape(var)}(?![A-Za-z0-9_])"


def substitute(text: str, var: str, index: int) -> str:
    return re.sub(_word(var), str(index), text)


def comment(text: str) -> str:
    """Text as '# ' lines: the header of a job's log."""
    return "".join(f"# {line}\n" for line in text.splitlines() or [""])


def command_line(words: List[str]) -> str:
    """One word: a shell command line as given; several: each word quoted, so the command gets them exactly."""
    return words[0] if len(words) == 1 else " ".join(shlex.quote(w) for w in words)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def tail(path: Path, n: int = TAIL_LINES) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    lines = [line for line in lines if not line.startswith("# ")][-n:]
    return "".join(f"    {line}\n" for line in lines)


def job_label(index: int, first: int, last: int) -> str:
    return f"job {index} of {last}" if first == 1 else f"job {index} of {first}-{last}"


def report_failures(failures: List[Tuple[int, str, List[Path]]], first: int, last: int) -> int:
    """Each failed job, its log(s) and the end of its log; -> the exit status 1."""
    for index, why, paths in sorted(failures):
        where = " and ".join(map(str, paths))
        print(f"{PROG}: ERROR: {job_label(index, first, last)} {why}: see {where}", file=sys.stderr)
        sys.stderr.write(next((t for t in map(tail, paths) if t), ""))
    print(f"{PROG}: ERROR: {len(failures)} of {last - first + 1} job(s) failed", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------- local backend

def _children_of() -> Dict[int, List[int]]:
    """Parent pid -> child pids, from /proc (Linux); empty elsewhere."""
    tree: Dict[int, List[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return tree
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the command name, in (), may hold spaces
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pids: List[int]) -> List[int]:
    tree, found, todo = _children_of(), [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _signal_all(pids: List[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _child_setup() -> None:
    """In a job's process before exec: the signals the launcher blocks while it starts jobs unblocked, and
    SIGTERM when the launcher dies, even by SIGKILL (Linux prctl; elsewhere nothing)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def run_local(var: str, first: int, last: int, log_template: str, words: List[str], max_jobs: int) -> int:
    host = socket.gethostname()
    pending = list(range(first, last + 1))
    running: Dict[int, Tuple[int, subprocess.Popen, Path, float]] = {}  # pid -> (index, process, log, start)
    failures: List[Tuple[int, str, List[Path]]] = []
    try:
        while pending or running:
            # a signal that arrives while a job starts is taken once the job is in `running`, so it is killed too
            signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
            while pending and (max_jobs == 0 or len(running) < max_jobs):
                index = pending.pop(0)
                log = Path(substitute(log_template, var, index))
                cmd = command_line([substitute(w, var, index) for w in words])
                log.parent.mkdir(parents=True, exist_ok=True)
                with open(log, "w", encoding="utf-8") as out:
                    out.write(f"{comment(cmd)}# local {job_label(index, first, last)} on {host}, started {now()}\n")
                    out.flush()
                    proc = subprocess.Popen(["bash", "-c", cmd], stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, preexec_fn=_child_setup)
                running[proc.pid] = (index, proc, log, time.time())
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
            pid, status = os.wait()
            if pid not in running:
                continue
            index, proc, log, start = running.pop(pid)
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"# finished {now()} with exit status {rc} after {time.time() - start:.0f} s\n")
            if rc != 0:
                why = f"was killed by signal {-rc}" if rc < 0 else f"failed (exit status {rc})"
                failures.append((index, why, [log]))
    except Interrupted as e:
        pids = descendants(list(running))
        _signal_all(pids, signal.SIGTERM)
        deadline = time.time() + 5
        while time.time() < deadline and any(p.poll() is None for _, p, _, _ in running.values()):
            time.sleep(0.05)
        _signal_all([p for p in pids if _alive(p)], signal.SIGKILL)
        for _, p, log, _ in running.values():
            p.wait()
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"# killed {now()}: {PROG} got signal {e.signum}\n")
        print(f"{PROG}: interrupted by signal {e.signum}; killed {len(running)} running job(s)", file=sys.stderr)
        return 128 + e.signum
    return report_failures(failures, first, last) if failures else 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


# ---------------------------------------------------------------------------------------------- slurm backend

def sbatch_options(opts: Dict[str, object]) -> List[str]:
    """The site's requests, only those given: nothing is assumed about a cluster."""
    flags = []
    for name, flag in (("partition", "--partition"), ("time", "--time"), ("mem", "--mem"),
                       ("cpus", "--cpus-per-task"), ("account", "--account"), ("qos", "--qos")):
        value = opts.get(name)
        if value not in (None, ""):
            flags.append(f"{flag}={value}")
    if opts.get("gpus") not in (None, "", "0"):
        flags.append(f"--gres=gpu:{opts['gpus']}")
    return flags + list(opts["sbatch_opt"])  # type: ignore[arg-type]


def job_script(var: str, first: int, last: int, log_template: str, words: List[str], status: str) -> str:
    """A bash script for every array task: picks the task's log and command, runs it, records its exit status."""
    cases = []
    for index in range(first, last + 1):
        log = substitute(log_template, var, index)
        cmd = command_line([substitute(w, var, index) for w in words])
        cases.append(f"    {index}) log={shlex.quote(log)}; label={shlex.quote(job_label(index, first, last))}\n"
                     f"       cmd={shlex.quote(cmd)} ;;")
    case_block = "\n".join(cases)
    return f"""#!/usr/bin/env bash
# Written by {PROG} (slurm backend) at {now()}; one Slurm array task per job.
cd {shlex.quote(os.getcwd())} || exit 1
task=${{SLURM_ARRAY_TASK_ID:?run by {PROG} as a Slurm array}}
case "${{task}}" in
{case_block}
    *) echo "{PROG}: no job ${{task}} in this array" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "${{log}}")"
start=$(date +%s)
{{ printf '%s\\n' "${{cmd}}" | sed 's/^/# /'
  echo "# slurm task ${{SLURM_ARRAY_JOB_ID:-?}}_${{task}} (${{label}}) on $(hostname)," \\
       "started $(date +%Y-%m-%dT%H:%M:%S)"
}} > "${{log}}"
bash -c "${{cmd}}" >> "${{log}}" 2>&1
rc=$?
echo "# finished $(date +%Y-%m-%dT%H:%M:%S) with exit status ${{rc}} after $(( $(date +%s) - start )) s" >> "${{log}}"
status={shlex.quote(status)}.${{task}}
echo "${{rc}}" > "${{status}}.tmp" && mv "${{status}}.tmp" "${{status}}"
exit "${{rc}}"
"""


def _stem(log_template: str, var: str) -> str:
    name = re.sub(rf"[._-]?{_word(var)}", "", Path(log_template).name)
    return re.sub(r"\.log$", "", name) or "job"


def run_slurm(opts: Dict[str, object], var: str, first: int, last: int, log_template: str,
              words: List[str]) -> int:
    for tool in ("sbatch", "scancel"):
        if subprocess.run(["bash", "-c", f"command -v {tool}"], stdout=subprocess.DEVNULL).returncode != 0:
            print(f"{PROG}: ERROR: slurm backend: {tool} not found on PATH (is this a Slurm submit host?)",
                  file=sys.stderr)
            return 1
    qdir = Path(substitute(log_template, var, first)).parent / "q"
    qdir.mkdir(parents=True, exist_ok=True)
    stem = _stem(log_template, var)
    status = qdir / f"{stem}.status"
    for index in range(first, last + 1):
        Path(f"{status}.{index}").unlink(missing_ok=True)  # a re-run must not read the last run's
    script = qdir / f"{stem}.sh"
    script.write_text(job_script(var, first, last, log_template, words, str(status)), encoding="utf-8")
    name = f"{opts.get('job_name') or stem}-{uuid.uuid4().hex[:8]}"
    max_jobs = int(str(opts["max_jobs"]))
    array = f"{first}-{last}" + (f"%{max_jobs}" if max_jobs else "")
    cmd = ["sbatch", "--wait", "--parsable", f"--job-name={name}", f"--array={array}",
           f"--output={qdir}/{stem}.%a.out", f"--chdir={os.getcwd()}", "--export=ALL",
           *sbatch_options(opts), str(script)]
    print(f"{PROG}: {' '.join(shlex.quote(c) for c in cmd)}", file=sys.stderr)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate()
    except Interrupted as e:
        user = os.environ.get("USER") or getpass.getuser()
        subprocess.run(["scancel", f"--name={name}", f"--user={user}"], stdin=subprocess.DEVNULL)
        proc.terminate()
        proc.wait()
        print(f"{PROG}: interrupted by signal {e.signum}; cancelled Slurm job {name}", file=sys.stderr)
        return 128 + e.signum
    job_id = out.strip().split(";")[0]
    if not job_id.isdigit():
        print(f"{PROG}: ERROR: sbatch did not submit the array (exit status {proc.returncode}):\n{err.strip()}",
              file=sys.stderr)
        return 1
    if proc.returncode == 0:
        return 0
    # sbatch --wait exits with the highest exit status of the tasks: find which ones failed, from the status
    # files (which a shared file system may show late).
    indices = range(first, last + 1)
    deadline = time.time() + int(str(opts["status_wait"]))
    while not all(Path(f"{status}.{i}").exists() for i in indices) and time.time() < deadline:
        time.sleep(1)
    failures = []
    for index in indices:
        log = Path(substitute(log_template, var, index))
        slurm_out = qdir / f"{stem}.{index}.out"
        try:
            rc = int(Path(f"{status}.{index}").read_text().strip())
        except (OSError, ValueError):
            failures.append((index, f"(Slurm task {job_id}_{index}) ended without an exit status (cancelled, "
                                    f"out of time or memory, or its node failed)", [log, slurm_out]))
            continue
        if rc != 0:
            failures.append((index, f"(Slurm task {job_id}_{index}) failed (exit status {rc})", [log, slurm_out]))
    if not failures:  # sbatch failed but every task succeeded: say what sbatch said
        print(f"{PROG}: ERROR: sbatch --wait exited with {proc.returncode}: {err.strip()}", file=sys.stderr)
        return 1
    return report_failures(failures, first, last)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    try:
        opts, var, first, last, log_template, words = parse_args(argv)
    except HelpRequested:
        print(__doc__.strip())
        return 0
    except UsageError as e:
        print(f"{PROG}: ERROR: {e}", file=sys.stderr)
        return 2

    def interrupted(signum, _frame):
        raise Interrupted(signum)

    for signum in HANDLED:
        signal.signal(signum, interrupted)
    if opts["backend"] == "slurm":
        return run_slurm(opts, var, first, last, log_template, words)
    return run_local(var, first, last, log_template, words, int(str(opts["max_jobs"])))


if __name__ == "__main__":
    sys.exit(main())
