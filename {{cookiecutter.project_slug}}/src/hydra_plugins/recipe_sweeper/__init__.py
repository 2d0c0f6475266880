"""Hydra accepts sweepers only from classes defined under the `hydra_plugins` package.

The sweeper lives in {{cookiecutter.package_name}}.search.sweeper; this subclass only gives it
the name configs/hydra/sweeper/optuna.yaml selects.
"""

from {{cookiecutter.package_name}}.search.sweeper import OptunaSweeper as _OptunaSweeper


class OptunaSweeper(_OptunaSweeper):
    pass
