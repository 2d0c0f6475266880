"""Streamed data in object storage: prepare_data.py out=s3://bucket/prefix writes the shards and
spec.json there, data=streaming data.dir=s3://... trains from them, resumes and predicts, with the
standard AWS variables (endpoint, keys) and none of them printed or saved in the run folder. The
S3-compatible server is moto's, started and stopped here on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import PROJECT, run_cli

pytest.importorskip("moto", reason="the S3 test server is moto's (the dev extra): pip install -e '.[dev]'")
pytest.importorskip("litdata", reason="data=streaming is the streaming extra: pip install -e '.[streaming]'")

KEY, SECRET = "planted-access-key-3c1f", "planted-secret-key-8d2b7e"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """The environment of a user whose shards live in s3://recipe (a local server, plain http)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    try:
        for _ in range(100):  # up within a few seconds
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        import boto3

        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                     region_name="us-east-1").create_bucket(Bucket="recipe")  # fmt: skip
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_shards_in_a_bucket_prepare_train_resume_and_predict_with_no_secret_on_disk(s3, tmp_path):
    import boto3

    done = run_cli(str(PROJECT / "prepare_data.py"), "out=s3://recipe/digits", cwd=tmp_path, env=s3)
    assert done.returncode == 0, done.stderr[-3000:]
    client = boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"], aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET, region_name="us-east-1")  # fmt: skip
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="recipe", Prefix="digits/")["Contents"]}
    assert (
        "digits/spec.json" in keys and {f"digits/{s}/index.json" for s in ("train", "train_dev", "dev", "test")} <= keys
    )
    again = run_cli(str(PROJECT / "prepare_data.py"), "out=s3://recipe/digits", cwd=tmp_path, env=s3)
    assert again.returncode == 2 and "out=s3://recipe/digits is not empty" in again.stderr

    run = tmp_path / "run"
    first = run_cli(str(PROJECT / "train.py"), "data=streaming", "data.dir=s3://recipe/digits", "trainer.max_epochs=1",
                    "callbacks.last_checkpoint.every_s=0", "checks.before_train=false", "logger=csv",
                    f"hydra.run.dir={run}", cwd=tmp_path, env=s3)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_cli(str(PROJECT / "train.py"), f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "trainer.max_epochs=2",
                      cwd=tmp_path, env=s3)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2

    from sklearn.datasets import load_digits

    np.save(tmp_path / "new.npy", load_digits().data[:4].astype("float32"))
    predicted = run_cli(str(PROJECT / "predict.py"), f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}",
                        f"input={tmp_path / 'new.npy'}", cwd=tmp_path, env=s3)  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert len((tmp_path / "new.npy.predictions.csv").read_text().strip().splitlines()) == 1 + 4

    said = "".join(d.stdout + d.stderr for d in (done, again, first, resumed, predicted))
    assert KEY not in said and SECRET not in said
    leaks = [
        str(p)
        for p in run.rglob("*")
        if p.is_file() and (KEY.encode() in p.read_bytes() or SECRET.encode() in p.read_bytes())
    ]
    assert not leaks, leaks


@pytest.mark.slow
def test_a_missing_or_cut_short_shard_in_the_bucket_is_one_line_naming_it(s3, tmp_path):
    """As for a local folder (test_streaming.py): the bucket is listed once before training, so a
    damaged dataset is named at once instead of ending in LitData's timeout of a hung download."""
    import boto3

    done = run_cli(str(PROJECT / "prepare_data.py"), "out=s3://recipe/damaged", cwd=tmp_path, env=s3)
    assert done.returncode == 0, done.stderr[-3000:]
    client = boto3.client("s3", endpoint_url=s3["AWS_ENDPOINT_URL"], aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET, region_name="us-east-1")  # fmt: skip
    listed = client.list_objects_v2(Bucket="recipe", Prefix="damaged/dev/chunk-")["Contents"]
    chunk = sorted(o["Key"] for o in listed)[-1]
    body = client.get_object(Bucket="recipe", Key=chunk)["Body"].read()
    for damage, says in (("missing", "is missing"), ("cut short", "is 100 bytes where its index says")):
        if damage == "missing":
            client.delete_object(Bucket="recipe", Key=chunk)
        else:
            client.put_object(Bucket="recipe", Key=chunk, Body=body[:100])
        run = run_cli(str(PROJECT / "train.py"), "data=streaming", "data.dir=s3://recipe/damaged", "logger=none",
                      f"hydra.run.dir={tmp_path / damage}", cwd=tmp_path, env=s3, timeout=300)  # fmt: skip
        lines = run.stderr.strip().splitlines()
        named = f"data.dir=s3://recipe/damaged: the dev shard dev/{chunk.rsplit('/', 1)[1]} {says}"
        assert run.returncode == 2 and len(lines) == 1 and named in lines[0], run.stderr[-2000:]
        assert "out=s3://recipe/damaged overwrite=true" in lines[0]
