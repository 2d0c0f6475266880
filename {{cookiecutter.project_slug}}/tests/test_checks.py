"""The sanity checks (check.py): each one catches the bug it is for, and none of them
cries wolf on the shipped models.

Broken nets and data sources live in this module and are plugged in the way a user
plugs in their own: model.net._target_ / data.source._target_ (via this module's name).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import run_cli
from torch import nn

from {{cookiecutter.package_name}}.checks import CHECKS, before_training, run_checks, select
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule
from {{cookiecutter.package_name}}.user.nets import MLP
from {{cookiecutter.package_name}}.user.sources import load_breast_cancer, load_digits

HERE = __name__  # how Hydra finds the classes below: f"{HERE}.Times20"


def check(cfg, *ids):
    """Run the named checks; {id: Result}."""
    return {r.id: r for r in run_checks(cfg, ids=list(ids))}


# --------------------------------------------------------------------------- broken nets
class Times20(MLP):
    """Logits 20x too large: overconfident at init."""

    def forward(self, x):
        return 20 * super().forward(x)


class _HalfGradReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 0.5 * grad * (x > 0)  # wrong: the true derivative has no 0.5


class HalfGradReLU(nn.Module):
    def forward(self, x):
        return _HalfGradReLU.apply(x)


class WrongBackward(MLP):
    """A custom autograd Function whose backward is wrong."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.layers = nn.Sequential(*[HalfGradReLU() if isinstance(m, nn.ReLU) else m for m in self.layers])


class MixesBatch(MLP):
    """reshape where a transpose was meant: examples bleed into each other."""

    def forward(self, x):
        h = self.layers[:2](x)  # flatten, first linear: [B, F]
        h = h.reshape(h.shape[1], h.shape[0]).t()  # [B, F] again, but mixed across the batch
        return self.layers[2:](h)


class DetachedLayer(MLP):
    def forward(self, x):
        return self.layers[2:](self.layers[:2](x).detach())


class NoGradLayer(MLP):
    """The first layer computed under no_grad: frozen by accident."""

    def forward(self, x):
        with torch.no_grad():
            h = self.layers[:2](x)
        return self.layers[2:](h)


class FrozenFirstLayer(MLP):
    """requires_grad=False, as when freezing a pretrained backbone on purpose."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.layers[1].requires_grad_(False)


class IgnoresInput(MLP):
    def forward(self, x):
        return super().forward(torch.zeros_like(x))


class SoftmaxOutput(MLP):
    def forward(self, x):
        return super().forward(x).softmax(-1)


class SigmoidOutput(MLP):
    def forward(self, x):
        return torch.sigmoid(super().forward(x))


# --------------------------------------------------------------------------- broken data
def digits_with_duplicates():
    d = load_digits()
    return {"x": np.concatenate([d["x"], d["x"][:300]]), "y": np.concatenate([d["y"], d["y"][:300]])}


def digits_with_nan():
    d = load_digits()
    d["x"][::20, 0, 4, 4] = np.nan
    return d


def digits_with_label_10():
    d = load_digits()
    d["y"][::50] = 10
    return d


def imbalanced_binary():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.01).astype(np.int64)
    x = rng.normal(size=(2000, 5)).astype(np.float32) + 2.0 * y[:, None]
    return {"x": x, "y": y}


def breast_cancer_label_2():
    d = load_breast_cancer()
    d["y"][::40] = 2
    return d


class InOrderDataModule(FourSplitDataModule):
    def train_dataloader(self):
        return self.loader("train", shuffle=False)


def net(cls):
    return f"model.net._target_={HERE}.{cls}"


def source(fn):
    return f"data.source._target_={HERE}.{fn}"


# --------------------------------------------------------------------------- data checks
def test_nan_inputs_fail_finite(make_cfg):
    r = check(make_cfg(source("digits_with_nan")), "data.finite", "data.standardized", "model.gradient")
    assert r["data.finite"].status == "fail" and "NaN" in r["data.finite"].message
    assert r["data.standardized"].status == "skip"  # meaningless on NaN, so not run
    assert r["model.gradient"].status == "skip"


class LabelTenDataModule(FourSplitDataModule):
    """A hand-written data module that serves a label its task cannot have (class 9 as 10)."""

    def setup(self, stage=None):
        super().setup(stage)
        self._y = torch.where(self._y == 9, 10, self._y)


def test_labels_out_of_range_fail(make_cfg):
    r = check(make_cfg(f"data._target_={HERE}.LabelTenDataModule"), "data.labels_in_range", "model.initial_loss")
    assert r["data.labels_in_range"].status == "fail" and "[0, 10)" in r["data.labels_in_range"].message
    assert r["model.initial_loss"].status == "skip"


@pytest.mark.parametrize("data, fn", [("digits", "digits_with_label_10"), ("breast_cancer", "breast_cancer_label_2")])
def test_labels_outside_the_sources_classes_are_refused_before_any_check(make_cfg, data, fn):
    with pytest.raises(ConfigError, match=r"target\(s\) outside the source's \d+ classes"):
        check(make_cfg(f"data={data}", source(fn)), "data.labels_in_range")


def test_duplicates_across_splits_fail(make_cfg):
    r = check(make_cfg(source("digits_with_duplicates")), "data.disjoint_splits")["data.disjoint_splits"]
    assert r.status == "fail" and r.value > 0 and "train&" in r.message


def test_unscaled_inputs_warn_with_numbers(make_cfg):
    r = check(make_cfg("data=breast_cancer", "data.standardize=none"), "data.standardized")["data.standardized"]
    assert r.status == "warn" and abs(r.value["worst_mean"]) > 10 and "data.standardize=per_feature" in r.remedy


def test_unshuffled_train_loader_fails(make_cfg):
    r = check(make_cfg(f"data._target_={HERE}.InOrderDataModule"), "data.shuffled")["data.shuffled"]
    assert r.status == "fail" and r.value == {"train": False, "eval": True}


def test_dominant_class_warns_with_accuracy_paradox(make_cfg):
    overrides = ("data=breast_cancer", source("imbalanced_binary"), "data.input_shape=[5]")
    r = check(make_cfg(*overrides), "data.class_balance", "model.initial_loss")
    balance = r["data.class_balance"]
    assert balance.status == "warn" and balance.value["share"] > 0.95
    assert "accuracy" in balance.message and "balanced_accuracy" in balance.remedy and "weight" in balance.remedy
    # The output bias starts at the prior by default: the untrained loss is the prior's, not ln 2's
    assert r["model.initial_loss"].status == "pass" and r["model.initial_loss"].value["expected"] < 0.1
    off = check(make_cfg(*overrides, "model.output_bias_from_prior=false"), "model.initial_loss")
    # ln 2 at init is far above the loss of predicting 1%: start from the prior
    assert off["model.initial_loss"].status == "warn" and "output_bias_from_prior" in off["model.initial_loss"].remedy


# --------------------------------------------------------------------------- model checks
def test_wrong_output_size_fails_and_skips_the_rest(make_cfg):
    r = check(make_cfg("model.net.num_outputs=5"), "model.output_matches_task", "model.gradient")
    assert r["model.output_matches_task"].status == "fail" and "[batch, 10]" in r["model.output_matches_task"].message
    assert r["model.gradient"].status == "skip"


def test_softmax_in_forward_fails(make_cfg):
    r = check(make_cfg(net("SoftmaxOutput")), "model.output_matches_task")["model.output_matches_task"]
    assert r.status == "fail" and "softmax" in r.message


def test_sigmoid_in_forward_fails_on_a_binary_table(make_cfg):
    r = check(make_cfg("data=breast_cancer", net("SigmoidOutput")), "model.output_matches_task")
    assert r["model.output_matches_task"].status == "fail" and "sigmoid" in r["model.output_matches_task"].message


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_small_untrained_logits_are_not_taken_for_a_sigmoid_or_softmax(kind):
    """An untrained net's logits sit near its bias: a binary one started at logit(0.63) = 0.53
    with a small output layer puts every raw output in (0, 1), as a sigmoid would. The probe
    shifts the output layer's output, which moves raw logits and leaves a sigmoid's range."""
    from {{cookiecutter.package_name}}.checks.model_checks import activation_in_forward
    from {{cookiecutter.package_name}}.tasks import make_task

    outputs = 1 if kind == "binary" else 3
    task, clean = make_task(kind, 2 if kind == "binary" else 3), MLP([4], outputs, hidden=(8,))
    x = torch.randn(32, 4)
    with torch.no_grad():
        clean.layers[-1].weight.mul_(1e-6)
        clean.layers[-1].bias.fill_(0.53 if kind == "binary" else 0.0)
        if kind == "multiclass":  # logits whose rows happen to sum to 1
            clean.layers[-1].bias.copy_(torch.tensor([0.2, 0.3, 0.5]))
        assert task.activation_in_forward(clean(x))  # what the value test alone takes for an activation
    assert activation_in_forward(task, clean, x) is None
    wrapped = SigmoidOutput([4], 1, hidden=(8,)) if kind == "binary" else SoftmaxOutput([4], 3, hidden=(8,))
    assert activation_in_forward(task, wrapped, x)  # the planted activation is still caught


@pytest.mark.parametrize(
    "overrides",
    [
        ["data=digits", "model=cnn"],
        ["data=digits_multilabel", "model=cnn"],
        ["data=digits_imbalanced", "model=cnn"],
        ["data=digits_multilabel"],
        ["data=breast_cancer"],
        ["+experiment=regression_diabetes"],
    ],
    ids=lambda o: " ".join(o),
)
def test_shipped_nets_untouched_pass_output_and_initial_loss_checks(make_cfg, overrides):
    """Every task kind, MLP and CNN as shipped, the output bias at the prior (the default)."""
    r = check(make_cfg(*overrides), "model.output_matches_task", "model.initial_loss")
    assert {i: x.status for i, x in r.items()} == dict.fromkeys(r, "pass"), {i: x.message for i, x in r.items()}


def test_logits_times_20_fail_initial_loss(make_cfg):
    r = check(make_cfg(net("Times20")), "model.initial_loss")["model.initial_loss"]
    assert r.status == "fail" and r.value["mean"] > 1.2 * r.value["expected"]


def test_wrong_backward_fails_gradient_check(make_cfg):
    r = check(make_cfg(net("WrongBackward")), "model.gradient")["model.gradient"]
    assert r.status == "fail" and r.value > 0.1
    assert r.details["relative_error"]["layers.7.weight"] < 1e-4  # after the last bad ReLU: still right


def test_reshape_mixing_the_batch_fails_batch_independence(make_cfg):
    cfg = make_cfg(net("MixesBatch"))
    r = check(cfg, "model.batch_independence", "model.gradient")
    assert (
        r["model.batch_independence"].status == "fail" and r["model.batch_independence"].value["max_cross_gradient"] > 0
    )
    assert r["model.gradient"].status == "pass"  # the gradients are right: only the forward is wrong


@pytest.mark.parametrize("broken", ["DetachedLayer", "NoGradLayer"])
def test_cut_off_layer_fails_all_params_learn(make_cfg, broken):
    r = check(make_cfg(net(broken)), "model.all_params_learn", "model.gradient")
    learn = r["model.all_params_learn"]
    assert learn.status == "fail" and learn.details["unchanged"] == ["layers.1.weight"] and "detach" in learn.message
    assert r["model.gradient"].status == "fail"  # the loss depends on layers.1, yet no gradient arrives


def test_frozen_parameters_are_named(make_cfg):
    r = check(make_cfg(net("FrozenFirstLayer")), "model.all_params_learn")["model.all_params_learn"]
    assert r.status == "warn" and r.details["frozen"] == ["layers.1.weight"]


def test_model_ignoring_its_input_fails(make_cfg):
    r = check(make_cfg(net("IgnoresInput")), "model.batch_independence", "model.beats_baseline")
    assert r["model.batch_independence"].status == "fail" and "own input" in r["model.batch_independence"].message
    beats = r["model.beats_baseline"]
    assert beats.status == "fail" and beats.details["z"]["majority"] < 2


def test_zero_learning_rate_fails(make_cfg, tmp_path):
    r = {
        x.id: x
        for x in run_checks(
            make_cfg("optimizer.lr=0"),
            ids=["model.all_params_learn", "model.overfit_tiny", "train.learning_rate"],
            out_dir=tmp_path,
        )
    }
    assert r["model.all_params_learn"].status == "fail" and "learning rate is 0" in r["model.all_params_learn"].message
    assert r["model.overfit_tiny"].status == "fail" and "learning rate is 0" in r["model.overfit_tiny"].message
    assert r["train.learning_rate"].status == "fail"
    assert (tmp_path / "lr_range.png").stat().st_size > 1000


def test_learning_rate_far_above_stable_range_warns(make_cfg):
    r = check(make_cfg("optimizer.lr=3"), "train.learning_rate")["train.learning_rate"]
    assert r.status == "warn" and r.value["min_loss_lr"] < 1 and r.value["suggested"] < r.value["min_loss_lr"]


def test_overfit_tiny_fails_for_a_model_that_cannot_learn(make_cfg):
    r = check(make_cfg(net("IgnoresInput")), "model.overfit_tiny")["model.overfit_tiny"]
    assert r.status == "fail" and "Likely" in r.message


# --------------------------------------------------------------------------- no false alarms
CORRECT = {
    "mlp-digits": ("data=digits",),
    "cnn-digits": ("data=digits", "model=cnn"),
    "mlp-breast_cancer": ("data=breast_cancer",),
    "mlp-diabetes": ("+experiment=regression_diabetes",),
    "mlp-multilabel-digits": ("+experiment=multilabel_digits",),
}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_models_pass_every_check(make_cfg, tmp_path, name, seed):
    from {{cookiecutter.package_name}}.build import build_datamodule

    cfg = make_cfg(*CORRECT[name], f"seed={seed}")
    dm = build_datamodule(cfg)
    results = run_checks(cfg, datamodule=dm, out_dir=tmp_path)
    assert [r.id for r in results] == list(CHECKS)
    alarms = {r.id: (r.status, r.message) for r in results if r.status != "pass"}
    if dm.spec.task == "regression":
        assert alarms.pop("data.class_balance")[0] == "skip"
    assert alarms == {}
    assert dm.test_reads == 0  # the vault stays closed
    written = json.loads((tmp_path / "checks.json").read_text())
    assert [e["id"] for e in written] == list(CHECKS)


def test_a_regression_net_starting_at_zero_starts_at_the_mean(make_cfg):
    """Targets average 153 (std 79): standardized inside the task, an output of 0 is the mean."""
    r = check(make_cfg("+experiment=regression_diabetes"), "model.initial_loss")["model.initial_loss"]
    assert r.status == "pass" and math.isclose(r.value["expected"], r.value["prior"], rel_tol=0.05)


# --------------------------------------------------------------------------- selection, guards, entry points
def test_selection_only_skip_and_fast_subset():
    fast = select({"subset": "fast"})
    assert "model.gradient" in fast and "model.beats_baseline" not in fast and "train.learning_rate" not in fast
    assert select({"only": ["model.gradient"]}) == ["model.gradient"]
    assert select({"subset": "fast", "only": ["train.learning_rate"]}) == ["train.learning_rate"]  # ids run anyway
    assert select({"subset": "fast", "only": ["train"]}) == []  # a group stays inside the subset
    assert all(i.startswith("model.") for i in select({"only": ["model"], "skip": ["model.gradient"]}))
    assert "model.gradient" not in select({"skip": ["model.gradient"]})
    with pytest.raises(ConfigError, match="unknown check"):
        select({"only": ["model.nope"]})
    with pytest.raises(ConfigError, match="subset"):
        select({"subset": "some"})


def test_checks_never_read_test_and_keep_the_rng(make_cfg):
    from {{cookiecutter.package_name}}.checks import context_of

    cfg = make_cfg()
    ctx = context_of(cfg)
    with pytest.raises(ValueError, match="vault"):
        ctx.split("test")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    run_checks(cfg, ids=["model.initial_loss", "model.all_params_learn"])
    assert torch.equal(torch.rand(3), expected)  # training after the checks draws the same numbers


def test_train_runs_fast_checks_first_and_stops_on_failure(make_cfg, capsys):
    from {{cookiecutter.package_name}}.training.fit import train

    with pytest.raises(SystemExit) as stop:
        train(make_cfg("optimizer.lr=0"))
    assert stop.value.code == 1
    out = capsys.readouterr().out
    assert (
        "fast checks before training" in out
        and "FAIL model.all_params_learn" in out
        and "checks.before_train=false" in out
    )
    before_training(make_cfg("optimizer.lr=0", "checks.before_train=false"))  # off: no exit
    assert "off" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="before_train"):
        before_training(make_cfg("checks.before_train=sometimes"))


@pytest.mark.slow
def test_check_py_exit_codes_and_json(tmp_path):
    run = run_cli("check.py", "checks=fast", "optimizer.lr=0", "logger=none", f"hydra.run.dir={tmp_path}")
    assert run.returncode == 1, run.stderr[-2000:]
    assert "all_params_learn" in run.stdout and "FAIL" in run.stdout
    report = json.loads((tmp_path / "checks.json").read_text())
    assert [e["id"] for e in report] == select({"subset": "fast"})
    assert all({"id", "status", "value", "threshold", "message"} <= set(e) for e in report)
    assert {e["id"]: e["status"] for e in report}["model.all_params_learn"] == "fail"
    usage = run_cli("check.py", "checks.no_such_key=1")  # Hydra rejects it before any check runs
    assert usage.returncode == 2
