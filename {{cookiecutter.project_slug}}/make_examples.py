"""Write the shipped examples of your own kind of data, to copy from (nothing is downloaded):

    python make_examples.py [out=examples] [overwrite=true]

  examples/animals.csv         a table: string labels (cat/dog/bird), a categorical column,
                               missing values       -> python train.py +experiment=table_example
  examples/digit_images/       a folder of PNGs, one subfolder per class (zero..nine), some
                               RGB among grayscale  -> python train.py +experiment=image_folder_example

Existing files are never replaced unless overwrite=true is given (exit 2 otherwise).
"""

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        print(__doc__)
        return 0
    from {{cookiecutter.package_name}}.cli import parse_args
    from {{cookiecutter.package_name}}.config import ConfigError, exit_on_config_error
    from {{cookiecutter.package_name}}.examples import write_example_images, write_example_table

    with exit_on_config_error():
        args = parse_args(argv, {"out": "examples", "overwrite": False})
        out = Path(args["out"])
        table, images = out / "animals.csv", out / "digit_images"
        existing = [p for p in (table, images) if p.exists()]
        if existing and not args["overwrite"]:
            raise ConfigError(f"{', '.join(map(str, existing))} exist(s) already; pass overwrite=true to write them anew")
        if images.exists():
            import shutil

            shutil.rmtree(images)
        print(f"table  {write_example_table(table)}")
        print(f"images {write_example_images(images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
