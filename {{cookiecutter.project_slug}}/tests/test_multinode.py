"""Two "nodes" on one host, as torchrun starts them on two machines: one CPU process each,
trainer=ddp_cpu trainer.num_nodes=2 trainer.devices=1, one shared run folder. Each example goes to
one rank per epoch, both ranks end with the same weights, rank 0 alone writes the reports, and
run_info.json records the world. The torchrun lines are the ones docs/scale.md shows."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import PROJECT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(node_rank: int, port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
            f"--node-rank={node_rank}", "--master-addr=127.0.0.1", f"--master-port={port}",
            str(PROJECT / "train.py"), *args]  # fmt: skip


@pytest.mark.slow
def test_two_nodes_train_one_run_each_example_once_per_epoch_same_weights(tmp_path):
    run, probe, port = tmp_path / "run", tmp_path / "probe", free_port()
    args = ["trainer=ddp_cpu", "trainer.num_nodes=2", "trainer.devices=1", "trainer.max_epochs=2", "logger=csv",
            f"hydra.run.dir={run}", "+callbacks.probe._target_=ddp_probe.RecordExamples", f"+callbacks.probe.out={probe}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT / "tests")]),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    nodes = [subprocess.Popen(torchrun(r, port, *args), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in (0, 1)]  # fmt: skip
    outputs = [n.communicate(timeout=600)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outputs[0][-3000:] + "\n----\n" + outputs[1][-3000:]

    info = json.loads((run / "run_info.json").read_text())
    assert (info["world_size"], info["num_nodes"], info["devices_per_node"]) == (2, 2, 1)
    train_n = json.loads((run / "diagnosis.json").read_text())["scores"]["train"]["n"]
    for epoch in (0, 1):
        seen = [[int(i) for i in (probe / f"rank{r}_epoch{epoch}.txt").read_text().split()] for r in (0, 1)]
        # 1257 examples over 2 ranks: one is dealt twice, the wrap-around that gives both ranks 629 steps' worth
        shared = set(seen[0]) & set(seen[1])
        assert len(shared) <= 1 and len(seen[0]) == len(seen[1]), f"epoch {epoch}: {len(shared)} examples on both ranks"
        assert len(set(seen[0]) | set(seen[1])) == train_n, f"epoch {epoch}: examples left out"
    weights = [(probe / f"rank{r}_weights.txt").read_text() for r in (0, 1)]
    assert weights[0] == weights[1], "the ranks ended with different weights"
    assert len(list(run.glob(".hydra/config.yaml"))) == 1 and (run / "checks.json").is_file()
    assert "summary" in outputs[0] and "Diagnosis" not in outputs[1], "rank 0 alone reports"

    # Resumed on both nodes with the checkpoint alone (its run's overrides, its folder), one epoch more
    config = (run / ".hydra" / "config.yaml").read_text()
    resume = [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "trainer.max_epochs=3"]
    port = free_port()
    nodes = [subprocess.Popen(torchrun(r, port, *resume), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in (0, 1)]  # fmt: skip
    outputs = [n.communicate(timeout=600)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outputs[0][-3000:] + "\n----\n" + outputs[1][-3000:]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3
    assert (probe / "rank0_epoch2.txt").is_file() and (probe / "rank1_epoch2.txt").is_file()
    assert (run / ".hydra" / "config.yaml").read_text() == config, "the run's own config stays as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe", "run"], "no other run folder was made"


def test_several_nodes_without_one_shared_run_folder_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(PROJECT / "train.py"), "trainer=ddp_cpu", "trainer.num_nodes=2"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip().startswith("error: trainer.num_nodes=2 needs one run folder")
    assert len(done.stderr.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


# Preemption across nodes: whichever rank is signalled, every rank stops after the same batch (they
# agree at each batch end, training/callbacks/preemption.py), rank 0 writes one complete last.ckpt, and the same two-node
# launch with ckpt_path= goes on from there to the result of an uninterrupted run.
PREEMPT = ["trainer=ddp_cpu", "trainer.num_nodes=2", "trainer.devices=1", "trainer.max_epochs=2", "logger=csv",
           "checks.before_train=false", "analysis.error_analysis=false", "callbacks.last_checkpoint.every_s=0",
           "trainer.enable_progress_bar=false"]  # fmt: skip
STOP_STEP = 14  # digits: 10 steps per epoch on each of 2 ranks, so inside the second epoch


def two_nodes(cwd, *args: str) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT / "tests")]),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    port = free_port()
    return [subprocess.Popen(torchrun(r, port, *args), cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for r in (0, 1)]  # fmt: skip


def children(pid: int) -> list[int]:
    """The processes `pid` started (torchrun's workers run in sessions of their own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def finish(nodes: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    """Both nodes' output; a hang (a rank waiting for one that has gone) fails the test, after killing them."""
    try:
        return [n.communicate(timeout=timeout)[0] for n in nodes]
    except subprocess.TimeoutExpired:
        for n in nodes:
            for pid in [*children(n.pid), n.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        pytest.fail(f"the nodes did not stop within {timeout} s: a rank waits for another")


def worker_exit_codes(output: str) -> list[int]:
    return [int(code) for code in re.findall(r"failed \(exitcode: (-?\d+)\)", output)]


def weights(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("straight")
    outputs = finish(two_nodes(folder, *PREEMPT, f"hydra.run.dir={folder / 'run'}"))
    assert "summary" in outputs[0], outputs[0][-3000:]
    return weights(folder / "run"), json.loads((folder / "run" / "history.json").read_text())


def resumed_to_the_end(tmp_path, run: Path, uninterrupted, folders=("run",)) -> None:
    outputs = finish(two_nodes(tmp_path, f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"))
    assert "summary" in outputs[0] and worker_exit_codes(outputs[0] + outputs[1]) == [], outputs[0][-3000:]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2
    result = weights(run)
    assert all(torch.equal(t, result[k]) for k, t in uninterrupted[0].items()), "resumed weights differ"
    assert json.loads((run / "history.json").read_text()) == uninterrupted[1]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(folders), "no other run folder was made"


@pytest.mark.slow
def test_one_node_signalled_stops_every_node_after_the_same_batch_and_resumes(uninterrupted, tmp_path):
    run = tmp_path / "run"
    fault = ["+callbacks.fault._target_=fault_points.SignalAtStep", f"+callbacks.fault.step={STOP_STEP}",
             "+callbacks.fault.signal_name=SIGUSR1", "+callbacks.fault.rank=1",
             f"+callbacks.fault.marker={tmp_path / 'fired'}"]  # fmt: skip
    every_batch = "callbacks.preemption.agree_every_s=0"  # the ranks agree at every batch end: an exact step
    outputs = finish(two_nodes(tmp_path, *PREEMPT, *fault, every_batch, f"hydra.run.dir={run}"))
    assert worker_exit_codes(outputs[0]) == worker_exit_codes(outputs[1]) == [138], "128 + SIGUSR1 on each node"
    at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]  # complete: it loads
    assert at in (STOP_STEP, STOP_STEP + 1)  # the signal lands in batch STOP_STEP's end hooks
    for output in outputs:  # rank 0 was not signalled: it stops on rank 1's signal, after the same batch
        assert f"stopped by SIGUSR1 after step {at} (epoch 1); wrote {run / 'checkpoints' / 'last.ckpt'}" in output
    assert [p.name for p in (run / "checkpoints").glob("last*")] == ["last.ckpt"]
    resumed_to_the_end(tmp_path, run, uninterrupted)


@pytest.mark.slow
def test_a_scheduler_signalling_every_node_stops_them_together_and_they_resume(uninterrupted, tmp_path):
    """As Kubernetes or SLURM stop a job: SIGTERM to every node's launcher; torchrun passes it on to its workers."""
    run, probe = tmp_path / "run", tmp_path / "probe"
    nodes = two_nodes(tmp_path, *PREEMPT, f"hydra.run.dir={run}", "+callbacks.probe._target_=ddp_probe.RecordExamples",
                      f"+callbacks.probe.out={probe}")  # fmt: skip
    deadline = time.monotonic() + 180
    while not (probe / "rank0_epoch1.txt").is_file() and time.monotonic() < deadline and nodes[0].poll() is None:
        time.sleep(0.05)
    for n in nodes:
        n.send_signal(signal.SIGTERM)
    outputs = finish(nodes)
    # torchrun passed SIGTERM on to its worker and waited for it (30 s at most), then exits 1 itself
    assert [n.returncode for n in nodes] == [1, 1] and all("got signal: 15" in o for o in outputs), outputs[0][-3000:]
    at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert at >= 10, "stopped after the signal"  # within about agree_every_s (0.5 s) of it
    for output in outputs:  # both after the same batch
        assert f"stopped by SIGTERM after step {at} (epoch " in output
    resumed_to_the_end(tmp_path, run, uninterrupted, folders=("probe", "run"))


# srun without SLURM: Lightning's SLURMEnvironment reads only variables, so two processes given the
# ones srun sets in a 2-node job with one task per node are the job's two tasks. The node list is in
# SLURM's range form; its first name (127.0.0.1) is the main address, with no scontrol needed.
def srun_line() -> str:
    """The srun line docs/scale.md shows for several machines, on the CPU: one task (device) per node."""
    text = (PROJECT / "docs" / "scale.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("srun python train.py trainer=ddp trainer.num_nodes"))
    line = line.removeprefix("srun ").replace("trainer=ddp ", "trainer=ddp_cpu ").replace("devices=4", "devices=1")
    return line.replace("train.py", str(PROJECT / "train.py"), 1)


def free_slurm_job_id() -> str:
    """A job id whose port (Lightning: 15000 + its last 4 digits) is free here."""
    for suffix in random.Random().sample(range(10000), 200):
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", 15000 + suffix))
            return f"77{suffix:04d}"
    raise RuntimeError("no free port in 15000-24999")


def srun_tasks(cwd: Path, job: str, *extra: str, env: dict | None = None) -> list[subprocess.Popen]:
    common = {"SLURM_JOB_ID": job, "SLURM_JOBID": job, "SLURM_JOB_NAME": "train.sbatch", "SLURM_NTASKS": "2",
              "SLURM_NPROCS": "2", "SLURM_NNODES": "2", "SLURM_JOB_NUM_NODES": "2", "SLURM_NTASKS_PER_NODE": "1",
              "SLURM_TASKS_PER_NODE": "1(x2)", "SLURM_NODELIST": "127.0.0.[1-2]", "SLURM_JOB_NODELIST": "127.0.0.[1-2]",
              "SLURM_LOCALID": "0", "OMP_NUM_THREADS": "1",
              "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT / "tests")])}  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "RANK", "WORLD_"))}
    line = " ".join([srun_line().replace("python ", f"{sys.executable} ", 1), *extra])
    return [subprocess.Popen(["bash", "-c", line], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**base, **common, **(env or {}), "SLURM_PROCID": str(r), "SLURM_NODEID": str(r)})
            for r in (0, 1)]  # fmt: skip


@pytest.mark.slow
def test_the_srun_line_trains_one_run_on_two_nodes_and_a_preempted_job_requeues_and_resumes(uninterrupted, tmp_path):
    bin_dir = tmp_path / "bin"  # a stand-in scontrol that records what it is asked
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    quick = ["checks.before_train=false", "analysis.error_analysis=false", "trainer.max_epochs=2", "logger=csv"]

    job = free_slurm_job_id()
    outputs = finish(srun_tasks(tmp_path, job, *quick, env=path))
    run = tmp_path / "outputs" / f"slurm-{job}"
    assert "summary" in outputs[0] and "Diagnosis" not in outputs[1], outputs[0][-3000:] + outputs[1][-3000:]
    info = json.loads((run / "run_info.json").read_text())
    assert (info["world_size"], info["num_nodes"], info["devices_per_node"]) == (2, 2, 1)
    assert info["ranks"]["SLURM_PROCID"] == "0" and info["environment"] == "SLURMEnvironment"
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == [f"slurm-{job}"]
    assert not (tmp_path / "scontrol.log").exists(), "a job that finished requeued itself"

    # --signal=USR1@90 signals every task of the job; rank 0 alone requeues; the restarted job resumes by itself
    job = free_slurm_job_id()
    run = tmp_path / "outputs" / f"slurm-{job}"
    fault = [*PREEMPT[4:], "+callbacks.fault._target_=fault_points.SignalAtStep", f"+callbacks.fault.step={STOP_STEP}",
             "+callbacks.fault.signal_name=SIGUSR1", f"+callbacks.fault.marker={tmp_path / 'fired'}"]  # fmt: skip
    outputs = finish(srun_tasks(tmp_path, job, "trainer.max_epochs=2", *fault, env=path))
    assert f"SLURM job {job} requeued" in outputs[0] and "requeued" not in outputs[1], outputs[0][-3000:]
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", job]
    outputs = finish(
        srun_tasks(tmp_path, job, "trainer.max_epochs=2", *fault, env={**path, "SLURM_RESTART_COUNT": "1"})
    )
    assert f"SLURM job {job} restarted (1): resuming" in outputs[0] and "summary" in outputs[0], outputs[0][-3000:]
    result = weights(run)
    assert all(torch.equal(t, result[k]) for k, t in uninterrupted[0].items()), "resumed weights differ"
    assert json.loads((run / "history.json").read_text()) == uninterrupted[1]
