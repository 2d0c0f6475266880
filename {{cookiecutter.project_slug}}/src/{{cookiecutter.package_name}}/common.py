"""What every stage shares: the errors that end a run in one line (a ConfigError exits 2,
a TrainingFailed exits 1) and which process of a distributed run is the first."""

from __future__ import annotations

import os


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key and the fix."""


class TrainingFailed(RuntimeError):
    """Training cannot go on (a non-finite loss); the message names where and what to check. Exit 1."""


# Set by torchrun, srun and Lightning's own launcher in every process of a distributed run.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")


def first_process() -> bool:
    """Not an extra rank of a distributed run: the one process that makes and writes the run folder."""
    return all(os.environ.get(v, "0") in ("0", "") for v in RANK_VARIABLES)


def import_user_modules() -> None:
    """Import every module of the user folder (user/*.py), once: what they define registers
    itself (a Task subclass with its `kind`, a function under @check). Called only by the two
    registries (tasks, checks), so the recipe never names a module of yours. A module of yours
    that does not import is one line naming it (the traceback: python -c "import <module>")."""
    import importlib
    import pkgutil

    package = f"{__package__}.user"
    if package in _imported:
        return
    _imported.add(package)  # first: a module of yours that imports tasks or checks comes back here
    folder = importlib.import_module(package)
    for module in pkgutil.iter_modules(folder.__path__):
        name = f"{package}.{module.name}"
        try:
            importlib.import_module(name)
        except ConfigError:  # already one line that names the problem (a kind or check id defined twice)
            _imported.discard(package)
            raise
        except Exception as e:  # noqa: BLE001 - whatever breaks in your module, say where in one line
            _imported.discard(package)
            where = f"src/{__package__}/user/{module.name}.py"
            raise ConfigError(
                f"{where} does not import ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                f'python -c "import {name}" shows the traceback'
            ) from e


_imported: set[str] = set()
