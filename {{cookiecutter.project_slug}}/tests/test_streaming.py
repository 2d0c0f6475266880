"""Data larger than memory: prepare_data.py writes the four splits as LitData shards, and
train, check, diagnose, evaluate and predict work on them as on any data; shuffling is
seeded, sharded over workers and DDP ranks, and a killed run resumes to the same result."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PROJECT, run_cli
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from {{cookiecutter.package_name}}.build import build_datamodule, prepare_streaming
from {{cookiecutter.package_name}}.checks import run_checks
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.examples import write_example_table
from {{cookiecutter.package_name}}.data.streaming import StreamingDataModule
from {{cookiecutter.package_name}}.evaluation.end_of_run import diagnose_checkpoint
from {{cookiecutter.package_name}}.evaluation.new_inputs import predict_file
from {{cookiecutter.package_name}}.training.fit import train
from {{cookiecutter.package_name}}.vault.final_evaluation import evaluate

# train = 1797 - 180 - 180 - 157 = 1280 digits: 20 batches of 64, 10 per rank under DDP
SPLITS = "data.splits={train_dev:0.0876,dev:0.1,test:0.1}"
QUIET = ["logger=none", "trainer.enable_progress_bar=false"]
FAST = [*QUIET, "checks.before_train=false", "analysis.error_analysis=false", "callbacks.last_checkpoint.every_s=0"]


def compose_cfg(*overrides: str, out: Path | None = None):
    with initialize_config_dir(str(PROJECT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={out or '/nonexistent'}", *QUIET, *overrides])
    if out is not None:  # what train.py's Hydra writes; load_run reads it
        (out / ".hydra").mkdir(parents=True, exist_ok=True)
        (out / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return cfg


def streamed(folder, *overrides: str, out: Path | None = None):
    return compose_cfg("data=streaming", f"data.dir={folder}", *overrides, out=out)


def batches_by_index(loader) -> tuple:
    x, y, index = (torch.cat(t) for t in zip(*loader))
    order = index.argsort()
    return x[order], y[order], index[order]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "digits"
    prepare_streaming(compose_cfg(SPLITS), str(out))
    return out


@pytest.fixture(scope="module")
def in_memory():
    return build_datamodule(compose_cfg(SPLITS))


class WatchedSplits:
    """Records every split opened through StreamingDataModule's one door (`_open`)."""

    def __init__(self):
        self.opened: list[str] = []

    def __enter__(self):
        self.patch, original = pytest.MonkeyPatch(), StreamingDataModule._open

        def watched(dm, split):
            self.opened.append(split)
            return original(dm, split)

        self.patch.setattr(StreamingDataModule, "_open", watched)
        return self

    def __exit__(self, *exc):
        self.patch.undo()


# --------------------------------------------------------------------------- prepare_data.py
def test_prepare_writes_each_split_as_its_own_litdata_dataset_with_the_spec(prepared, in_memory):
    from litdata import StreamingDataset

    spec = json.loads((prepared / "spec.json").read_text())
    for split in ("train", "train_dev", "dev", "test"):
        assert len(StreamingDataset(str(prepared / split))) == in_memory.size(split) == spec["splits"][split]["count"]
    assert spec["state"]["spec"] == in_memory.spec.to_dict()
    assert spec["state"]["standardizer"]["mean"] == in_memory.standardizer.mean.tolist()  # fitted on train, saved
    assert len(list((prepared / "train").glob("chunk-*.bin"))) >= 16  # LitData shuffles and shards by chunk


def test_streamed_splits_serve_exactly_what_the_in_memory_module_serves(prepared, in_memory):
    dm = build_datamodule(streamed(prepared))
    assert dm.spec == in_memory.spec
    for split in ("train", "train_dev", "dev"):
        for a, b in zip(batches_by_index(dm.loader(split)), batches_by_index(in_memory.loader(split))):
            assert torch.equal(a, b), split
        assert torch.equal(dm.targets(split).sort().values, in_memory.targets(split).sort().values)
        assert len(dm.fingerprints(split)) == dm.size(split) == in_memory.size(split)
    x, y, index = dm.sample("dev", 50, seed=3)
    mx, my = in_memory.examples(index)
    assert len(set(index.tolist())) == 50 and torch.equal(x, mx) and torch.equal(y, my)
    assert torch.equal(dm.examples(index[:7])[0], mx[:7])
    assert [d["example"] for d in dm.describe(index[:5])] == [d["example"] for d in in_memory.describe(index[:5])]


def test_a_cloud_style_url_streams_the_same_examples(prepared, tmp_path):
    """data.dir takes LitData's URLs (s3://, gs://, ...); `local:` goes through the same download path."""
    local = build_datamodule(streamed(prepared))
    remote = build_datamodule(streamed(f"local:{prepared}", f"data.cache_dir={tmp_path / 'cache'}"))
    for a, b in zip(batches_by_index(remote.loader("dev")), batches_by_index(local.loader("dev"))):
        assert torch.equal(a, b)
    assert remote.fingerprints("train_dev") == local.fingerprints("train_dev")


def test_prepare_refuses_a_non_empty_folder_and_replaces_only_a_prepared_dataset(prepared, tmp_path):
    cfg = compose_cfg("data=breast_cancer")
    with pytest.raises(ConfigError, match=r"is not empty; choose a new directory, or pass overwrite=true"):
        prepare_streaming(cfg, str(prepared))
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="holds no prepared dataset"):
        prepare_streaming(cfg, str(other), overwrite=True)
    assert (other / "mine.txt").read_text() == "keep me" and sorted(os.listdir(tmp_path)) == ["notes"]
    again = tmp_path / "again"
    prepare_streaming(cfg, str(again))
    first = json.loads((again / "spec.json").read_text())["id"]
    prepare_streaming(compose_cfg("data=breast_cancer", "data.split_seed=1"), str(again), overwrite=True)
    assert json.loads((again / "spec.json").read_text())["id"] != first
    assert sorted(os.listdir(tmp_path)) == ["again", "notes"]  # no partial or old copy left behind


@pytest.mark.slow
def test_prepare_cli_shows_progress_and_refuses_in_one_line(prepared, tmp_path):
    result = run_cli(
        "prepare_data.py", "data=diabetes", f"out={tmp_path / 'diabetes'}", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "100%" in result.stderr and "train_dev" in result.stdout + result.stderr
    result = run_cli("prepare_data.py", "data=diabetes", f"out={prepared}", f"hydra.run.dir={tmp_path / 'run2'}")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("error: out=") and "overwrite=true" in result.stderr


# --------------------------------------------------------------------------- loading
def test_train_is_reshuffled_each_epoch_by_seed_and_eval_splits_keep_their_order(prepared):
    dm = build_datamodule(streamed(prepared))
    loader = dm.train_dataloader()
    epochs = [torch.cat([b[2] for b in loader]) for _ in range(2)]
    every = sorted(torch.cat([b[2] for b in dm.loader("train")]).tolist())
    assert all(sorted(e.tolist()) == every for e in epochs)
    assert not torch.equal(epochs[0], epochs[1])
    again = torch.cat([b[2] for b in build_datamodule(streamed(prepared)).train_dataloader()])
    assert torch.equal(again, epochs[0])  # the same seed, the same order
    other = torch.cat([b[2] for b in build_datamodule(streamed(prepared, "seed=7")).train_dataloader()])
    assert not torch.equal(other, epochs[0])
    index = torch.cat([b[2] for b in dm.loader("dev")])
    assert torch.equal(index, index.sort().values)


@pytest.mark.parametrize("batch_size", [64, 48])
def test_ranks_get_disjoint_shards_of_train_and_the_whole_eval_splits(prepared, monkeypatch, batch_size):
    """LitData reads the rank from the environment (as DDP sets it) when torch.distributed is
    not started. Ranks take equal steps: train examples beyond a multiple of ranks x batch
    are left out of that epoch (none with 1280 = 2 x 10 x 64); eval splits are served whole."""
    seen = {}
    for rank in (0, 1):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("GLOBAL_RANK", str(rank))
        dm = build_datamodule(streamed(prepared, f"data.batch_size={batch_size}"))
        seen[rank] = {
            "train": [b[2] for b in dm.train_dataloader()],
            "dev": torch.cat([b[2] for b in dm.loader("dev")]),
        }
    steps = [len(seen[r]["train"]) for r in (0, 1)]
    train = [torch.cat(seen[r]["train"]).tolist() for r in (0, 1)]
    assert steps[0] == steps[1] and not set(train[0]) & set(train[1])
    assert len(set(train[0] + train[1])) == len(train[0] + train[1])  # nothing twice
    left_out = 1280 - len(train[0] + train[1])
    assert (
        left_out == (0 if batch_size == 64 else 1280 - 2 * (1280 // batch_size // 2) * batch_size)
        and left_out < 2 * batch_size
    )
    dev = torch.cat([seen[0]["dev"], seen[1]["dev"]])
    assert sorted(dev.tolist()) == sorted(set(dev.tolist())) and len(dev) == dm.size("dev")


def test_no_training_batch_of_a_single_example(prepared):
    """Batch norm cannot train on one example: with 1280 = 1279 + 1 the lone one is left out."""
    sizes = [len(b[1]) for b in build_datamodule(streamed(prepared, "data.batch_size=1279")).train_dataloader()]
    assert sizes == [1279]
    assert [len(b[1]) for b in build_datamodule(streamed(prepared, "data.batch_size=1278")).train_dataloader()] == [
        1278,
        2,
    ]


def test_loader_workers_each_stream_their_own_chunks(prepared):
    dm = build_datamodule(streamed(prepared, "data.num_workers=2"))
    index = torch.cat([b[2] for b in dm.train_dataloader()])
    assert len(index) == 1280 and len(set(index.tolist())) == 1280


def test_the_final_model_streams_train_and_dev_together(prepared):
    dm = build_datamodule(streamed(prepared))
    both = sorted(torch.cat([b[2] for split in ("train", "dev") for b in dm.loader(split)]).tolist())
    dm.train_on_train_and_dev()
    assert dm.size("train") == len(both) and len(dm.targets("train")) == len(both)
    assert sorted(torch.cat([b[2] for b in dm.train_dataloader()]).tolist()) == both


# --------------------------------------------------------------------------- every command
@pytest.fixture(scope="module")
def run(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("streamed_run")
    cfg = streamed(prepared, "trainer.max_epochs=3", "checks.before_train=fast", out=out)
    with WatchedSplits() as access:
        summary = train(cfg)
    return out, cfg, summary, access.opened


def test_train_check_and_diagnose_work_on_streamed_shards_and_never_open_test(run, tmp_path):
    out, cfg, summary, opened = run
    assert summary["scores"]["dev"] > 0.8 and "test" not in opened and summary["test_split_reads"] == 0
    assert (out / "worst_mistakes.png").is_file() and (out / "checks.json").is_file()
    with WatchedSplits() as access:
        results = run_checks(cfg)
        diagnosis = diagnose_checkpoint(summary["best_checkpoint"], str(tmp_path / "diagnose"))
    assert {r.status for r in results} <= {"pass", "skip"}, [
        (r.id, r.status, r.message) for r in results if r.status != "pass"
    ]
    assert "test" not in access.opened and diagnosis["test_split_reads"] == 0
    assert diagnosis["scores"]["dev"]["n"] == 180 and (tmp_path / "diagnose" / "worst_mistakes.csv").is_file()


def test_evaluate_is_the_door_to_the_streamed_test_split_and_counts_it(run, tmp_path):
    out, cfg, summary, _ = run
    with WatchedSplits() as access:
        result = evaluate(
            [summary["best_checkpoint"]], tmp_path, ledger=tmp_path / "ledger.jsonl", out_dir=tmp_path / "eval"
        )
    assert result["scores"]["test"]["n"] == 180 and result["test_reads"] >= 1 and "test" in access.opened


def test_predict_reads_new_arrays_with_the_prepared_state_alone(run, tmp_path, prepared):
    out, cfg, summary, _ = run
    from sklearn.datasets import load_digits

    np.save(tmp_path / "new.npy", load_digits().images[:6].reshape(6, 1, 8, 8).astype(np.float32))
    moved = prepared.with_name("moved_away")
    prepared.rename(moved)  # predict needs the checkpoint only, not the shards
    try:
        result = predict_file(summary["best_checkpoint"], str(tmp_path / "new.npy"))
    finally:
        moved.rename(prepared)
    assert (
        result["n"] == 6
        and sum(r["prediction"] == str(d) for r, d in zip(result["rows"], load_digits().target[:6])) >= 4
    )


def test_read_new_uses_the_original_sources_fitted_state(tmp_path):
    """A table prepared for streaming reads new rows exactly as the in-memory table module does."""
    table = write_example_table(tmp_path / "animals.csv")
    data = ["data=table", f"data.path={table}", "data.target=animal"]
    prepare_streaming(compose_cfg(*data), str(tmp_path / "animals"))
    dm = build_datamodule(streamed(tmp_path / "animals"))
    x, names = dm.read_new(str(table))
    mx, mnames = build_datamodule(compose_cfg(*data)).read_new(str(table))
    assert torch.equal(x, mx) and names == mnames and dm.spec.source_kind == "table"


# --------------------------------------------------------------------------- DDP and resume
class SeenIndices(Callback):
    """Test helper (loaded by the CLI runs below): every train batch's example indices, per
    rank, to a file; with KILL_AT_EPOCH set, the process kills itself (SIGKILL) in that epoch."""

    def __init__(self, path: str):
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        with open(f"{self.path}.rank{trainer.global_rank}", "a") as f:
            f.write(json.dumps({"epoch": trainer.current_epoch, "index": batch[2].tolist()}) + "\n")
        if str(trainer.current_epoch) == os.environ.get("KILL_AT_EPOCH") and batch_idx == 3:
            os.kill(os.getpid(), signal.SIGKILL)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """run_cli, with the tests on the path so that the runs can load SeenIndices."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT / "tests")]), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def seen_per_epoch(path: Path) -> dict[int, list[int]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {e: [i for r in rows if r["epoch"] == e for i in r["index"]] for e in sorted({r["epoch"] for r in rows})}


@pytest.mark.slow
def test_ddp_cpu_streamed_fit_sees_every_train_example_once_per_epoch_across_both_ranks(prepared, tmp_path):
    result = cli(
        "train.py",
        "data=streaming",
        f"data.dir={prepared}",
        "trainer=ddp_cpu",
        "trainer.max_epochs=2",
        *FAST,
        f"hydra.run.dir={tmp_path / 'run'}",
        "+callbacks.seen._target_=test_streaming.SeenIndices",
        f"+callbacks.seen.path={tmp_path / 'seen'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [seen_per_epoch(tmp_path / f"seen.rank{r}") for r in (0, 1)]
    assert json.loads((prepared / "spec.json").read_text())["splits"]["train"]["count"] == 1280
    for epoch in (0, 1):
        both = ranks[0][epoch] + ranks[1][epoch]
        assert len(ranks[0][epoch]) == len(ranks[1][epoch]) == 640 and len(set(both)) == 1280, epoch
    assert ranks[0][0] != ranks[0][1]  # reshuffled for the second epoch
    assert json.loads((tmp_path / "run" / "diagnosis.json").read_text())["scores"]["dev"]["n"] == 180  # scored whole


@pytest.mark.slow
def test_a_killed_streamed_run_resumes_from_last_ckpt_to_the_uninterrupted_result(prepared, tmp_path):
    # the same overrides for all three runs (a resumed run must repeat its own); what differs is in the environment
    common = [
        "train.py",
        "data=streaming",
        f"data.dir={prepared}",
        "trainer.max_epochs=4",
        "regularizer=[dropout]",
        *FAST,
        "+callbacks.seen._target_=test_streaming.SeenIndices",
        "+callbacks.seen.path=${oc.env:SEEN_PATH}",
    ]
    straight = cli(
        *common, f"hydra.run.dir={tmp_path / 'straight'}", env={"SEEN_PATH": str(tmp_path / "straight_seen")}
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    killed = cli(
        *common,
        f"hydra.run.dir={tmp_path / 'killed'}",
        env={"SEEN_PATH": str(tmp_path / "killed_seen"), "KILL_AT_EPOCH": "2"},
    )
    assert killed.returncode == -signal.SIGKILL and not (tmp_path / "killed" / "summary.json").exists()
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # written at the end of epoch 1
    resumed = cli(
        *common,
        f"ckpt_path={last}",
        f"hydra.run.dir={tmp_path / 'resumed'}",
        env={"SEEN_PATH": str(tmp_path / "resumed_seen")},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    order = seen_per_epoch(tmp_path / "straight_seen.rank0")
    assert seen_per_epoch(tmp_path / "resumed_seen.rank0") == {2: order[2], 3: order[3]}  # the loader's own state
    a, b = (
        torch.load(p / "checkpoints" / "last.ckpt", weights_only=True)
        for p in (tmp_path / "straight", tmp_path / "killed")
    )
    assert a["epoch"] == b["epoch"] == 3
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    scores = [
        json.loads((p / "summary.json").read_text())["all_scores"] for p in (tmp_path / "straight", tmp_path / "killed")
    ]
    assert scores[0] == scores[1]


# --------------------------------------------------------------------------- bad input
@pytest.mark.slow
def test_a_folder_that_is_not_a_prepared_dataset_is_one_line_exit_2(tmp_path):
    (tmp_path / "images").mkdir()
    result = run_cli(
        "train.py", "data=streaming", f"data.dir={tmp_path / 'images'}", *FAST, f"hydra.run.dir={tmp_path / 'r'}"
    )
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr[-2000:]
    assert (
        "is not a dataset prepared by prepare_data.py" in result.stderr
        and "prepare_data.py data=<source> out=" in result.stderr
    )
    with pytest.raises(ConfigError, match="does not exist; prepare it with python prepare_data.py"):
        build_datamodule(streamed(tmp_path / "nowhere"))
    (tmp_path / "images" / "spec.json").write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="is not a version-1 prepared dataset spec"):
        build_datamodule(streamed(tmp_path / "images"))


def test_an_incomplete_prepared_dataset_is_refused(prepared, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(prepared, copy)
    (copy / "dev" / "index.json").unlink()
    with pytest.raises(ConfigError, match="is incomplete: dev/index.json is missing; prepare it again"):
        build_datamodule(streamed(copy))


@pytest.mark.slow
def test_shards_prepared_with_another_spec_than_the_config_are_refused(prepared, run, tmp_path):
    with pytest.raises(
        ConfigError, match=r"data.num_classes=3 but the shards in data.dir=.* were prepared with num_classes 10"
    ):
        build_datamodule(streamed(prepared, "data.num_classes=3"))
    with pytest.raises(ConfigError, match=r"data.input_shape=\[64\] but .* input_shape \[1, 8, 8\]"):
        build_datamodule(streamed(prepared, "data.input_shape=[64]"))
    other = tmp_path / "other"
    prepare_streaming(compose_cfg(SPLITS, "data.split_seed=1"), str(other))
    out, cfg, summary, _ = run
    dm = build_datamodule(streamed(other))  # the checkpoint's data is not what data.dir holds now
    with pytest.raises(ConfigError, match="the checkpoint was trained on other prepared data"):
        dm.load_state_dict(torch.load(summary["best_checkpoint"], weights_only=True)["StreamingDataModule"])
    result = run_cli(
        "train.py",
        "data=streaming",
        f"data.dir={prepared}",
        "data.task=regression",
        *FAST,
        f"hydra.run.dir={tmp_path / 'r'}",
    )
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr[-2000:]
    assert "data.task=regression but the shards" in result.stderr


@pytest.mark.parametrize("damage", ["missing", "cut short"])
def test_a_missing_or_cut_short_shard_is_one_line_naming_it_with_or_without_the_checks(prepared, tmp_path, damage):
    import shutil

    copy = tmp_path / "prepared"
    shutil.copytree(prepared, copy)
    chunk = sorted((copy / "dev").glob("chunk-*.bin"))[1]
    if damage == "missing":
        chunk.unlink()
    else:
        chunk.write_bytes(chunk.read_bytes()[:100])
    says = f"data.dir={copy}: the dev shard dev/{chunk.name} " + (
        "is missing" if damage == "missing" else "is 100 bytes"
    )
    with pytest.raises(ConfigError, match=re.escape(says)):
        build_datamodule(streamed(copy))
    for script in ("check.py", "train.py"):  # the checks read samples first; training the loaders
        done = run_cli(str(PROJECT / script), "data=streaming", f"data.dir={copy}", "logger=none",
                       f"hydra.run.dir={tmp_path / script}", cwd=tmp_path, timeout=300)  # fmt: skip
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and says in lines[0], done.stderr[-2000:]
        assert "prepare_data.py" in lines[0] and "overwrite=true" in lines[0]
