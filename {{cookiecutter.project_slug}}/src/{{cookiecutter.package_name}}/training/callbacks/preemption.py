"""Stopping a run on a signal without losing it: SIGTERM (Kubernetes, `kill`, SLURM at the end
of a job's time), SIGUSR1 (SLURM's warning before that: `#SBATCH --signal=USR1@90`) and
Ctrl-C all end the run at a safe point, the end of the training batch under way: last.ckpt
is written there (weights, optimizer, the loader's place in the epoch, the random state, the
epoch's metrics so far), and the run exits non-zero with one line saying how to resume.
Resuming from it continues with the very next batch, to the result of an uninterrupted run.
At an epoch's last batch the epoch ends first (validation, history, its checkpoints), and the
stop comes after the next batch; at the run's last batch, once training is done.

A second Ctrl-C stops at once, without a checkpoint.

On SLURM (`requeue: auto` and SLURM_JOB_ID set), SIGUSR1 and SIGTERM also put the job back in
the queue (`scontrol requeue`); when it starts again (SLURM_RESTART_COUNT > 0) in the same run
folder, train.py resumes from that last.ckpt by itself. The sbatch script is in docs/scale.md.

Under DDP (several processes or nodes) the ranks agree on the stop: at every batch end they
share the signal each has received (one all-reduce of one number, about every half second:
`agree_every_s`), so all of them stop after the same batch, whichever rank was signalled, and
none waits forever in a collective for one that has gone. That is why the
handler takes over SIGTERM as well during training: Lightning's own SIGTERM handler broadcasts
from inside the signal handler and follows rank 0's flag alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException


class Preempted(Exception):
    """Raised at the end of a training batch after SIGTERM, SIGUSR1 or Ctrl-C (on any rank)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exception: BaseException) -> int | None:
    """The signal that stopped a run, for the exit code (128 + signal, as a shell reports it)."""
    if isinstance(exception, SIGTERMException):  # Lightning's own SIGTERM handling, same safe point
        return int(signal.SIGTERM)
    return getattr(exception, "signum", None)


class Preemption(Callback):
    def __init__(self, dirpath: str, requeue: str | bool = "auto", agree_every_s: float = 0.5):
        self.dirpath = Path(dirpath)
        self.requeue = requeue
        self.agree_every_s = float(agree_every_s)  # under DDP: how often the ranks compare their signals
        self.requested: int | None = None
        self.note: str | None = None
        self._previous: dict = {}
        self._batches, self._next, self._since = 0, 1, 0.0  # under DDP: batches since / to the next agreement

    def on_train_start(self, trainer, pl_module) -> None:
        self._batches, self._next, self._since = 0, 1, time.monotonic()
        # SIGTERM too: Lightning's handler would stop the signalled rank alone (see the docstring).
        for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
            try:
                self._previous[signum] = signal.signal(signum, self._request)
            except ValueError:  # not the main thread: signals are not ours to take
                pass

    def _request(self, signum, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: now
        self.requested = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        requested = self._agreed(trainer)
        # Not at an epoch's last batch: a checkpoint taken there resumes past the epoch's end, its
        # validation and history row lost; the epoch ends first and the stop comes one batch later.
        if requested and batch_idx + 1 != trainer.num_training_batches:
            raise Preempted(requested)
        if requested:  # every rank alike: ask again at the next batch
            self._next = 1

    def _agreed(self, trainer, final: bool = False) -> int:
        """The signal any rank has received (0: none). Under DDP every rank gets the same answer
        from one all-reduce, taken about every `agree_every_s` seconds rather than every batch (it
        costs about 0.6 ms on 2 CPU processes, a tenth of the default model's step): the count of
        batches to the next one is agreed in the same all-reduce. `final`: at the end of training."""
        requested = self.requested or 0
        if trainer.world_size == 1:
            return requested
        self._batches += 1
        if not final and self._batches < self._next:
            return 0
        now = time.monotonic()
        every = int(self.agree_every_s * self._batches / max(now - self._since, 1e-6))
        shared = torch.tensor([requested, min(max(every, 1), 10_000)], device=trainer.strategy.root_device)
        torch.distributed.all_reduce(shared, op=torch.distributed.ReduceOp.MAX)
        self._batches, self._since, self._next = 0, now, int(shared[1])
        return int(shared[0])

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        signum = signal_of(exception)
        if signum is None:
            return
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)  # the asynchronous writer finishes it before the run ends
        self.note = (
            f"stopped by {signal.Signals(signum).name} after step {trainer.global_step} (epoch {trainer.current_epoch}); "
            f"wrote {path}. Resume: the same command with ckpt_path={path}"
        )
        job = os.environ.get("SLURM_JOB_ID")
        if (
            job
            and self.requeue in ("auto", True)
            and signum in (signal.SIGUSR1, signal.SIGTERM)
            and trainer.is_global_zero
        ):
            done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
            self.note += (
                f"; SLURM job {job} requeued: it resumes from there by itself"
                if done.returncode == 0
                else f"; scontrol requeue {job} failed ({(done.stderr or done.stdout).strip()[:200]})"
            )
        self._restore()

    def on_train_end(self, trainer, pl_module) -> None:
        requested = self._agreed(trainer, final=True)  # a signal at the last batch of all: trained, stopped here
        self._restore()
        if requested:
            raise Preempted(requested)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
