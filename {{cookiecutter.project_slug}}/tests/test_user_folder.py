"""Four newcomer tasks, each done as the README says: by adding a file to the user folder
(src/{{cookiecutter.package_name}}/user/) and a config to configs/, nothing else. Each then runs
end to end the way a user runs it (python train.py / check.py in a subprocess, in a copy of the
project). Plus: a module of yours that does not import is one line naming it."""

from __future__ import annotations

import json
import math
import shutil
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import PROJECT, run_cli
from torch import nn

PACKAGE = "{{cookiecutter.package_name}}"
SHORT = ["logger=csv", "trainer.enable_progress_bar=false"]


def fresh_copy(under: Path) -> Path:
    """A copy of the project as a newcomer has it: the scripts, configs/ and src/."""
    copy = under / "project"
    copy.mkdir()
    for script in PROJECT.glob("*.py"):
        shutil.copy(script, copy)
    shutil.copytree(PROJECT / "configs", copy / "configs")
    shutil.copytree(PROJECT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return copy


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """One copy shared by the four tasks below: each adds its own files, under names the others do not use."""
    return fresh_copy(tmp_path_factory.mktemp("newcomer"))


def add(project: Path, path: str, text: str) -> None:
    """A newcomer's edit: only ever under the user folder or configs/."""
    assert path.startswith((f"src/{PACKAGE}/user/", "configs/")), path
    target = project / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text).lstrip())


def run(project: Path, script: str, *overrides: str, out: str):
    done = run_cli(
        script, *overrides, *SHORT, f"hydra.run.dir={project / 'runs' / out}",
        cwd=project, env={"PYTHONPATH": str(project / "src")},
    )  # fmt: skip
    return done, project / "runs" / out


def with_net(config: str, target: str, **settings) -> str:
    """configs/model/mlp.yaml with its net: block replaced, as the README tells a newcomer to do."""
    lines = config.splitlines()
    start = lines.index("net:")
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")), len(lines))
    block = ["net:", f"  _target_: {target}", "  input_shape: auto", "  num_outputs: auto"]
    block += [f"  {k}: {v}" for k, v in settings.items()]
    return "\n".join(lines[:start] + block + lines[end:]) + "\n"


def test_your_own_net(project):
    add(project, f"src/{PACKAGE}/user/my_nets.py", '''
        import math

        from torch import nn


        class Wide(nn.Module):
            def __init__(self, input_shape, num_outputs: int, width: int = 64):
                super().__init__()
                self.layers = nn.Sequential(
                    nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(), nn.Linear(width, num_outputs)
                )

            def forward(self, x):
                return self.layers(x)
        ''')  # fmt: skip
    mlp = (project / "configs" / "model" / "mlp.yaml").read_text()
    add(project, "configs/model/wide.yaml", with_net(mlp, f"{PACKAGE}.user.my_nets.Wide", width=96))
    done, run_dir = run(project, "train.py", "model=wide", "trainer.max_epochs=3", out="own-net")
    assert done.returncode == 0, done.stderr[-3000:]
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert f"{PACKAGE}.user.my_nets.Wide" in config and "width: 96" in config
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["scores"]["dev"] > 0.8  # the digits, learned by the newcomer's net


def test_your_own_array_source(project):
    add(project, f"src/{PACKAGE}/user/my_sources.py", '''
        from sklearn.datasets import load_wine


        def wine():
            """178 wines, 13 chemical measurements, 3 cultivars (scikit-learn's copy of the UCI set)."""
            data = load_wine()
            return {"x": data.data, "y": data.target, "class_names": list(data.target_names),
                    "feature_names": list(data.feature_names)}
        ''')  # fmt: skip
    breast = (project / "configs" / "data" / "breast_cancer.yaml").read_text()
    assert f"{PACKAGE}.user.sources.load_breast_cancer" in breast
    add(
        project,
        "configs/data/wine.yaml",
        breast.replace(f"{PACKAGE}.user.sources.load_breast_cancer", f"{PACKAGE}.user.my_sources.wine"),
    )
    done, run_dir = run(project, "train.py", "data=wine", "trainer.max_epochs=20", out="own-source")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "task: multiclass" in done.stdout and "FAIL" not in done.stdout and "WARN" not in done.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["scores"]["dev"] > 0.85 and summary["baseline"]["scores"]["dev"] < 0.5


def test_your_own_loss_as_a_new_task_kind(project):
    add(project, f"src/{PACKAGE}/user/focal_loss.py", '''
        import torch.nn.functional as F

        from PKG.tasks.multiclass import Multiclass


        class FocalMulticlass(Multiclass):
            """Softmax with the focal loss (Lin et al. 2017): well-classified examples weigh less."""

            kind = "focal"
            loss_name = "focal loss (gamma 2)"
            gamma = 2.0

            def per_example_loss(self, out, y):
                log_p = F.log_softmax(out, dim=1).gather(1, y.long().reshape(-1, 1)).reshape(-1)
                return -((1 - log_p.exp()) ** self.gamma) * log_p

            def loss(self, out, y):
                return self.per_example_loss(out, y).mean()
        '''.replace("PKG", PACKAGE))  # fmt: skip
    done, run_dir = run(project, "train.py", "data.task=focal", "trainer.max_epochs=3", out="own-loss")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "objective: accuracy (max), the default for task focal" in done.stdout
    checks = {c["id"]: c for c in json.loads((run_dir / "checks.json").read_text())}
    assert all(c["status"] == "pass" for c in checks.values()), checks  # initial loss, gradients: of the focal loss
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["scores"]["dev"] > 0.8

    # An unknown kind names the kinds there are, yours among them.
    done, _ = run(project, "train.py", "data.task=focl", out="typo")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: data.task='focl'")
    assert "focal" in done.stderr and "huber" in done.stderr


def test_your_own_check(project):
    add(project, f"src/{PACKAGE}/user/my_checks.py", """
        from PKG.checks import Result, check


        @check("data.enough_dev_examples")
        def enough_dev_examples(ctx, opts):
            \"\"\"dev holds at least checks.enough_dev_examples.at_least examples.\"\"\"
            n, at_least = len(ctx.targets("dev")), int(opts.get("at_least", 100))
            status = "pass" if n >= at_least else "fail"
            return Result(status, n, ">= %d" % at_least, "dev holds %d examples" % n, "collect more, or use k-fold")
        """.replace("PKG", PACKAGE))  # fmt: skip
    add(
        project,
        "configs/checks/mine.yaml",
        "defaults:\n  - default\n  - _self_\nenough_dev_examples:\n  at_least: 100\n",
    )
    done, run_dir = run(project, "check.py", "checks=mine", "checks.only=[data.enough_dev_examples]", out="own-check")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "data.enough_dev_examples" in done.stdout
    [result] = json.loads((run_dir / "checks.json").read_text())
    assert result["id"] == "data.enough_dev_examples" and result["status"] == "pass" and result["value"] == 180

    # The same check with a bar the digits' dev (180) does not clear: it fails, and check.py exits 1.
    done, _ = run(project, "check.py", "checks=mine", "checks.enough_dev_examples.at_least=1000", out="own-check-fails")
    assert done.returncode == 1 and "data.enough_dev_examples" in done.stdout and "FAILED" in done.stdout
    # train.py runs it before fitting with the recipe's fast checks, and stops on its failure.
    done, run_dir = run(project, "train.py", "checks=mine", "checks.enough_dev_examples.at_least=1000", out="stopped")
    assert done.returncode == 1 and "FAIL data.enough_dev_examples" in done.stdout
    assert not (run_dir / "checkpoints").exists()


@pytest.mark.parametrize(
    "module, says",
    [
        ("from torch import nn\n\nclass Half(nn.Module)\n    pass\n",
         f"src/{PACKAGE}/user/mine.py does not import (SyntaxError"),
        (f"from {PACKAGE}.tasks.regression import Regression\n\nclass Mine(Regression):\n    kind = 'regression'\n",
         f"task kind 'regression' is defined twice, by {PACKAGE}.tasks.regression.Regression and {PACKAGE}.user.mine.Mine"),
        (f"from {PACKAGE}.checks import check\n\n@check('model.gradient')\ndef mine(ctx, opts):\n    pass\n",
         f"check 'model.gradient' is defined twice, by {PACKAGE}.checks.model_checks.gradient and {PACKAGE}.user.mine.mine"),
    ],
    ids=["does-not-import", "a-kind-of-the-recipe", "a-check-id-of-the-recipe"],
)  # fmt: skip
def test_a_module_of_yours_that_cannot_work_is_one_line(tmp_path, module, says):
    copy = fresh_copy(tmp_path)
    add(copy, f"src/{PACKAGE}/user/mine.py", module)
    done, _ = run(copy, "check.py", out="broken")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert says in lines[0], lines[0]


def test_a_subclass_without_a_kind_of_its_own_replaces_nothing():
    from {{cookiecutter.package_name}}.tasks import Task, task_class
    from {{cookiecutter.package_name}}.tasks.regression import Regression

    class Intermediate(Regression):  # a base of yours, no kind of its own: not registered
        delta = 2.0

    assert task_class("regression") is Regression and Intermediate not in Task.registry.values()


# --------------------------------------------------------------------------- the shipped examples, both ways
USER = PROJECT / "src" / PACKAGE / "user"


def shipped(example: str):
    """The examples are yours to delete; their tests then skip, saying so."""
    return pytest.mark.skipif(not (USER / example).is_file(), reason=f"user/{example} was deleted (it was an example)")


class DropoutAlwaysOn(nn.Module):
    """The slip the example check is for: F.dropout without training=self.training stays on in eval mode."""

    def __init__(self, input_shape, num_outputs: int, width: int = 64, **_):
        super().__init__()
        self.hidden, self.out = nn.Linear(math.prod(input_shape), width), nn.Linear(width, num_outputs)

    def forward(self, x):
        return self.out(F.dropout(F.relu(self.hidden(x.flatten(1))), 0.5))


@shipped("eval_deterministic.py")
def test_the_example_check_catches_dropout_left_on_in_eval_mode_and_passes_real_dropout(make_cfg):
    from {{cookiecutter.package_name}}.checks import run_checks

    ids = ["data.finite", "data.labels_in_range", "model.output_matches_task", "model.eval_deterministic"]
    [*_, bad] = run_checks(make_cfg(f"model.net._target_={__name__}.DropoutAlwaysOn"), ids=ids)
    assert bad.status == "fail" and "training=self.training" in bad.remedy, bad
    for net in ("model=mlp", "model=cnn"):  # nn.Dropout, on as trained (regularizer=[dropout]): same outputs twice
        [*_, good] = run_checks(make_cfg(net, "regularizer=[dropout]", "regularizer.dropout=0.5"), ids=ids)
        assert good.status == "pass" and good.value == 0.0, (net, good)


@shipped("huber_loss.py")
def test_the_example_huber_kind_is_pulled_less_by_a_wild_target():
    from {{cookiecutter.package_name}}.tasks import make_task

    y = torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0, 3.0, 2.0, 40.0])  # one wild target
    pulls = {}
    for kind in ("huber", "regression"):
        task = make_task(kind)
        task.fit(y)
        out = torch.zeros(len(y), 1, requires_grad=True)  # every prediction at the train mean
        task.per_example_loss(out, y).sum().backward()
        pulls[kind] = out.grad.abs().reshape(-1)
    assert pulls["huber"][-1] == pytest.approx(1.0)  # capped at delta: one standard deviation
    assert pulls["regression"][-1] > 4.0  # the squared error's pull grows with the residual
    assert torch.allclose(pulls["huber"][:-1], pulls["regression"][:-1] / 2, atol=1e-6)  # near the mean: the same
