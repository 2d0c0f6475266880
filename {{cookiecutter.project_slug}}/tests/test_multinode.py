"""Two "nodes" on one host, as torchrun starts them on two machines: one CPU process each,
trainer=ddp_cpu trainer.num_nodes=2 trainer.devices=1, one shared run folder. Each example goes to
one rank per epoch, both ranks end with the same weights, rank 0 alone writes the reports, and
run_info.json records the world. The torchrun lines are the ones docs/scale.md shows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
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
