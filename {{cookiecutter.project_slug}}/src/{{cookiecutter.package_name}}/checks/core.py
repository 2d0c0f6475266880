"""The check runner: a registry of checks, what to run, a context they share, the
table on the terminal and checks.json in the run directory.

A check is a function `fn(ctx, opts) -> Result` registered with `@check(id)`; `opts`
is its block of thresholds in configs/checks/default.yaml (named after the id's last
part). The checks never read the test split: `ctx.split("test")` raises. They read at most
checks.max_examples examples of a split (a seeded sample beyond that), so they stay
within seconds on large data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..common import ConfigError, import_user_modules
from ..tasks import make_task

if TYPE_CHECKING:
    from ..data.interface import DataInterface
    from ..model.task_module import TaskModule

DEV_SPLITS = ("train", "train_dev", "dev")  # what the checks may read; test is the vault
STATUSES = ("pass", "warn", "fail", "skip")
GROUPS = ("data", "model", "train")


@dataclasses.dataclass(frozen=True)
class CheckSettings:
    """What the checks read of a run's config, as plain values (checks/__init__.py: context_of)."""

    # the checks block: the selection (subset, only, skip), max_examples, threads, each check's thresholds
    options: dict
    seed: int = 0
    imbalance: str = "none"  # the remedy for rare classes that training will use (M25)
    metric: str = "accuracy"  # objective.metric, auto resolved
    lr: float | None = None  # optimizer.lr


@dataclasses.dataclass
class Result:
    status: str
    value: object = None  # the measured figure: a number, a string or a small dict
    threshold: object = None  # what it was compared with
    message: str = ""  # one or two sentences: what was measured, what it means
    remedy: str = ""  # what to do about a warn or a fail
    shown: str = ""  # the value as the table shows it (default: derived from value)
    details: dict = dataclasses.field(default_factory=dict)
    id: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict:
        keys = ("id", "status", "value", "threshold", "message", "remedy", "seconds", "details")
        return {k: _plain(getattr(self, k)) for k in keys}


@dataclasses.dataclass(frozen=True)
class Check:
    id: str
    fn: Callable
    fast: bool  # in the subset train.py runs before fitting
    needs: tuple  # checks whose failure makes this one meaningless (it is then skipped)


CHECKS: dict[str, Check] = {}


def check(id: str, fast: bool = True, needs: tuple = ()):
    """Register a check under `id` (group.name); the order of registration is the run order."""

    def register(fn):
        known = CHECKS.get(id)
        if known is not None and (known.fn.__module__, known.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ConfigError(
                f"check {id!r} is defined twice, by {known.fn.__module__}.{known.fn.__qualname__} and "
                f"{fn.__module__}.{fn.__qualname__}; give yours another id"
            )
        CHECKS[id] = Check(id, fn, fast, tuple(needs))
        return fn

    return register


# --------------------------------------------------------------------------- selection
def select(opts, subset: str | None = None) -> list[str]:
    """Ids to run: the subset (all | fast), narrowed by `only`, minus `skip`.

    `only` and `skip` take ids (model.gradient) or group prefixes (data, model, train).
    An id named in `only` runs even when it is outside the subset; a prefix stays inside it.
    """
    import_user_modules()  # your checks (user/) register themselves on import, after the recipe's
    subset = str(subset or opts.get("subset", "all"))
    if subset not in ("all", "fast"):
        raise ConfigError(f"checks.subset={subset!r} is not known; use all or fast")
    only, skip = _names(opts, "only"), _names(opts, "skip")
    in_subset = [i for i, c in CHECKS.items() if subset == "all" or c.fast]
    chosen = in_subset
    if only:
        chosen = [i for i in CHECKS if i in only or (i in in_subset and i.split(".")[0] in only)]
    return [i for i in chosen if i not in skip and i.split(".")[0] not in skip]


def _names(opts, key: str) -> list[str]:
    names = opts.get(key) or []
    if isinstance(names, str):
        names = [names]
    names = [str(n) for n in names]
    for n in names:
        if n not in CHECKS and n not in GROUPS:
            raise ConfigError(
                f"checks.{key}: unknown check {n!r}; use ids ({', '.join(CHECKS)}) or groups ({', '.join(GROUPS)})"
            )
    return names


def options(settings: CheckSettings, id: str) -> dict:
    """Thresholds and budgets of one check: the block checks.<last part of id>."""
    return dict(settings.options.get(id.split(".")[-1]) or {})


# --------------------------------------------------------------------------- context
class CheckContext:
    """What the checks share: their settings, the set-up data module, the task, fresh models.

    `new_model(regularized)` builds a model exactly as training builds it (model.net._target_
    can be any torch.nn.Module); the checks ask for regularization off unless they say otherwise.
    """

    def __init__(self, settings: CheckSettings, datamodule: DataInterface, new_model: Callable[[bool], TaskModule]):
        self.settings, self.seed = settings, settings.seed
        self.imbalance, self.metric = settings.imbalance, settings.metric
        self._new_model = new_model
        self.dm = datamodule
        self.dm.setup("fit")
        self.spec = self.dm.spec
        self.kind, self.num_classes = self.spec.task, self.spec.num_classes
        # Unweighted, no label smoothing (regularization off); fitted on train (a regression's scale).
        self.task = make_task(self.kind, self.num_classes)
        self.task.fit(self.targets("train"))
        self.max_examples = int(settings.options.get("max_examples", 4096))
        self._splits: dict = {}
        self.test_reads_at_start = self.dm.test_reads
        self.make_model()  # a config error in model/optimizer surfaces here, before any check

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of a split as the model sees it: all of it, in order, up to checks.max_examples;
        beyond that a seeded random sample of that many (what `sampled()` reports)."""
        if name not in DEV_SPLITS:
            raise ValueError(f"the checks read {DEV_SPLITS} only; the test split stays in the vault")
        if name not in self._splits:
            x, y, index = self.dm.sample(name, self.max_examples, seed=self.seed)
            order = index.argsort()
            self._splits[name] = (x[order], y[order])
        return self._splits[name]

    def targets(self, name: str) -> torch.Tensor:
        """Every target of a split (no inputs are read)."""
        if name not in DEV_SPLITS:
            raise ValueError(f"the checks read {DEV_SPLITS} only; the test split stays in the vault")
        return self.dm.targets(name)

    def sampled(self, name: str) -> str:
        """'' or ' (a sample of n of N examples)': what a check's message says when it did not see everything."""
        total = self.dm.size(name)
        return (
            ""
            if total <= self.max_examples
            else f" (a random sample of {self.max_examples} of {total} {name} examples)"
        )

    def batch(self, name: str, n: int, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n examples of a split, drawn at random (seeded) so that they span the classes."""
        x, y = self.split(name)
        g = torch.Generator().manual_seed(self.seed if seed is None else seed)
        idx = torch.randperm(len(y), generator=g)[: min(n, len(y))]
        return x[idx], y[idx]

    def train_batches(self):
        """Endless shuffled (x, y, index) batches of the train sample, in memory: short check
        runs do not wait for a file loader's workers or decoding."""
        x, y = self.split("train")
        size, epoch = self.dm.batch_size, 0
        while True:
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.seed + epoch))
            for start in range(0, len(y), size):
                b = order[start : start + size]
                yield x[b], y[b], b
            epoch += 1

    def make_model(self, seed: int | None = None, regularized: bool = False):
        """A fresh model as training starts it: small output layer, bias at the prior when
        configured, pretrained backbone (TaskModule.prepare), frozen as fine-tuning starts."""
        torch.manual_seed(self.seed if seed is None else seed)
        model = self._new_model(regularized)
        if hasattr(model, "prepare"):
            try:
                model.prepare(self.dm, check=False)
            except ConfigError:
                raise
            except Exception:  # noqa: BLE001 - a net whose forward fails: model.output_matches_task reports it
                pass
        return model

    def optimizer(self, model, lr: float | None = None, regularized: bool = False) -> torch.optim.Optimizer:
        factory = model.optimizer_factory
        kwargs = {} if lr is None else {"lr": lr}
        if not regularized and "weight_decay" in getattr(factory, "keywords", {}):
            kwargs["weight_decay"] = 0.0
        return factory(params=model.parameters(), **kwargs)

    @property
    def lr(self) -> float | None:
        return self.settings.lr

    def constant_output(self, prior: bool, n: int, y_ref: torch.Tensor | None = None) -> torch.Tensor:
        """The net output of an input-independent predictor: zeros, or the train prior."""
        y = (self.targets("train") if y_ref is None else y_ref) if prior else None
        return self.task.constant_output(y, n)


# --------------------------------------------------------------------------- running
def run_all(
    context: Callable[[], CheckContext],
    settings: CheckSettings,
    ids: list[str] | None = None,
    subset: str | None = None,
    out_dir=None,
) -> list[Result]:
    """Run checks (default: those settings.options select) and return their results in order.

    The context is made inside, so that the models it builds draw from the generators saved
    here. Writes checks.json (and the checks' pictures) into out_dir when given. Restores the
    random number generators afterwards, so a run with checks trains like one without.
    """
    import_user_modules()
    ids = select(settings.options, subset) if ids is None else list(ids)
    unknown = [i for i in ids if i not in CHECKS]
    if unknown:
        raise ConfigError(f"unknown check(s) {unknown}; ids: {', '.join(CHECKS)}")
    results: dict[str, Result] = {}
    with preserved_rng(), threads(settings.options.get("threads")):
        ctx = context()
        ctx.out_dir = Path(out_dir) if out_dir else None
        for id in ids:
            results[id] = run_one(ctx, id, results)
    reads = ctx.dm.test_reads - ctx.test_reads_at_start
    if reads:  # a bug in a check: say so loudly rather than leak the vault quietly
        raise RuntimeError(f"the checks read the test split {reads} time(s); they must never do that")
    out = list(results.values())
    if out_dir:
        write_json(out, Path(out_dir) / "checks.json")
    return out


def run_one(ctx: CheckContext, id: str, done: dict) -> Result:
    entry = CHECKS[id]
    failed = [n for n in entry.needs if n in done and done[n].status == "fail"]
    if failed:
        return Result("skip", message=f"not run: {failed[0]} failed, which makes this check meaningless", id=id)
    start = time.perf_counter()
    torch.manual_seed(ctx.seed)
    try:
        result = entry.fn(ctx, options(ctx.settings, id))
    except Exception as e:  # noqa: BLE001 - a crash in the user's model is a finding, not the end
        traceback.print_exc()
        result = Result(
            "fail",
            message=f"the check crashed: {type(e).__name__}: {e}",
            remedy="the traceback above shows where; often a shape or dtype the net does not expect",
        )
    result.id, result.seconds = id, round(time.perf_counter() - start, 3)
    if result.status not in STATUSES:
        raise ValueError(f"check {id} returned status {result.status!r}")
    return result


@contextlib.contextmanager
def preserved_rng():
    """The checks draw random numbers; the training that follows must not notice."""
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []):
        try:
            yield
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


@contextlib.contextmanager
def threads(n):
    """Tiny batches run faster on one CPU thread than on several that wait for each other."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.status == "fail" for r in results) else 0


def counts(results: list[Result]) -> str:
    return ", ".join(
        f"{sum(r.status == s for r in results)} {s}" for s in STATUSES if any(r.status == s for r in results)
    )


# --------------------------------------------------------------------------- output
def write_json(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.to_json() for r in results], indent=2))


def table(results: list[Result]) -> str:
    """check | status | value | threshold | time; the message and remedy under a warn or fail."""
    rows = [("check", "status", "value", "threshold", "time")]
    for r in results:
        rows.append(
            (
                r.id,
                r.status.upper() if r.status in ("warn", "fail") else r.status,
                r.shown or _short(r.value),
                _short(r.threshold),
                f"{r.seconds:.2f}s",
            )
        )
    widths = [min(max(len(row[i]) for row in rows), cap) for i, cap in enumerate((28, 6, 30, 30, 8))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell[:w].ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
            continue
        r = results[n - 1]
        if r.status in ("warn", "fail", "skip") and r.message:
            lines.append(f"    {r.message}")
        if r.status in ("warn", "fail") and r.remedy:
            lines.append(f"    remedy: {r.remedy}")
    return "\n".join(lines)


def _short(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_short(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.1e}"


def _plain(value):
    """JSON-safe: numpy/torch scalars to Python, non-finite floats to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
