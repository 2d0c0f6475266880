"""Error analysis (M33): confusion matrix, per-class metrics, the worst mistakes to look at.

Written into the run directory (all on the dev split; the test split is never read here):
  confusion_matrix.png / .csv    rows = true class, columns = predicted class
  per_class_metrics.csv          precision, recall, F1, support per class
  per_label_metrics.csv          multilabel: the same per label, over the labels present
  worst_mistakes.csv             every misclassified dev example, highest loss first, with
                                 empty `mislabeled` and `note` columns to tag by hand. Written
                                 again (diagnose.py, a resumed run), it keeps the tags already
                                 in it: matched on the dataset `index`, never on the row.
                                 `suspect_label` / `suggested_label`: cleanlab thinks the given
                                 label is wrong, and which it would be (evaluation/quality.py)
  label_issues.csv / .png        the suspect labels of train, train_dev and dev, most likely
                                 wrong first (a picture of the top ones for images)
  mismatch_evidence.png          image data: mean train and dev image and the pixels that tell
                                 them apart (evaluation/reports.py asks for it on data mismatch)
  correct_examples.csv           the correctly classified ones, least confident first
  worst_mistakes.png             image data: a grid of the worst mistakes (tables: see the CSV)
  correct_examples.png           image data: the least confident correct ones
  predicted_vs_true.png          regression: predictions against targets
Every picture is also logged to the configured logger (TensorBoard figure, W&B image).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..tasks import Task


# --------------------------------------------------------------------------- pictures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, loggers=(), name: str | None = None, step: int | None = None) -> Path:
    """PNG into the run directory, the same picture to every logger that takes pictures."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    name = name or path.stem
    for logger in loggers or ():
        kind = type(logger).__name__
        try:
            if kind == "TensorBoardLogger":
                logger.experiment.add_figure(name, fig, global_step=step or 0, close=False)
            elif kind == "WandbLogger":
                logger.log_image(key=name, images=[str(path)])
            elif kind == "MLFlowLogger":
                logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="figures")
        except Exception as e:  # noqa: BLE001 - a logger hiccup must not lose the run's report
            print(f"warning: could not log {name} to {kind}: {e}")
    _plt().close(fig)
    return path


def is_image(shape) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3)


def unstandardize(datamodule, x: torch.Tensor) -> torch.Tensor:
    return datamodule.standardizer.inverse(x)


# --------------------------------------------------------------------------- tables
def write_csv(path: Path, rows: list[dict]) -> Path:
    path = Path(path)
    with path.open("w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


TAGS = ("mislabeled", "note")  # the columns a person fills in by hand


def read_tags(paths) -> tuple[dict[str, dict], list[Path]]:
    """dataset index -> {tag column: text} from earlier CSVs, only rows with a tag; and the files read."""
    tags, read = {}, []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                found = {k: row[k] for k in TAGS if (row.get(k) or "").strip()}
                if found and (row.get("index") or "").strip():
                    tags[row["index"].strip()] = found
        read.append(path)
    return tags, read


def carry_tags(tables: dict[Path, list[dict]]) -> None:
    """Before CSVs are written again: put the tags of the files being replaced onto the rows of
    the same examples (dataset index; an example may move between worst_mistakes.csv and
    correct_examples.csv). Tags whose example is in no new row are kept in a dated copy of the
    old file. Says what it did in one line; never loses a tag silently."""
    tags, old = read_tags(tables)
    if not tags:
        return
    placed: dict[Path, int] = {}
    for path, rows in tables.items():
        for row in rows:
            found = tags.get(str(row["index"]))
            if found:
                row.update(found)
                placed[Path(path)] = placed.get(Path(path), 0) + 1
    n_placed = sum(placed.values())
    where = ", ".join(f"{n} in {p.name}" for p, n in placed.items())
    message = (
        f"kept {n_placed} hand-written tag(s) from the previous {' and '.join(p.name for p in old)} "
        f"(matched on index{': ' + where if where else ''})"
    )
    lost = len(tags) - n_placed
    if lost:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        copies = []
        for path in old:
            copy = path.with_name(f"{path.stem}.before-{stamp}{path.suffix}")
            shutil.copyfile(path, copy)
            copies.append(copy.name)
        message += f"; {lost} tag(s) are on examples no longer listed: they stay in {', '.join(copies)}"
    print(message)


def confusion(pred: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def per_class(matrix: np.ndarray, names: list[str] | None = None) -> list[dict]:
    rows = []
    for c in range(len(matrix)):
        tp, support, predicted = matrix[c, c], matrix[c].sum(), matrix[:, c].sum()
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        rows.append(
            {
                "class": names[c] if names else c,
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f1), 4),
                "support": int(support),
            }
        )
    return rows


def confusion_figure(matrix: np.ndarray, split: str, names: list[str] | None = None):
    plt = _plt()
    c = len(matrix)
    size = max(4.5, 0.55 * c + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if c <= 30:
        for i in range(c):
            for j in range(c):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        str(matrix[i, j]),
                        ha="center",
                        va="center",
                        fontsize=9,
                        color="white" if rates[i, j] > 0.5 else "black",
                    )
    labels = names or [str(i) for i in range(c)]
    ax.set_xticks(
        range(c),
        labels,
        rotation=45 if max(map(len, labels)) > 3 else 0,
        ha="right" if max(map(len, labels)) > 3 else "center",
    )
    ax.set_yticks(range(c), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix on {split} (n={matrix.sum()}): counts,\ncolour = share of the true class (recall)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    return fig


def image_grid(images: torch.Tensor, titles: list[str], title: str, cols: int = 6):
    plt = _plt()
    n = len(images)
    cols = max(1, min(cols, n))  # as many columns as pictures: one mistake is not a wide empty strip
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(max(cols * 1.9, 2.6), rows * 2.2 + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, text in zip(axes.flat, images, titles):
        img = img.float()
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap="gray_r", interpolation="nearest")
        else:
            img = (img - img.min()) / (img.max() - img.min() + 1e-8)
            ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(text, fontsize=8.5)
    if cols < 4:  # a narrow figure: the title on as many lines as it needs
        import textwrap

        title = textwrap.fill(title, width=max(24, cols * 20))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the analysis
@dataclass
class Looked:
    """What every part of one split's error analysis shares: the model's outputs and the
    examples they belong to (named, and as pictures for image data)."""

    task: Task
    datamodule: object  # the DataInterface
    out: torch.Tensor
    y: torch.Tensor
    loss: np.ndarray  # per example
    index: np.ndarray  # the examples' positions in the source, what hand-written tags match on
    described: list[dict]  # per example: its name and what a person knows it by
    out_dir: Path
    loggers: tuple
    split: str
    worst_k: int

    @property
    def spec(self):
        return self.datamodule.spec

    @property
    def image(self) -> bool:
        return is_image(tuple(self.spec.input_shape))

    def pictures(self, which: np.ndarray) -> torch.Tensor:
        return unstandardize(self.datamodule, self.datamodule.examples(torch.from_numpy(self.index[which]))[0])

    def grid(self, which: np.ndarray, titles: list[str], title: str, name: str) -> str:
        fig = image_grid(self.pictures(which), titles, title)
        return str(save_figure(fig, self.out_dir / f"{name}.png", self.loggers, f"analysis/{name}"))

    def row(self, rank: int, i: int, **values) -> dict:
        """One row of worst_mistakes.csv (and its kin): rank, example, values, the tag columns."""
        head = {"rank": rank, "index": int(self.index[i]), "example": self.described[i]["example"]}
        return {**head, **values, "mislabeled": "", "note": "", **_columns(self.described[i])}


@torch.no_grad()
def error_analysis(
    predictions,
    datamodule,
    task: Task,
    out_dir: Path,
    loggers=(),
    split: str = "dev",
    worst_k: int = 24,
    suspects: dict | None = None,
) -> dict:
    """Everything in the module docstring, for one split's Predictions (inference.predict).

    Rows carry the example's name (file path, table row) and class names; `index` is the
    example's position in the source, what hand-written tags are matched on. `suspects`:
    dataset index -> suggested class id of the examples whose label looks wrong."""
    out, y = predictions.out, predictions.y
    index = predictions.index.numpy()
    looked = Looked(
        task, datamodule, out, y, task.per_example_loss(out, y).numpy(), index,
        datamodule.describe(index), Path(out_dir), tuple(loggers), split, worst_k,
    )  # fmt: skip
    if not task.classes:
        return value_analysis(looked)
    if not task.single_label:
        return label_analysis(looked)
    return class_analysis(looked, suspects)


def value_analysis(a: Looked) -> dict:
    """Values (regression): the largest errors, and predicted against true."""
    pred, y_np = a.task.predict(a.out).numpy(), a.y.numpy()
    order = np.argsort(-np.abs(pred - y_np))
    rows = [
        a.row(r + 1, i, y_true=float(y_np[i]), y_pred=round(float(pred[i]), 4),
              abs_error=round(float(abs(pred[i] - y_np[i])), 4))
        for r, i in enumerate(order)
    ]  # fmt: skip
    carry_tags({a.out_dir / "worst_mistakes.csv": rows})
    result = {"split": a.split, "worst_mistakes_csv": str(write_csv(a.out_dir / "worst_mistakes.csv", rows))}
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(y_np, pred, s=12, alpha=0.6)
    lo, hi = float(min(y_np.min(), pred.min())), float(max(y_np.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], color="black", ls="--", lw=1, label="perfect prediction")
    ax.set_xlabel(f"true {a.spec.target_name or 'value'}")
    ax.set_ylabel(f"predicted {a.spec.target_name or 'value'}")
    ax.set_title(f"Predicted vs true on {a.split} (n={len(y_np)})")
    ax.legend()
    result["predicted_vs_true"] = str(
        save_figure(fig, a.out_dir / "predicted_vs_true.png", a.loggers, "analysis/predicted_vs_true")
    )
    print(f"\nWorst {a.split} predictions (largest |error|), all in {result['worst_mistakes_csv']}:")
    for row in rows[:5]:
        print(
            f"  {row['example']:<12} true {row['y_true']:<10.4g} predicted {row['y_pred']:<10.4g} |error| {row['abs_error']:.4g}"
        )
    return result


def class_analysis(a: Looked, suspects: dict | None) -> dict:
    """One class per example: the confusion matrix, per-class metrics, the worst mistakes and
    the least confident correct examples (highest loss first), tagged rows to carry over."""
    spec, out_dir = a.spec, a.out_dir
    names = [spec.class_name(c) for c in range(spec.num_classes or 2)]
    pred, probs, y_int = (
        a.task.predict(a.out).numpy(),
        a.task.probabilities(a.out).numpy(),
        a.y.numpy().astype(np.int64),
    )
    result = {"split": a.split, **confusion_files(pred, y_int, names, a)}

    def row(rank, i):
        return a.row(
            rank, i, y_true=names[y_int[i]], y_pred=names[pred[i]], confidence=round(float(probs[i, pred[i]]), 4),
            p_true=round(float(probs[i, y_int[i]]), 4), loss=round(float(a.loss[i]), 4),
            **_suspect(suspects, int(a.index[i]), names),
        )  # fmt: skip

    wrong, right = np.flatnonzero(pred != y_int), np.flatnonzero(pred == y_int)
    wrong, right = wrong[np.argsort(-a.loss[wrong], kind="stable")], right[np.argsort(-a.loss[right], kind="stable")]
    result["n_mistakes"] = int(len(wrong))
    wrong_rows, right_rows = [row(r + 1, i) for r, i in enumerate(wrong)], [row(r + 1, i) for r, i in enumerate(right)]
    carry_tags({out_dir / "worst_mistakes.csv": wrong_rows, out_dir / "correct_examples.csv": right_rows})
    result["worst_mistakes_csv"] = str(write_csv(out_dir / "worst_mistakes.csv", wrong_rows))
    result["correct_examples_csv"] = str(write_csv(out_dir / "correct_examples.csv", right_rows))
    if a.image and len(wrong):
        top = wrong[: a.worst_k]
        titles = [
            f"{_short(a.described[i]['example'])}\ntrue {names[y_int[i]]} → {names[pred[i]]}\n"
            f"p={probs[i, pred[i]]:.2f} loss {a.loss[i]:.2f}"
            for i in top
        ]
        title = f"Worst {len(top)} of {len(wrong)} {a.split} mistakes (highest loss first)"
        result["worst_mistakes_png"] = a.grid(top, titles, title, "worst_mistakes")
    if a.image and len(right):
        top = right[: a.worst_k]
        titles = [
            f"{_short(a.described[i]['example'])}\n{names[y_int[i]]}\np={probs[i, pred[i]]:.2f} loss {a.loss[i]:.2f}"
            for i in top
        ]
        title = f"Least confident {len(top)} of {len(right)} correct {a.split} examples"
        result["correct_examples_png"] = a.grid(top, titles, title, "correct_examples")
    weakest = sorted(result["per_class"], key=lambda r: r["f1"])[:3]
    print(
        f"\nError analysis on {a.split}: {len(wrong)} of {len(y_int)} wrong; weakest classes by F1: "
        + ", ".join(f"{r['class']} (P {r['precision']:.2f} R {r['recall']:.2f} F1 {r['f1']:.2f})" for r in weakest)
    )
    if len(wrong):
        print(
            f"  worst mistakes: {result.get('worst_mistakes_png', result['worst_mistakes_csv'])}  (tag "
            f"them in {Path(result['worst_mistakes_csv']).name})"
        )
        for r in [] if a.image else wrong_rows[:5]:
            print(
                f"  {r['example']:<12} true {r['y_true']} predicted {r['y_pred']} (p={r['confidence']:.2f}, loss {r['loss']:.2f})"
            )
    return result


def confusion_files(pred: np.ndarray, y_int: np.ndarray, names: list[str], a: Looked) -> dict:
    """The confusion matrix (CSV, PNG) and per-class precision, recall and F1 (CSV)."""
    matrix = confusion(pred, y_int, len(names))
    classes = per_class(matrix, names)
    write_csv(
        a.out_dir / "confusion_matrix.csv",
        [{"true\\pred": names[c], **{names[j]: int(v) for j, v in enumerate(matrix[c])}} for c in range(len(names))],
    )
    figure = confusion_figure(matrix, a.split, names)
    return {
        "class_names": names,
        "confusion_matrix": matrix.tolist(),
        "per_class": classes,
        "per_class_csv": str(write_csv(a.out_dir / "per_class_metrics.csv", classes)),
        "confusion_matrix_png": str(
            save_figure(figure, a.out_dir / "confusion_matrix.png", a.loggers, "analysis/confusion_matrix")
        ),
    }


def label_analysis(a: Looked) -> dict:
    """Several labels per example (multilabel): per-label precision, recall and F1 over the
    labels present, and the examples with a wrong label, highest loss first (missing labels
    never count as wrong)."""
    task, spec, out_dir = a.task, a.spec, a.out_dir
    names = [spec.class_name(j) for j in range(task.num_classes)]
    pred = task.predict(a.out).numpy().astype(bool)
    y_np = a.y.numpy()
    present, truth = ~np.isnan(y_np), np.nan_to_num(y_np) == 1
    rows = [per_label(name, pred[:, j], truth[:, j], present[:, j]) for j, name in enumerate(names)]
    result = {"split": a.split, "label_names": names, "per_label": rows}
    result["per_label_csv"] = str(write_csv(out_dir / "per_label_metrics.csv", rows))

    def text(i, which):
        return ";".join(names[j] for j in range(len(names)) if which[i, j]) or "-"

    wrong_labels = (pred != truth) & present
    wrong = np.flatnonzero(wrong_labels.any(1))
    wrong = wrong[np.argsort(-a.loss[wrong], kind="stable")]
    mistakes = [
        a.row(r + 1, i, y_true=task.describe_target(a.y[i], spec.class_name), y_pred=text(i, pred),
              wrong_labels=text(i, wrong_labels), loss=round(float(a.loss[i]), 4))
        for r, i in enumerate(wrong)
    ]  # fmt: skip
    carry_tags({out_dir / "worst_mistakes.csv": mistakes})
    result["n_mistakes"] = int(len(wrong))
    result["worst_mistakes_csv"] = str(write_csv(out_dir / "worst_mistakes.csv", mistakes))
    if a.image and len(wrong):
        top = wrong[: a.worst_k]
        titles = [
            f"{_short(a.described[i]['example'])}\nwrong: {_short(text(i, wrong_labels))}\nloss {a.loss[i]:.2f}"
            for i in top
        ]
        title = f"Worst {len(top)} of {len(wrong)} {a.split} examples with a wrong label"
        result["worst_mistakes_png"] = a.grid(top, titles, title, "worst_mistakes")
    weakest = sorted(rows, key=lambda r: r["f1"])[:3]
    print(
        f"\nError analysis on {a.split}: {len(wrong)} of {len(y_np)} examples have a wrong label; weakest labels by F1: "
        + ", ".join(f"{r['label']} (P {r['precision']:.2f} R {r['recall']:.2f} F1 {r['f1']:.2f})" for r in weakest)
    )
    for r in mistakes[:5]:
        print(
            f"  {r['example']:<12} true {r['y_true']} predicted {r['y_pred']} (wrong: {r['wrong_labels']}, loss {r['loss']:.2f})"
        )
    return result


def per_label(name: str, p: np.ndarray, t: np.ndarray, m: np.ndarray) -> dict:
    """Precision, recall and F1 of one label over the examples where it is present (m)."""
    tp, fp, fn = int((p & t & m).sum()), int((p & ~t & m).sum()), int((~p & t & m).sum())
    precision, recall = (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "label": name, "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "positives": int((t & m).sum()), "present": int(m.sum()), "missing": int((~m).sum()),
    }  # fmt: skip


def _suspect(suspects: dict | None, index: int, names: list[str]) -> dict:
    """The label-issue columns of one row (absent when label issues were not looked for)."""
    if suspects is None:
        return {}
    found = index in suspects
    return {"suspect_label": "yes" if found else "", "suggested_label": names[suspects[index]] if found else ""}


# --------------------------------------------------------------------------- data quality
def write_label_issues(found: dict, datamodule, out_dir: Path, loggers=(), worst_k: int = 24) -> dict:
    """label_issues.csv (every suspect of every split, most likely wrong first, with the
    `mislabeled` / `note` columns to tag, kept across re-runs) and, for images,
    label_issues.png (the top `worst_k`, given -> suggested label)."""
    out_dir, spec = Path(out_dir), datamodule.spec
    rows = []
    for split, f in found.items():
        described = datamodule.describe(f["index"])
        for rank, (i, given, suggested, quality) in enumerate(
            zip(f["index"], f["given"], f["suggested"], f["quality"])
        ):
            rows.append(
                {
                    "split": split,
                    "rank": rank + 1,
                    "index": int(i),
                    "example": described[rank]["example"],
                    "given_label": spec.class_name(given),
                    "suggested_label": spec.class_name(suggested),
                    "label_quality": round(float(quality), 4),
                    "mislabeled": "",
                    "note": "",
                    **_columns(described[rank]),
                }
            )
    carry_tags({out_dir / "label_issues.csv": rows})  # a re-run keeps what was tagged by hand
    result = {"csv": str(write_csv(out_dir / "label_issues.csv", rows))}
    if rows and is_image(tuple(spec.input_shape)):
        top = sorted(rows, key=lambda r: r["label_quality"])[:worst_k]
        pictures = unstandardize(datamodule, datamodule.examples(torch.tensor([r["index"] for r in top]))[0])
        titles = [
            f"{r['split']} {_short(r['example'], 16)}\ngiven {r['given_label']} → {r['suggested_label']}?\n"
            f"p(given)={r['label_quality']:.2f}"
            for r in top
        ]
        fig = image_grid(
            pictures, titles, f"{len(top)} most likely wrong labels of {len(rows)} suspects (train, train_dev, dev)"
        )
        result["png"] = str(save_figure(fig, out_dir / "label_issues.png", loggers, "analysis/label_issues"))
    return result


def mismatch_figure(evidence: dict, datamodule):
    """Image data: the mean train image, the mean dev image, and how differently each pixel
    is distributed in the two (Kolmogorov-Smirnov statistic, the largest over channels)."""
    plt = _plt()
    shape = tuple(evidence["input_shape"])
    means = unstandardize(
        datamodule, torch.from_numpy(np.stack([evidence["train_mean"], evidence["dev_mean"]])).reshape(2, *shape)
    )
    heat = np.asarray(evidence["drift"]).reshape(shape).max(0)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    means = (means - means.min()) / (means.max() - means.min() + 1e-8)  # one scale: a darker dev shows as darker
    for ax, img, title in zip(axes, means.float(), ("mean train image", "mean dev image")):
        ax.imshow(
            img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(),
            cmap="gray_r" if img.shape[0] == 1 else None,
        )
        ax.set_title(title)
    im = axes[2].imshow(heat, cmap="magma", vmin=0, vmax=max(float(heat.max()), 0.1))
    axes[2].set_title("where they differ")
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04, label="KS statistic (0 = same distribution)")
    for ax in axes:
        ax.axis("off")
    low, high = evidence["ci"]
    fig.suptitle(
        f"train vs dev: a classifier separates them with AUC {evidence['auc']:.3f} (95% CI {low:.3f}-{high:.3f}): "
        f"{evidence['verdict']}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _columns(described: dict) -> dict:
    """What describe() adds beside the name (a table's original columns), prefixed so that
    they never collide with the analysis's own columns."""
    return {f"x.{k}": v for k, v in described.items() if k != "example" and v != described["example"]}


def _short(name: str, width: int = 22) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]
