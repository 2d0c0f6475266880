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
