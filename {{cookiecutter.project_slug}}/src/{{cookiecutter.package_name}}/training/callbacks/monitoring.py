"""Activations and gradients during training (M34): python train.py callbacks=monitoring

Every `every_n_steps` optimizer steps (not every step: it is a look, not a cost) the callback
records, per layer:
  monitor/grad_norm/<param>     L2 norm of each weight's gradient, and monitor/grad_norm/total
  monitor/dead_relu/<layer>     share of ReLU units that output 0 for the whole batch
  monitor/act_mean|act_std/<layer>
and, where the logger takes them, histograms of activations and gradients (TensorBoard
histograms, W&B histograms). At the end of training it draws monitoring.png into the run
directory: the last histograms, gradient norms and dead units over steps.
Switched off (the default callbacks) it costs nothing: it is not there.
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.ReLU6)
RELU_LIKE = (nn.ReLU, nn.ReLU6)


def dead_fraction(act: torch.Tensor) -> float:
    """Share of units (features, or channels of a conv map) that are 0 for every example in the batch."""
    per_unit = act.transpose(0, 1).reshape(act.shape[1], -1) if act.ndim > 2 else act.t()
    return float((per_unit <= 0).all(1).float().mean())


class ActivationGradientMonitor(Callback):
    def __init__(
        self, every_n_steps: int = 50, histograms: bool = True, output_dir: str | None = None, max_values: int = 20_000
    ):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps={every_n_steps} must be >= 1")
        self.every_n_steps, self.histograms, self.max_values = every_n_steps, histograms, max_values
        self.output_dir = Path(output_dir) if output_dir else None
        self._hooks: list = []
        self._acts: dict[str, torch.Tensor] = {}
        self.last: dict = {}
        self.series: dict[str, list] = {}  # metric name -> [(step, value)]

    # ------------------------------------------------------------------ capture
    def _watched(self, pl_module) -> list[tuple[str, nn.Module]]:
        acts = [(n, m) for n, m in pl_module.named_modules() if isinstance(m, ACTIVATIONS)]
        if acts:
            return acts
        return [
            (n, m) for n, m in pl_module.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))
        ]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps:
            return
        for name, module in self._watched(pl_module):
            label = f"{name}.{type(module).__name__.lower()}"

            def hook(mod, inputs, output, label=label):
                self._acts[label] = output.detach()

            self._hooks.append(module.register_forward_hook(hook))

    def on_after_backward(self, trainer, pl_module) -> None:
        if not self._hooks:
            return
        for h in self._hooks:
            h.remove()
        self._hooks = []
        step = trainer.global_step
        metrics, hists = {}, {}
        for label, act in self._acts.items():
            a = act.float()
            metrics[f"monitor/act_mean/{label}"] = float(a.mean())
            metrics[f"monitor/act_std/{label}"] = float(a.std()) if a.numel() > 1 else 0.0
            if label.endswith(("relu", "relu6")):
                metrics[f"monitor/dead_relu/{label}"] = dead_fraction(a)
            hists[f"activations/{label}"] = self._sample(a)
        total = 0.0
        for name, p in pl_module.named_parameters():
            if p.grad is None:
                continue
            norm = float(p.grad.detach().float().norm())
            total += norm**2
            if p.ndim > 1:
                metrics[f"monitor/grad_norm/{name}"] = norm
                hists[f"gradients/{name}"] = self._sample(p.grad.detach().float())
        metrics["monitor/grad_norm/total"] = total**0.5
        self._acts = {}
        self.last = {"step": step, "hists": hists, "metrics": metrics}
        for k, v in metrics.items():
            self.series.setdefault(k, []).append((step, v))
        if trainer.is_global_zero:
            self._log(trainer, metrics, hists, step)

    def _sample(self, t: torch.Tensor) -> torch.Tensor:
        flat = t.reshape(-1).cpu()
        if len(flat) > self.max_values:
            flat = flat[torch.randperm(len(flat), generator=torch.Generator().manual_seed(0))[: self.max_values]]
        return flat

    def _log(self, trainer, metrics: dict, hists: dict, step: int) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
            if not self.histograms:
                continue
            kind = type(logger).__name__
            if kind == "TensorBoardLogger":
                for tag, values in hists.items():
                    logger.experiment.add_histogram(tag, values, global_step=step)
            elif kind == "WandbLogger":
                import wandb

                logger.log_metrics({tag: wandb.Histogram(values.numpy()) for tag, values in hists.items()}, step=step)

    # ------------------------------------------------------------------ picture
    def on_train_end(self, trainer, pl_module) -> None:
        if not self.last or not trainer.is_global_zero:
            return
        out = self.output_dir or Path(trainer.default_root_dir)
        from ...evaluation.analysis import save_figure

        save_figure(self.figure(), out / "monitoring.png", trainer.loggers, "monitoring/summary", trainer.global_step)

    def figure(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        acts = {k: v for k, v in self.last["hists"].items() if k.startswith("activations/")}
        grads = {k: v for k, v in self.last["hists"].items() if k.startswith("gradients/")}
        fig, axes = plt.subplots(2, 2, figsize=(12, 8))
        for ax, hists, what in ((axes[0, 0], acts, "activation value"), (axes[0, 1], grads, "gradient value")):
            for tag, values in hists.items():
                v = values.numpy()
                if what.startswith("gradient"):
                    v = v[v != 0]
                if len(v):
                    ax.hist(v, bins=60, histtype="step", lw=1.4, label=tag.split("/", 1)[1], log=True)
            ax.set_xlabel(what)
            ax.set_ylabel("count (log scale)")
            ax.set_title(f"{what.split()[0]} histograms per layer, step {self.last['step']}")
            ax.legend(fontsize=7)
        ax = axes[1, 0]
        for key, pts in self.series.items():
            if key.startswith("monitor/grad_norm/"):
                ax.plot(*zip(*pts), marker=".", lw=2.2 if key.endswith("total") else 1, label=key.rsplit("/", 1)[1])
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("gradient L2 norm (log scale)")
        ax.set_title("gradient norms: vanishing = falling to ~0, exploding = shooting up")
        ax.legend(fontsize=7)
        ax = axes[1, 1]
        dead = {k: v for k, v in self.series.items() if k.startswith("monitor/dead_relu/")}
        for key, pts in dead.items():
            ax.plot(*zip(*pts), marker=".", label=key.rsplit("/", 1)[1])
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("share of dead units (0 for the whole batch)")
        ax.set_title("dead ReLU units" if dead else "dead ReLU units (no ReLU layers)")
        if dead:
            ax.legend(fontsize=7)
        for a in axes.flat:
            a.grid(alpha=0.3)
        fig.tight_layout()
        return fig
