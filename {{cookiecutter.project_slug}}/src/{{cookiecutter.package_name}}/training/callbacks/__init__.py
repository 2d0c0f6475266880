"""The Lightning callbacks of a run, one module each (configs/callbacks/default.yaml):

    epoch_metrics.py  each split's metrics computed once an epoch; a NaN loss stops the run
    checkpoints.py    best.ckpt (only epochs that meet the satisficing constraints), last.ckpt
    run_recorder.py   history.json, the learning curves' data
    preemption.py     SIGTERM / SIGUSR1 / Ctrl-C: last.ckpt at a safe point, SLURM requeue
    monitoring.py     activations and gradients (callbacks=monitoring)

The sweep's pruning callback lives with the sweep (search/pruning.py).
"""
