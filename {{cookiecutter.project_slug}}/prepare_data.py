"""Prepare data larger than memory as streamed shards (LitData), once:

    python prepare_data.py data=<source> out=DIR [overwrite=true]      e.g.
    python prepare_data.py data=table data.path=big.parquet data.target=label out=prepared/big
    python train.py data=streaming data.dir=prepared/big                then train, check, evaluate, ...

Takes the same config and overrides as train.py: the source's four splits (data.splits,
data.split_seed) and its preprocessing fitted on train are computed exactly as train.py
would, then each split is written as its own LitData optimized dataset (DIR/train,
DIR/train_dev, DIR/dev, DIR/test: the test split apart, in the vault) with DIR/spec.json
(the data spec, the fitted preprocessing, the counts). A non-empty DIR is refused unless
overwrite=true (which replaces only a dataset prepared here). To stream from the cloud,
prepare straight into a bucket (out=s3://bucket/big; the AWS_* variables say where and as whom)
and pass data.dir=s3://bucket/big.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="prepare")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python prepare_data.py --help` answers at once.
    from {{cookiecutter.package_name}}.build import prepare_streaming
    from {{cookiecutter.package_name}}.cli import exit_on_config_error

    with exit_on_config_error():
        prepare_streaming(cfg, cfg.out, cfg.overwrite)


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # an override Hydra cannot compose: one line, exit 2, no run folder
