"""logger=mlflow: the local store by default (mlflow.db and mlruns/ where you run), the metrics
and config of the run, the end-of-run figures and report files as artifacts, and a resumed run
that continues the same MLflow run."""

from __future__ import annotations

import json

import pytest
from conftest import PROJECT, run_cli

mlflow = pytest.importorskip("mlflow", reason="logger=mlflow is the mlflow extra: pip install -e '.[mlflow]'")


@pytest.mark.slow
def test_mlflow_gets_the_run_its_report_and_the_resumed_epochs_in_one_run(tmp_path):
    run = tmp_path / "run"
    first = run_cli(str(PROJECT / "train.py"), "logger=mlflow", "trainer.max_epochs=2",
                    "callbacks.last_checkpoint.every_s=0", f"hydra.run.dir={run}", cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / "mlflow.db").is_file(), "the local store, in the folder the run started from"
    run_id = json.loads((run / "run_info.json").read_text())["mlflow_run_id"]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    artifacts = {a.path for folder in ("figures", "report") for a in client.list_artifacts(run_id, folder)}
    assert {"report/diagnosis.json", "report/summary.json", "report/checks.json", "report/report.html"} <= artifacts
    assert "figures/learning_curves.png" in artifacts and "figures/confusion_matrix.png" in artifacts
    assert client.get_run(run_id).data.params, "the resolved config is logged as parameters"

    resumed = run_cli(str(PROJECT / "train.py"), f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                      "trainer.max_epochs=3", cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    runs = client.search_runs([client.get_run(run_id).info.experiment_id])
    assert [r.info.run_id for r in runs] == [run_id], "the resumed run continued the same MLflow run"
    epochs = sorted({m.step for m in client.get_metric_history(run_id, "dev/loss")})
    assert len(epochs) == 3, f"one history over the interruption: {epochs}"
