"""Write the shipped examples of your own kind of data, to copy from (nothing is downloaded):

    python make_examples.py [out=examples] [overwrite=true]

  examples/animals.csv         a table: string labels (cat/dog/bird), a categorical column,
                               missing values       -> python train.py +experiment=table_example
  examples/digit_images/       a folder of PNGs, one subfolder per class (zero..nine), some
                               RGB among grayscale  -> python train.py +experiment=image_folder_example

Existing files are never replaced unless overwrite=true is given (exit 2 otherwise, as for any
usage error: an unknown key). Keys and defaults: configs/make_examples.yaml.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="make_examples")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python make_examples.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error, tool_args
    from {{cookiecutter.package_name}}.data.examples import write_examples

    with exit_on_config_error():
        args = tool_args(cfg, overwrite=bool)
        write_examples(args.out, args.overwrite)


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # a key or value Hydra cannot take: one line, exit 2; nothing written
