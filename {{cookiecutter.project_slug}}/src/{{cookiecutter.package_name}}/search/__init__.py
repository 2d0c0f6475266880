"""Hyperparameter search (M26-M30) on Optuna, driven by Hydra's multirun.

    python train.py -m sweep=random            # random search from declared marginals
    python train.py -m sweep=grid              # a grid on a log scale
    python train.py -m sweep=tpe               # Bayesian (TPE) after random start-up trials
    python train.py -m sweep=qmc               # quasi-random (scrambled Sobol)
    python refine_sweep.py                     # coarse to fine: a narrower sweep config
    python sweep_report.py                     # table + plot of any study, at any time

space.py     the search-space language (Hydra's sweep grammar + tags) -> Optuna distributions
sweeper.py   the Hydra sweeper: ask/tell loop, budgets, storage, resume, parallel workers
pruning.py   the Lightning callback that reports dev metrics and prunes bad trials
report.py    the table (CSV) and plot (PNG) of all trials; best trial under constraints
refine.py    coarse to fine (M28)
studies.py   study names and storage (SQLite, PostgreSQL), resuming a study
sweep_page.py  report.html of a sweep
Nothing here imports torch except pruning.py, which runs inside a training job.

May import: common, cli, build, evaluation, training.
"""
