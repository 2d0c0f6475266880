"""Coarse to fine (M28): read a finished sweep, keep its best trials, write a narrower sweep.

    python refine_sweep.py                            the latest study -> configs/sweep/<sweep>_fine.yaml
    python refine_sweep.py study=random-1a2b3c4d top=0.2 output=lr_fine
    python refine_sweep.py storage=sqlite:////abs/path/sweeps.db n_trials=40 sampler=tpe
    python train.py -m sweep=random_fine ...          the command it prints: the next, denser sweep

Keys: study=NAME storage=URL (default: the latest study in sqlite:///multirun/sweeps.db),
top=0.25 (fraction of the complete, satisficing trials kept, at least 3), border=0.1, expand=0.25,
n_trials=N and sampler=random|grid|qmc|tpe (default: the old sweep's), output=NAME, overwrite=true.
Ranges shrink to the span of the best trials (on the scale each parameter is sampled on);
a best value at the border of its old range is flagged "expand the range" and the new range
goes past that border, unless the border is the limit of what is possible (0 dropout,
1 layer): that is said as such, and the new range keeps it. An existing config is never
replaced silently: pick another output=NAME, or pass overwrite=true. A storage URL with a
character Hydra's override grammar keeps for itself (= , # ! & ~ [ ] quotes, a space; e.g. ?sslmode=)
goes in quotes: 'storage="postgresql://user:p=w@host/sweeps?sslmode=require"'. Exit 0: written; 2: a usage or config error.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="refine_sweep")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python refine_sweep.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error, tool_args
    from {{cookiecutter.package_name}}.search.refine import refine_sweep

    with exit_on_config_error():
        a = tool_args(cfg, top=float, border=float, expand=float, n_trials=int, overwrite=bool)
        refine_sweep(
            a.study,
            a.storage,
            a.config_dir or Path(__file__).resolve().parent / "configs" / "sweep",
            a.top,
            a.border,
            a.expand,
            a.n_trials,
            a.sampler,
            a.output,
            a.overwrite,
        )


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # a key or value Hydra cannot take: one line, exit 2; nothing written
