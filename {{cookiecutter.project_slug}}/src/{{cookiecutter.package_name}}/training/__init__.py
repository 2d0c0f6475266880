"""Training (M34, M36-M39): what train.py runs, and the callbacks of every fit.

    fit.py       fit on train, select on dev, score, summary, resume and requeue checks
    loggers.py   wandb / tensorboard / csv / mlflow
    callbacks/   every Lightning callback of a run (configs/callbacks/*.yaml lists them)

May import: common, cli, tasks, data, model, build, checks, evaluation.
"""
