"""The job launcher of the recipes (egs/TEMPLATE/asr1/utils/launch.py, docs/cluster.md): the local backend, the
slurm backend on a real one-node Slurm cluster started here (tests/fixtures/slurm_cluster.py; skipped, with the
reason, where it cannot run), the recipes' cmd.sh, and asr.sh's stages 2 and 6 through it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, make_data_dir
from tests.fixtures.slurm_cluster import ClusterUnavailable, OneNodeSlurm

TEMPLATE = REPO / "egs" / "TEMPLATE" / "asr1"
LAUNCH = TEMPLATE / "utils" / "launch.py"
ASR_SH = TEMPLATE / "asr.sh"
RECIPES = ["TEMPLATE", "synth_longtail", "synth_cs", "seame_cs", "commonvoice_a2"]
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def launch(*args, cwd, env=None, timeout=120):
    return subprocess.run([str(LAUNCH), *map(str, args)], cwd=cwd, env=env or ENV, capture_output=True, text=True,
                          timeout=timeout)


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def read_pids(paths):
    return [int(p.read_text()) for p in paths]


# ------------------------------------------------------------------------------------------------ local backend

def test_local_array_writes_each_jobs_output_and_log(tmp_path):
    proc = launch("JOB=1:3", "log/x.JOB.log", "bash", "-c", 'echo "job $1" > out.$1; echo "said $1"', "-", "JOB",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for j in (1, 2, 3):
        assert (tmp_path / f"out.{j}").read_text() == f"job {j}\n"
        log = (tmp_path / "log" / f"x.{j}.log").read_text().splitlines()
        assert log[0].startswith("# bash -c ") and log[0].endswith(f" - {j}")  # the command, JOB replaced
        assert log[1].startswith(f"# local job {j} of 3 on ")
        assert log[2] == f"said {j}"
        assert log[3].startswith("# finished ") and "with exit status 0" in log[3]


def test_local_failed_job_is_named_with_its_log(tmp_path):
    proc = launch("JOB=1:3", "log/x.JOB.log", "echo out JOB; if [ JOB = 2 ]; then echo boom >&2; exit 3; fi",
                  cwd=tmp_path)
    assert proc.returncode == 1
    assert "launch.py: ERROR: job 2 of 3 failed (exit status 3): see log/x.2.log\n    out 2\n    boom\n" in proc.stderr
    assert "launch.py: ERROR: 1 of 3 job(s) failed" in proc.stderr
    assert "job 1 " not in proc.stderr and "job 3 " not in proc.stderr
    assert "with exit status 0" in (tmp_path / "log" / "x.3.log").read_text()  # the others ran to the end


def _start_sleepers(tmp_path, **popen):
    """A launcher with 3 jobs that each start a child and wait: -> (launcher, job pids, grandchild pids)."""
    proc = subprocess.Popen([str(LAUNCH), "JOB=1:3", "log/s.JOB.log",
                             "sleep 300 & echo $! > gc.JOB; echo $$ > c.JOB; wait"],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    files = [tmp_path / f"{kind}.{j}" for kind in ("c", "gc") for j in (1, 2, 3)]
    wait_for(lambda: all(f.exists() and f.read_text().strip() for f in files), what="the jobs to start")
    pids = read_pids(files)
    assert all(alive(p) for p in pids)
    return proc, pids[:3], pids[3:]


def test_killing_the_launcher_kills_its_jobs_and_their_children(tmp_path):
    proc, jobs, children = _start_sleepers(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted by signal 15; killed 3 running job(s)" in err
    wait_for(lambda: not any(alive(p) for p in jobs + children), timeout=10, what="the jobs to die")
    assert (tmp_path / "log" / "s.2.log").read_text().splitlines()[-1].startswith("# killed ")


def test_killing_the_stages_process_group_kills_the_jobs(tmp_path):
    """The jobs stay in the caller's process group: a kill of the stage's group (Ctrl-C, timeout, scancel of a
    job running the recipe) reaches them, even with SIGKILL, which the launcher cannot pass on."""
    proc, jobs, children = _start_sleepers(tmp_path, start_new_session=True)  # its own group, as a stage's
    assert all(os.getpgid(p) == proc.pid for p in jobs + children)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    wait_for(lambda: not any(alive(p) for p in jobs + children), timeout=10, what="the jobs to die")


def test_max_jobs_runs_at_most_that_many_at_once(tmp_path):
    # a job that finds the lock taken fails: with --max_jobs 1 none may
    proc = launch("--max_jobs", "1", "JOB=1:3", "log/m.JOB.log", "mkdir lock || exit 9; sleep 0.3; rmdir lock",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_job_is_replaced_only_as_a_word_and_one_argument_is_a_command_line(tmp_path):
    proc = launch("SPLIT=2:3", "SPLIT/x.log", "echo SPLIT JOB SPLITS MY_SPLIT x.SPLIT.y | tr a-z A-Z > o.SPLIT",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.2").read_text() == "2 JOB SPLITS MY_SPLIT X.2.Y\n"
    assert (tmp_path / "3" / "x.log").exists() and not (tmp_path / "o.1").exists()
    proc = launch("single.log", "echo", "a b", "$HOME", "it's", cwd=tmp_path)  # several words: passed exactly
    assert proc.returncode == 0, proc.stderr
    assert "a b $HOME it's\n" in (tmp_path / "single.log").read_text()


@pytest.mark.parametrize("args, message", [
    (["--bogus", "1", "x.log", "true"], "unknown option --bogus (see --help)"),
    (["--backend", "pbs", "x.log", "true"], "--backend must be local or slurm, got 'pbs'"),
    (["JOB=3:1", "x.log", "true"], "JOB=3:1: the job range must be 1 <= first <= last"),
    (["JOB=1:2", "x.JOB.log"], "expected [JOB=1:N] LOG command [args...] (see --help)"),
    (["--max_jobs", "two", "x.log", "true"], "--max_jobs must be a non-negative integer, got 'two'"),
])
def test_usage_errors(tmp_path, args, message):
    proc = launch(*args, cwd=tmp_path)
    assert proc.returncode == 2 and f"launch.py: ERROR: {message}" in proc.stderr, proc.stderr


def test_slurm_backend_without_sbatch_says_so(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to("/bin/bash")
    proc = subprocess.run([sys.executable, str(LAUNCH), "--backend", "slurm", "JOB=1:2", "x.JOB.log", "true"],
                          cwd=tmp_path, env=dict(ENV, PATH=str(bin_dir)), capture_output=True, text=True)
    assert proc.returncode == 1
    assert "slurm backend: sbatch not found on PATH (is this a Slurm submit host?)" in proc.stderr


# ------------------------------------------------------------------------------------------------ cmd.sh, asr.sh

@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("backend", ["local", "slurm"])
def test_recipe_cmd_sh_points_at_the_launcher(recipe, backend):
    out = subprocess.run(["bash", "-c", 'set -euo pipefail; . ./cmd.sh; printf "%s\\n" "${cmd_backend}" '
                          '"${train_cmd}" "${decode_cmd}"; bash -c \'echo "${decode_cmd}"\''],
                         cwd=REPO / "egs" / recipe / "asr1", env=dict(ENV, cmd_backend=backend),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    chosen, train_cmd, decode_cmd, exported = out.stdout.splitlines()
    assert chosen == backend and exported == decode_cmd
    for cmd in (train_cmd, decode_cmd):
        words = cmd.split()
        assert Path(words[0]) == LAUNCH and words[1:3] == ["--backend", backend]


def test_recipe_cmd_sh_defaults_to_local():
    env = {k: v for k, v in ENV.items() if k != "cmd_backend"}
    out = subprocess.run(["bash", "-c", '. ./cmd.sh; echo "${decode_cmd}"'], cwd=REPO / "egs" / "synth_cs" / "asr1",
                         env=env, capture_output=True, text=True)
    assert out.stdout.split()[1:3] == ["--backend", "local"]


def test_asr_sh_rejects_an_unknown_backend(tmp_path):
    proc = subprocess.run([str(ASR_SH), "--train_set", "a", "--valid_set", "b", "--stage", "7"], cwd=tmp_path,
                          env=dict(ENV, cmd_backend="pbs"), capture_output=True, text=True)
    assert proc.returncode == 1 and "ERROR: cmd_backend must be local or slurm, got 'pbs'" in proc.stderr


def test_asr_sh_rejects_a_cmd_sh_without_a_launcher(tmp_path):
    (tmp_path / "cmd.sh").write_text(f'cmd_backend=local\ntrain_cmd="{LAUNCH} --backend local"\n')
    proc = subprocess.run([str(ASR_SH), "--train_set", "a", "--valid_set", "b", "--stage", "7"], cwd=tmp_path,
                          env=ENV, capture_output=True, text=True)
    assert proc.returncode == 1 and f"ERROR: {tmp_path}/cmd.sh does not set decode_cmd" in proc.stderr


@pytest.mark.slow
def test_asr_sh_decoding_runs_through_cmd_sh_and_names_a_failed_job(tmp_path):
    """Stage 6 sends its --inference_nj jobs through ./cmd.sh's decode_cmd; a failing job (here: a model that is
    not one) is named with its log, and no completion marker is left."""
    feats = tmp_path / "dump" / "fbank" / "test"
    feats.mkdir(parents=True)
    (feats / "feats.scp").write_text("u1 x.ark:1\nu2 x.ark:2\nu3 x.ark:3\n")
    (feats / "utt2lang").write_text("u1 en\nu2 en\nu3 en\n")
    (feats / ".done").write_text("done\n")
    exp = tmp_path / "exp" / "asr_fake"
    exp.mkdir(parents=True)
    (exp / "valid.acc.ave.pth").write_bytes(b"not a model")
    (exp / "config.yaml").write_text("not: [a config\n")
    (tmp_path / "decode.yaml").write_text("beam_size: 2\n")
    (tmp_path / "cmd.sh").write_text(f'cmd_backend=local\ntrain_cmd="{LAUNCH} --backend local"\n'
                                     f'decode_cmd="{LAUNCH} --backend local --max_jobs 1"\ntouch cmd.sh.sourced\n')
    proc = subprocess.run([str(ASR_SH), "--stage", "6", "--stop_stage", "6", "--train_set", "train",
                           "--valid_set", "dev", "--test_sets", "test", "--asr_tag", "fake", "--inference_nj", "2",
                           "--inference_config", "decode.yaml"], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=600)
    out = tmp_path / "exp" / "asr_fake" / "decode_decode_valid.acc.ave" / "test"
    assert proc.returncode == 1
    assert (tmp_path / "cmd.sh.sourced").exists()
    assert f"launch.py: ERROR: job 1 of 2 failed (exit status 1): see {out.relative_to(tmp_path)}/logdir/decode.1.log" \
        in proc.stderr
    assert "launch.py: ERROR: 2 of 2 job(s) failed" in proc.stderr
    assert "ERROR: decoding test failed" in proc.stderr
    log = (out / "logdir" / "decode.1.log").read_text()
    assert "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 " in log.splitlines()[0] and f"{out.name}/logdir/keys.1 " in log
    assert not (out / ".done").exists()


# ------------------------------------------------------------------------------------------------ slurm backend

@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster for this module's slurm tests; skipped, with the daemon's words, if none starts."""
    cluster = OneNodeSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except ClusterUnavailable as e:
        pytest.skip(f"no one-node Slurm cluster here: {e}")
    yield cluster
    cluster.stop()


def recipe_launcher(slurm, cmd_var, *args, cwd, timeout=180, wait=True):
    """${cmd_var} of egs/synth_longtail/asr1/cmd.sh with cmd_backend=slurm, run with args in cwd."""
    script = f'. {REPO}/egs/synth_longtail/asr1/cmd.sh && exec ${{{cmd_var}}} "$@"'
    cmd = ["bash", "-c", script, "-", *map(str, args)]
    env = dict(slurm.env, PATH=ENV["PATH"], cmd_backend="slurm")
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slurm
def test_slurm_array_through_the_recipes_cmd_sh(slurm, tmp_path):
    proc = recipe_launcher(slurm, "decode_cmd", "--mem", "50M", "--cpus", "1", "JOB=1:3", "log/x.JOB.log",
                           'echo "task JOB $SLURM_ARRAY_TASK_ID" > out.JOB; echo "said JOB"', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "sbatch --wait --parsable" in proc.stderr and "--array=1-3" in proc.stderr
    assert "--mem=50M --cpus-per-task=1" in proc.stderr
    for j in (1, 2, 3):
        assert (tmp_path / f"out.{j}").read_text() == f"task {j} {j}\n"  # JOB = the array task
        log = (tmp_path / "log" / f"x.{j}.log").read_text().splitlines()
        assert log[1].startswith("# slurm task ") and f"_{j} (job {j} of 3) on " in log[1]
        assert log[2] == f"said {j}" and "with exit status 0" in log[3]
    assert not slurm.jobs()


@pytest.mark.slurm
def test_slurm_failed_task_is_named_with_its_log(slurm, tmp_path):
    proc = recipe_launcher(slurm, "train_cmd", "JOB=1:3", "log/f.JOB.log",
                           "echo out JOB; if [ JOB = 2 ]; then echo boom >&2; exit 3; fi", cwd=tmp_path)
    assert proc.returncode == 1
    assert "failed (exit status 3): see log/f.2.log and log/q/f.2.out\n    out 2\n    boom\n" in proc.stderr
    assert "launch.py: ERROR: job 2 of 3 (Slurm task " in proc.stderr
    assert "launch.py: ERROR: 1 of 3 job(s) failed" in proc.stderr
    assert "with exit status 0" in (tmp_path / "log" / "f.3.log").read_text()


@pytest.mark.slurm
def test_killing_the_launcher_cancels_the_slurm_array(slurm, tmp_path):
    proc = recipe_launcher(slurm, "decode_cmd", "JOB=1:2", "log/k.JOB.log", "echo $$ > pid.JOB; exec sleep 300",
                           cwd=tmp_path, wait=False)
    pid_files = [tmp_path / "pid.1", tmp_path / "pid.2"]
    wait_for(lambda: all(f.exists() and f.read_text().strip() for f in pid_files), timeout=60,
             what="the array tasks to start")
    tasks = read_pids(pid_files)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "interrupted by signal 15; cancelled Slurm job k-" in err
    wait_for(lambda: not slurm.jobs(), timeout=60, what="the array to leave the queue")
    wait_for(lambda: not any(alive(p) for p in tasks), timeout=30, what="the tasks to die")


@pytest.mark.slurm
def test_asr_sh_stage2_runs_one_slurm_job_per_data_set(slurm, tmp_path):
    """Without a cmd.sh in its directory asr.sh takes cmd_backend from the environment; with slurm, stage 2 is one
    array with a job per distinct data set (dev is listed twice here)."""
    for s in ("train", "dev"):
        make_data_dir(tmp_path / "data" / s)
    (tmp_path / "data" / "lang_list.txt").write_text("en\nfr\nzh\n")
    proc = subprocess.run([str(ASR_SH), "--stage", "2", "--stop_stage", "2", "--nj", "1", "--train_set", "train",
                           "--valid_set", "dev", "--test_sets", "dev",
                           "--feats_conf", str(REPO / "conf" / "fbank_40.yaml")],
                          cwd=tmp_path, env=dict(slurm.env, PATH=ENV["PATH"], cmd_backend="slurm"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Stage 2: 2 data set(s) as slurm jobs" in proc.stderr and "--array=1-2" in proc.stderr
    logs = tmp_path / "dump" / "fbank" / "log"
    assert (logs / "sets.txt").read_text() == "train\ndev\n"
    for j, s in ((1, "train"), (2, "dev")):
        assert f"data set: {s}\n" in (logs / f"fbank.{j}.log").read_text()
        assert (tmp_path / "dump" / "fbank" / s / ".done").exists()
        assert (tmp_path / "dump" / "fbank" / s / "feats.scp").read_text().count("\n") == 4
