"""Training end to end: every config option, checkpoints, resume, reproducibility, DDP, sweeps."""

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import CONFIG_DIR, run_cli
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback

from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule
from {{cookiecutter.package_name}}.training.fit import build, train

# Short runs; the checks and error analysis have their own tests.
FAST = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "checks.before_train=false",
    "analysis.error_analysis=false",
]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def fit(make_cfg, *overrides, output_dir=None):
    return train(make_cfg(*FAST, *overrides, output_dir=output_dir))


# --------------------------------------------------------------------------- every option
CPU_OPTIONS = [
    *(f"optimizer={o}" for o in options("optimizer")),
    *(f"scheduler={o}" for o in options("scheduler")),
    *(f"regularizer=[{o}]" for o in options("regularizer")),
    "regularizer=[batch_norm,dropout,weight_decay,l1,input_noise,label_smoothing,early_stopping]",
    *(f"model={o}" for o in options("model")),
    *(f"logger={o}" for o in options("logger") if o != "wandb"),  # wandb: its own test below
    *(f"callbacks={o}" for o in options("callbacks")),
    *(f"debug={o}" for o in options("debug")),
    "trainer=cpu",
    "trainer=mixed_precision",
    "+experiment=cnn_digits",
    "+experiment=binary_breast_cancer",
    "+experiment=regression_diabetes",
    "+experiment=shifted_digits",
]


@pytest.mark.parametrize("override", CPU_OPTIONS)
def test_every_cpu_option_trains(make_cfg, override):
    summary = fit(make_cfg, override)
    values = [v for v in summary["scores"].values() if v is not None]
    assert len(values) == 3 and all(v == v for v in values), summary["scores"]  # three finite scores


@pytest.mark.parametrize("group", ["trainer", "data", "checks"])
def test_every_option_of_each_group_composes(group, tmp_path):
    """Also the GPU-only trainers (ddp, fsdp, gpu) that this CPU machine cannot fit with."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        for option in options(group):
            cfg = compose("train", overrides=[f"{group}={option}", f"paths.output_dir={tmp_path}"])
            assert cfg[group], f"{group}={option} composed to nothing"


def test_weighted_error_can_be_the_optimizing_metric(make_cfg):
    costs = "objective.class_costs=[1,1,1,1,1,1,1,1,1,10]"
    summary = fit(make_cfg, "objective.metric=weighted_error", "objective.mode=min", costs)
    assert all(0 <= v <= 1 for v in summary["scores"].values())
    with pytest.raises(ConfigError, match="needs objective.class_costs"):
        fit(make_cfg, "objective.metric=weighted_error", "objective.mode=min")


def test_fsdp_on_cpu_is_refused_in_one_line(make_cfg):
    with pytest.raises(ConfigError, match="FSDP refuses the CPU"):
        train(make_cfg("trainer=fsdp", "trainer.accelerator=cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("trainer", ["gpu", "ddp"])
def test_gpu_trainers_without_a_gpu_are_refused_in_one_line(make_cfg, trainer):
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU; use trainer=cpu"):
        train(make_cfg(f"trainer={trainer}"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("objective.metric=mae", "objective.metric='mae' is not measured for task multiclass"),
        ("objective.mode=min", "set objective.mode=max"),
        ("ckpt_path=/nonexistent/last.ckpt", "does not exist"),
        ("ckpt_path=/tmp", "is a directory; pass the .ckpt file in it"),
        ("optimizer.lr=-0.1", r"optimizer.lr=-0.1 must be >= 0"),
        ("data.splits={dev:0.2}", r"must be auto, kfold, or give train_dev, dev and test"),
        ("model.net.num_outputs=3", r"needs net outputs of shape \[batch, 10\]"),
        ("callbacks.last_checkpoint.every_s=-1", r"every_s=-1 is negative; use 0 to write last.ckpt every epoch"),
    ],
)
def test_bad_config_values_are_one_line_errors(make_cfg, override, message):
    with pytest.raises(ConfigError, match=message):
        fit(make_cfg, override)


@pytest.mark.slow
def test_cli_config_error_exits_2_with_one_line_and_overwrites_nothing(tmp_path):
    result = run_cli("train.py", "objective.metric=mae", f"hydra.run.dir={tmp_path / 'new'}", "logger=none")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: objective.metric='mae'")
    run_dir = tmp_path / "run"  # an earlier run's folder: refused before anything is read or written
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "best.ckpt").write_text("precious")
    result = run_cli("train.py", "objective.metric=mae", f"hydra.run.dir={run_dir}", "logger=none")
    assert result.returncode == 2 and "holds an earlier run" in result.stderr.strip().splitlines()[-1]
    assert (run_dir / "checkpoints" / "best.ckpt").read_text() == "precious"


# --------------------------------------------------------------------------- checkpoints
def test_checkpoints_load_with_weights_only_and_carry_the_standardization(make_cfg, tmp_path):
    summary = fit(make_cfg, "model=cnn")
    for path in (summary["best_checkpoint"], summary["last_checkpoint"]):
        ckpt = torch.load(path, weights_only=True)
        assert set(ckpt["hyper_parameters"]) >= {"task", "num_classes"}
        stats = ckpt["FourSplitDataModule"]["standardizer"]
        assert stats["mode"] == "per_channel" and stats["mean"].numel() == 1
        assert stats["input_range"]["min"].shape == (1, 8, 8)  # for predict.py's extrapolation warning
    assert (tmp_path / "summary.json").is_file() and (tmp_path / "run_info.json").is_file()
    # best.ckpt is for evaluation (weights only, a third of the size with Adam); last.ckpt resumes
    assert "optimizer_states" not in torch.load(summary["best_checkpoint"], weights_only=True)
    assert torch.load(summary["last_checkpoint"], weights_only=True)["optimizer_states"][0]["state"]


def test_train_never_reads_the_test_split(make_cfg, monkeypatch):
    original = FourSplitDataModule._index  # every split lookup of the data interface

    def guarded(self, name):
        assert name != "test", "train.py opened the test vault"
        return original(self, name)

    monkeypatch.setattr(FourSplitDataModule, "_index", guarded)
    summary = fit(make_cfg)
    assert summary["test_split_reads"] == 0


# --------------------------------------------------------------------------- reproducibility
@pytest.mark.slow
def test_same_seed_same_metrics_other_seed_other_metrics(make_cfg, tmp_path):
    runs = [
        fit(make_cfg, f"seed={s}", "regularizer=[dropout]", output_dir=tmp_path / str(i))
        for i, s in enumerate([3, 3, 4])
    ]
    assert runs[0]["all_scores"] == runs[1]["all_scores"]
    assert runs[0]["all_scores"] != runs[2]["all_scores"]


def test_interrupted_run_resumes_to_the_same_result(make_cfg, tmp_path):
    """As a user does it: the resumed command gets a new output folder of its own, yet the
    run continues in the interrupted run's folder, with its best checkpoint as reference."""
    common = [
        "regularizer=[dropout]",
        "optimizer.lr=0.01",
        "checks.before_train=false",
        "analysis.error_analysis=false",
    ]
    straight = train(make_cfg(*common, "trainer.max_epochs=6", output_dir=tmp_path / "straight"))
    first = train(make_cfg(*common, "trainer.max_epochs=3", output_dir=tmp_path / "interrupted"))
    resumed = train(
        make_cfg(*common, "trainer.max_epochs=6", f"ckpt_path={first['last_checkpoint']}", output_dir=tmp_path / "new")
    )
    assert resumed["output_dir"] == str(tmp_path / "interrupted")
    a = torch.load(straight["last_checkpoint"], weights_only=True)
    b = torch.load(resumed["last_checkpoint"], weights_only=True)
    assert a["epoch"] == b["epoch"] == 5
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), f"{name} differs after resuming"
    best = [torch.load(r["best_checkpoint"], weights_only=True)["epoch"] for r in (straight, resumed)]
    assert best[0] == best[1], "the resumed run selected another checkpoint than the straight one"
    assert straight["all_scores"] == resumed["all_scores"]
    # the learning curves continue where the checkpoint left off: the same six epochs
    history = [json.loads((tmp_path / d / "history.json").read_text()) for d in ("straight", "interrupted")]
    assert [h["epoch"] for h in history[1]] == list(range(6))
    assert history[0] == history[1]


def test_resuming_with_another_model_is_a_one_line_error(make_cfg, tmp_path):
    first = fit(make_cfg, output_dir=tmp_path / "mlp")
    with pytest.raises(ConfigError, match="was saved by a different model; pass the same model/data overrides"):
        fit(make_cfg, "model=cnn", f"ckpt_path={first['last_checkpoint']}", output_dir=tmp_path / "cnn")


def test_last_checkpoint_is_the_latest_epoch_even_when_dev_stops_improving(make_cfg):
    summary = fit(make_cfg, "optimizer.lr=0", "trainer.max_epochs=3")  # dev never improves after epoch 0
    assert torch.load(summary["best_checkpoint"], weights_only=True)["epoch"] == 0
    assert torch.load(summary["last_checkpoint"], weights_only=True)["epoch"] == 2


def test_last_checkpoint_holds_the_epoch_early_stopping_ended_on(make_cfg):
    summary = fit(make_cfg, "optimizer.lr=0", "trainer.max_epochs=20", "regularizer=[early_stopping]",
                  "callbacks.early_stopping.patience=2")  # fmt: skip
    assert summary["epochs"] == 3  # epoch 0 is the best; 1 and 2 do not improve
    assert torch.load(summary["last_checkpoint"], weights_only=True)["epoch"] == 2


class EpochsOfLastCheckpoint(Callback):
    """Which epoch last.ckpt holds once each epoch's checkpoints are written: read at the next
    epoch's start and at the end (checkpoint callbacks run after the others at an epoch's end)."""

    def __init__(self, path: Path):
        self.path, self.seen = path, []

    def look(self, trainer):
        trainer.strategy.checkpoint_io.teardown()  # wait for the background write
        self.seen.append(torch.load(self.path, weights_only=True)["epoch"] if self.path.is_file() else None)

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch > 0:
            self.look(trainer)

    def on_train_end(self, trainer, pl_module):
        self.look(trainer)


@pytest.mark.parametrize("every_s, expected", [(0, [0, 1, 2, 3]), (3600, [None, None, None, 3])])
def test_last_checkpoint_every_epoch_or_after_every_s_seconds(make_cfg, tmp_path, every_s, expected):
    cfg = make_cfg(*FAST, "trainer.max_epochs=4", f"callbacks.last_checkpoint.every_s={every_s}", output_dir=tmp_path)
    datamodule, model, trainer = build(cfg)
    recorder = EpochsOfLastCheckpoint(tmp_path / "checkpoints" / "last.ckpt")
    trainer.callbacks.append(recorder)
    trainer.fit(model, datamodule=datamodule)
    assert recorder.seen == expected


# --------------------------------------------------------------------------- loggers
@pytest.mark.slow
def test_wandb_without_a_key_logs_offline(make_cfg, monkeypatch, tmp_path):
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no key anywhere
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    fit(make_cfg, "logger=wandb", "trainer.max_epochs=1")
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs, "wandb should have written an offline run"


def fit_and_read_epochs(make_cfg, out: Path, *overrides) -> tuple[list[dict], dict]:
    """history.json (the learning curves) and metrics.csv (the logger) of a 3-epoch run."""
    fit(make_cfg, "logger=csv", "trainer.max_epochs=3", "trainer.limit_train_batches=null", *overrides, output_dir=out)
    history = json.loads((out / "history.json").read_text())
    with open(out / "csv" / "metrics.csv") as f:
        logged = {}
        for row in csv.DictReader(f):
            logged.setdefault(int(row["epoch"]), {}).update({k: float(v) for k, v in row.items() if v and "/" in k})
    return history, logged


def test_each_epoch_is_recorded_and_logged_with_its_own_train_values(make_cfg, tmp_path):
    """history.json (the learning curves) and the logger get the same values for each epoch.
    A recorder that read the train metrics before they were published got the previous epoch's."""
    history, logged = fit_and_read_epochs(make_cfg, tmp_path)
    assert [h["epoch"] for h in history] == sorted(logged) == [0, 1, 2]
    for row in history:
        for key in ("train/loss", "train/accuracy", "train_dev/loss", "dev/accuracy"):
            assert row[key] == pytest.approx(logged[row["epoch"]][key], abs=1e-6), (row["epoch"], key)
    train_loss = [h["train/loss"] for h in history]
    assert train_loss == sorted(train_loss, reverse=True), "train loss should fall on this easy task"


class CountsByHand(Callback):
    """The epoch's accuracy and mean loss counted by hand from what each step returned, and dev's
    by a forward pass of its own over the whole split: what the published values must equal.
    Listed first in the callbacks it is given, to show that no order changes what it reads."""

    def __init__(self):
        self.train, self.by_epoch = [], {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train.append(((outputs["out"].argmax(1) == outputs["y"]).sum().item(), len(outputs["y"]),
                           outputs["task_loss"].item() * len(outputs["y"])))  # fmt: skip

    def on_train_epoch_end(self, trainer, pl_module):
        right, n, loss = (sum(v) for v in zip(*self.train))
        self.train = []
        pl_module.eval()
        with torch.no_grad():
            dev = [(pl_module.net(x).argmax(1) == y).sum().item() for x, y, _ in trainer.datamodule.loader("dev")]
        pl_module.train()
        published = {k: float(v) for k, v in trainer.callback_metrics.items() if "/" in k}
        self.by_epoch[trainer.current_epoch] = (
            right / n,
            loss / n,
            sum(dev) / trainer.datamodule.size("dev"),
            published,
        )


def test_epoch_metrics_are_what_a_count_by_hand_gives_whatever_the_callback_order(make_cfg, tmp_path):
    """Every split's metrics are computed one way (EpochMetrics), and build_trainer runs it before
    any other callback, even one listed ahead of it: the values a callback reads at an epoch's end
    are that epoch's, equal to counting each step's outputs by hand (train, in train mode as it
    trained) and to a forward pass of its own over dev (eval mode)."""
    from {{cookiecutter.package_name}}.build import build_trainer
    from {{cookiecutter.package_name}}.training.callbacks.epoch_metrics import EpochMetrics

    cfg = make_cfg(*FAST, "trainer.max_epochs=3", "trainer.limit_train_batches=null", output_dir=tmp_path)
    datamodule, model, _ = build(cfg)
    by_hand, metrics = CountsByHand(), EpochMetrics()
    trainer = build_trainer(cfg, callbacks=[by_hand, metrics], logger=False, enable_checkpointing=False)
    assert (
        trainer.callbacks[:2] == [metrics, by_hand] and sum(isinstance(c, EpochMetrics) for c in trainer.callbacks) == 1
    )
    trainer.fit(model, datamodule=datamodule)
    assert sorted(by_hand.by_epoch) == [0, 1, 2]
    for epoch, (train_accuracy, train_loss, dev_accuracy, published) in by_hand.by_epoch.items():
        assert published["train/accuracy"] == pytest.approx(train_accuracy, abs=1e-6), epoch
        assert published["train/loss"] == pytest.approx(train_loss, rel=1e-5), epoch
        assert published["dev/accuracy"] == pytest.approx(dev_accuracy, abs=1e-6), epoch
    assert {"train_dev/f1", "dev/loss", "train/balanced_accuracy"} <= set(published)
    # A trainer built with no callbacks of the config still computes them, first.
    none = make_cfg(
        *FAST, "callbacks=none", "objective.metric=accuracy", "objective.mode=max", output_dir=tmp_path / "none"
    )
    bare = build_trainer(none)
    assert [type(c) for c in bare.callbacks[:1]] == [EpochMetrics]


def test_resolved_config_is_logged(make_cfg, tmp_path):
    fit(make_cfg, "logger=csv", "optimizer=sgd")
    hparams = (tmp_path / "csv" / "hparams.yaml").read_text()
    assert "torch.optim.SGD" in hparams and "momentum: 0.9" in hparams


# --------------------------------------------------------------------------- the command line
@pytest.mark.slow
def test_cli_trains_on_two_cpu_processes_inside_a_two_job_multirun(tmp_path):
    """ddp under -m: each job runs once, with 2 ranks; no child starts a sweep of its own."""
    sweep_dir = tmp_path / "multirun"
    result = run_cli(
        "train.py", "-m", "trainer=ddp_cpu", "optimizer=adam,sgd", *FAST, "logger=csv",
        f"hydra.sweep.dir={sweep_dir}", "hydra.run.dir=" + str(tmp_path / "stray"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    for job in jobs:
        assert (sweep_dir / job / "summary.json").is_file()
        assert (sweep_dir / job / "train_ddp_process_1.log").is_file(), "rank 1 did not run in this job's dir"
    assert not (tmp_path / "stray").exists(), "a child rank wrote outside its job"
    assert result.stdout.count("of the selected checkpoint") == 2
