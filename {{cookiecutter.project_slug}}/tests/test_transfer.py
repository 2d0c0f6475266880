"""Transfer learning (M22): model.pretrained loads the backbone and leaves a new output layer,
model.freeze_epochs trains that layer alone first (finetune.FreezeBackbone), resumes keep it."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_train
from lightning.pytorch.callbacks import Callback

from {{cookiecutter.package_name}}.build import build, build_trainer
from {{cookiecutter.package_name}}.checks import run_checks
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.training.fit import train

QUIET = [
    "logger=none",
    "trainer.enable_progress_bar=false",
    "checks.before_train=false",
    "analysis.error_analysis=false",
    "analysis.label_issues=false",
    "analysis.near_duplicates=false",
    "analysis.mismatch_evidence=false",
]
FINETUNE = ["data=digits_finetune", "optimizer.lr=0.01"]  # digits 5-9: 5 classes, 41 training examples
HEAD = "layers.7"  # the default MLP's output layer: flatten, (linear, batch norm, relu) x 2, linear


def compose_cfg(out, *overrides):
    return compose_train(out, *QUIET, *overrides)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A run on all ten digits (a 10-wide output layer); returns the net's tensors and the files:
    its best.ckpt, a plain state_dict file and a {"state_dict": ...} file."""
    out = tmp_path_factory.mktemp("pretrain")
    summary = train(compose_cfg(out, "trainer.max_epochs=2", "trainer.limit_train_batches=5"))
    ckpt = summary["best_checkpoint"]
    net = {
        k[len("net.") :]: v
        for k, v in torch.load(ckpt, weights_only=True)["state_dict"].items()
        if k.startswith("net.")
    }
    assert net[f"{HEAD}.weight"].shape[0] == 10
    torch.save(net, out / "plain.pt")
    torch.save({"state_dict": net}, out / "wrapped.pt")
    return {"net": net, "ckpt": ckpt, "plain": str(out / "plain.pt"), "wrapped": str(out / "wrapped.pt")}


def prepared(cfg):
    datamodule, model, trainer = build(cfg)
    model.prepare(datamodule)  # what setup does for a fresh fit: output layer start, then the pretrained backbone
    return datamodule, model, trainer


# --------------------------------------------------------------------------- (a) loading
@pytest.mark.parametrize("fmt", ["ckpt", "plain", "wrapped"])
@pytest.mark.parametrize("data, width", [("digits_finetune", 5), ("digits", 10)])
def test_backbone_comes_from_the_file_and_the_output_layer_is_new(pretrained, tmp_path, capsys, fmt, data, width):
    _, model, _ = prepared(compose_cfg(tmp_path, f"data={data}", f"model.pretrained={pretrained[fmt]}"))
    ours = model.net.state_dict()
    backbone = [k for k in ours if not k.startswith(HEAD + ".")]
    assert len(backbone) == 12  # 2 linear weights, 2 batch norms x (weight, bias, mean, var, count)
    for k in backbone:
        assert torch.equal(ours[k], pretrained["net"][k]), f"{k} was not loaded from the file"
    head = ours[f"{HEAD}.weight"]
    assert head.shape == (width, 128)  # sized for this task's classes
    if width == 10:  # the same width as the file's: still not taken from it
        assert not torch.equal(head, pretrained["net"][f"{HEAD}.weight"])
    assert (
        f"12 tensors loaded from {pretrained[fmt]}; the output layer {HEAD} ({width} outputs) starts new"
        in capsys.readouterr().out
    )


# --------------------------------------------------------------------------- (b) one-line refusals
def refusal(cfg) -> str:
    with pytest.raises(ConfigError) as e:
        prepared(cfg)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_missing_unreadable_and_foreign_files_are_refused_in_one_line(tmp_path):
    message = refusal(compose_cfg(tmp_path, *FINETUNE, f"model.pretrained={tmp_path}/nope.ckpt"))
    assert message == (
        f"model.pretrained={tmp_path}/nope.ckpt does not exist; point it at a best.ckpt of an earlier run "
        "or a saved state_dict"
    )
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    assert "is not readable by torch.load(weights_only=True)" in refusal(
        compose_cfg(tmp_path, *FINETUNE, f"model.pretrained={tmp_path}/junk.ckpt")
    )
    torch.save({"encoder.weight": torch.zeros(3)}, tmp_path / "other.pt")
    assert "has no tensor named like this net's" in refusal(
        compose_cfg(tmp_path, *FINETUNE, f"model.pretrained={tmp_path}/other.pt")
    )


def test_a_backbone_of_another_shape_is_refused_naming_the_tensor(pretrained, tmp_path):
    message = refusal(
        compose_cfg(tmp_path, *FINETUNE, "model.net.hidden=[64,32]", f"model.pretrained={pretrained['ckpt']}")
    )
    assert "layers.1.weight has shape [256, 64] in the file but [64, 64] in this net" in message


@pytest.mark.parametrize(
    "override, says",
    [
        ("model.freeze_epochs=-1", "model.freeze_epochs=-1 must be >= 0"),
        ("model.backbone_lr_scale=0", "model.backbone_lr_scale=0 must be > 0"),
    ],
)
def test_bad_freeze_options_are_refused(tmp_path, override, says):
    with pytest.raises(ConfigError, match=says):
        build(compose_cfg(tmp_path, override))


# --------------------------------------------------------------------------- (c) FreezeBackbone
class Snapshots(Callback):
    """The net's tensors and the optimizer's param groups at the end of every training epoch."""

    def __init__(self):
        self.nets, self.groups = [], []

    def on_train_epoch_end(self, trainer, pl_module):
        self.nets.append({k: v.clone() for k, v in pl_module.net.state_dict().items()})
        self.groups.append([(g["lr"], {id(p) for p in g["params"]}) for g in trainer.optimizers[0].param_groups])


def test_backbone_stays_frozen_then_trains_at_the_scaled_lr(pretrained, tmp_path, capsys):
    cfg = compose_cfg(
        tmp_path,
        *FINETUNE,
        f"model.pretrained={pretrained['ckpt']}",
        "model.freeze_epochs=2",
        "model.backbone_lr_scale=0.1",
        "trainer.max_epochs=3",
    )
    datamodule, model, _ = build(cfg)
    snaps = Snapshots()
    build_trainer(cfg, callbacks=[snaps], logger=False, enable_checkpointing=False).fit(model, datamodule=datamodule)
    backbone = [k for k in snaps.nets[0] if not k.startswith(HEAD + ".")]
    for epoch in (0, 1):  # frozen: weights and batch norm statistics exactly as loaded
        assert all(torch.equal(snaps.nets[epoch][k], pretrained["net"][k]) for k in backbone), (
            f"backbone moved in epoch {epoch}"
        )
        assert len(snaps.groups[epoch]) == 1  # the optimizer holds the output layer alone
    assert not torch.equal(
        snaps.nets[1][f"{HEAD}.weight"], snaps.nets[0][f"{HEAD}.weight"]
    )  # the head trains meanwhile
    params = dict(model.net.named_parameters())
    moved = [k for k in params if k in backbone and not torch.equal(snaps.nets[2][k], pretrained["net"][k])]
    assert sorted(moved) == sorted(
        k for k in params if k in backbone
    )  # every backbone parameter trains after the unfreeze
    (head_lr, head_ids), (backbone_lr, backbone_ids) = snaps.groups[2]
    assert head_ids == {id(params[f"{HEAD}.weight"]), id(params[f"{HEAD}.bias"])}
    assert backbone_ids == {id(p) for k, p in params.items() if k in backbone}
    assert backbone_lr == pytest.approx(0.01 * 0.1) and head_lr == pytest.approx(0.01)
    assert "epoch 2: backbone unfrozen (6 tensors)" in capsys.readouterr().out


@pytest.mark.parametrize("stop", [1, 3])  # interrupted while frozen, and after the unfreeze
def test_a_resumed_fine_tuning_ends_where_an_uninterrupted_one_does(pretrained, tmp_path, stop):
    common = [
        *FINETUNE,
        f"model.pretrained={pretrained['ckpt']}",
        "model.freeze_epochs=2",
        "model.backbone_lr_scale=0.1",
    ]
    straight = train(compose_cfg(tmp_path / "straight", *common, "trainer.max_epochs=4"))
    first = train(compose_cfg(tmp_path / "interrupted", *common, f"trainer.max_epochs={stop}"))
    resumed = train(
        compose_cfg(tmp_path / "new", *common, "trainer.max_epochs=4", f"ckpt_path={first['last_checkpoint']}")
    )
    a, b = (torch.load(r["last_checkpoint"], weights_only=True) for r in (straight, resumed))
    assert a["epoch"] == b["epoch"] == 3
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), f"{name} differs after resuming from epoch {stop}"
    groups = [s["optimizer_states"][0]["param_groups"] for s in (a, b)]
    assert [len(g["params"]) for g in groups[0]] == [len(g["params"]) for g in groups[1]] == [2, 6]
    assert [g["lr"] for g in groups[1]] == pytest.approx([0.01, 0.001])


# --------------------------------------------------------------------------- (d) the check
def learn_check(cfg):
    return {r.id: r for r in run_checks(cfg, ids=["model.all_params_learn"])}["model.all_params_learn"]


def test_all_params_learn_passes_a_frozen_backbone_and_still_finds_a_dead_parameter(pretrained, tmp_path):
    common = [*FINETUNE, f"model.pretrained={pretrained['ckpt']}", "model.freeze_epochs=3"]
    r = learn_check(compose_cfg(tmp_path, *common))
    assert r.status == "pass", r.message
    assert "frozen for the first 3 epochs by model.freeze_epochs (intended)" in r.message
    assert "all 8 trainable tensors changed" in r.message  # unfrozen: backbone and head
    dead = learn_check(compose_cfg(tmp_path, *common, "model.net._target_=test_checks.DetachedLayer"))
    assert dead.status == "fail" and dead.details["unchanged"] == ["layers.1.weight"]


def test_a_smaller_backbone_lr_without_freezing_applies_from_the_first_epoch(pretrained, tmp_path):
    cfg = compose_cfg(
        tmp_path,
        *FINETUNE,
        f"model.pretrained={pretrained['ckpt']}",
        "model.backbone_lr_scale=0.5",
        "trainer.max_epochs=1",
    )
    datamodule, model, _ = build(cfg)
    snaps = Snapshots()
    build_trainer(cfg, callbacks=[snaps], logger=False, enable_checkpointing=False).fit(model, datamodule=datamodule)
    assert [lr for lr, _ in snaps.groups[0]] == pytest.approx([0.01, 0.005])  # head, then backbone, from epoch 0
    assert all(
        not torch.equal(snaps.nets[0][k], pretrained["net"][k])
        for k, _ in model.net.named_parameters()
        if not k.startswith(HEAD + ".")
    )
