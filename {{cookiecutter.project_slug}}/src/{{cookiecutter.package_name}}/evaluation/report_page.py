"""report.html: one self-contained page per run, diagnose.py, evaluation and sweep (issue 26).

The page tells the methodology's story in its order: the run and what the checks said
(failing and warning ones first), the scores per split beside the baseline and human
level, the diagnosis with its gaps and noise bands and the next step, the learning curves,
the evidence behind the largest gap, the confusion matrix and per-class metrics, the worst
mistakes, the provenance. Everything is read from the files the run already wrote (the
page adds no number of its own), figures are embedded as base64 PNG, and every value
from the data (class names, file names, notes) is HTML-escaped by Jinja2's autoescape.
No JavaScript is needed to read it; it opens from disk in any browser and prints.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

PAGE = "report.html"
TEMPLATE = "report_page.html.j2"
ROWS = 24  # rows of a CSV shown on the page; the file beside it holds them all

GAP_NAMES = {
    "avoidable_bias": "avoidable bias",
    "variance": "variance",
    "data_mismatch": "data mismatch",
    "dev_overfitting": "dev overfitting",
}
GAP_SPLITS = {  # the two error levels each gap lies between (evaluation/diagnosis.py)
    "avoidable_bias": ("human", "train"),
    "variance": ("train", "train_dev"),
    "data_mismatch": ("train_dev", "dev"),
    "dev_overfitting": ("dev", "test"),
}
STATUS_ORDER = {"fail": 0, "error": 0, "warn": 1, "pass": 2, "skip": 3}
KINDS = {
    "run": "Training run",
    "diagnose": "Diagnosis of a checkpoint (diagnose.py)",
    "evaluation": "Final evaluation in the test vault (evaluate.py)",
    "stopped": "Training run stopped by the checks",
}


# --------------------------------------------------------------------------- small readers
def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):  # absent or half-written: the page says what is missing instead
        return None


def read_csv(path: Path, limit: int = ROWS) -> tuple[list[str], list[dict], int]:
    """(columns, the first `limit` rows, how many rows the file has)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return [], [], 0
    columns = list(rows[0]) if rows else []
    return columns, rows[:limit], len(rows)


def embed_png(path: Path | str | None) -> str | None:
    """A data: URI of a PNG file, or None when there is none (the page says so, no broken image)."""
    if not path:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_uri(fig) -> str:
    """A matplotlib figure as a data: URI (the sweep page draws one of its own)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def num(v: Any, digits: int = 4) -> str:
    """Numbers as the console prints them: 4 decimals; large or tiny ones in 4 significant digits."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return "" if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}f}"


def cell(text: Any) -> str:
    """A CSV cell for reading: a long decimal (0.0417084448...) in 4 significant digits; names as they are."""
    if not isinstance(text, str) or "." not in text or len(text) <= 8:
        return "" if text is None else str(text)
    try:
        return f"{float(text):.4g}"
    except ValueError:
        return text


def signed(v: Any) -> str:
    return "" if v is None else ("+" if v >= 0 else "") + num(v)


# --------------------------------------------------------------------------- sections of a run page
def checks_section(checks: list[dict] | None) -> dict:
    """The checks, failing ones first, then warnings, then the passed; counts per status."""
    if not checks:
        return {"rows": [], "counts": {}, "failed": [], "warned": []}
    rows = sorted(checks, key=lambda c: STATUS_ORDER.get(c.get("status"), 2))
    counts: dict[str, int] = {}
    for c in rows:
        counts[c.get("status", "?")] = counts.get(c.get("status", "?"), 0) + 1
    return {
        "rows": rows,
        "counts": counts,
        "failed": [c for c in rows if c.get("status") in ("fail", "error")],
        "warned": [c for c in rows if c.get("status") == "warn"],
    }


def scores_section(diagnosis: dict, summary: dict | None) -> dict:
    """One row per split: the objective, its error, n, every other metric, the baseline's score."""
    metric = (diagnosis.get("objective") or {}).get("metric") or (summary or {}).get("objective")
    scores = diagnosis.get("scores") or {}
    baseline = ((summary or {}).get("baseline") or {}).get("scores") or {}
    others: list[str] = []
    for values in scores.values():
        others += [k for k in values if k not in (metric, "error", "n", *others)]
    rows = [
        {
            "split": split,
            "metric": values.get(metric),
            "error": values.get("error"),
            "n": values.get("n"),
            "baseline": baseline.get(split),
            "reference": ((diagnosis.get("reference") or {}).get("scores") or {}).get(split),
            "others": [values.get(k) for k in others],
        }
        for split, values in scores.items()
    ]
    return {
        "metric": metric,
        "error_measure": diagnosis.get("error_measure", "error"),
        "others": others,
        "rows": rows,
        "baseline_prediction": ((summary or {}).get("baseline") or {}).get("prediction"),
        "human": (diagnosis.get("errors") or {}).get("human"),
        "human_known": diagnosis.get("human_error_known", False),
        "proxy": diagnosis.get("bayes_proxy") or {"error": 0.0, "source": None},
        "reference_model": (diagnosis.get("reference") or {}).get("model"),
        "floor": diagnosis.get("error_floor"),
    }


def gaps_section(diagnosis: dict) -> list[dict]:
    errors = diagnosis.get("errors") or {}
    noise = diagnosis.get("gap_noise") or {}
    proxy = (diagnosis.get("bayes_proxy") or {}).get(
        "error", errors.get("human") or 0.0
    )  # the level avoidable bias is from
    rows = []
    for name, value in (diagnosis.get("gaps") or {}).items():
        low, high = GAP_SPLITS.get(name, ("", ""))
        band = noise.get(name)
        rows.append(
            {
                "key": name,
                "name": GAP_NAMES.get(name, name),
                "between": f"{low} {num(proxy) if low == 'human' else num(errors.get(low))} -> "
                f"{high} {num(errors.get(high))}",
                "value": value,
                "noise": band,
                "within_noise": band is not None and value is not None and abs(value) <= band,
                "largest": name == diagnosis.get("largest_gap"),
            }
        )
    return rows


def evidence_sections(diagnosis: dict, out_dir: Path, checks: list[dict] | None) -> list[dict]:
    """Mismatch, label issues, near-duplicates: the one that bears on the largest gap first."""
    largest = diagnosis.get("largest_gap")
    found = [s for s in (mismatch_evidence(diagnosis), label_issues(diagnosis, out_dir)) if s]
    found += near_duplicates(diagnosis, out_dir, checks)
    bears_on = {"data_mismatch": ("mismatch", "near_duplicates"), "variance": ("label_issues",)}
    first = bears_on.get(largest, ())
    return sorted(found, key=lambda s: 0 if s["key"] in first else 1)


def mismatch_evidence(diagnosis: dict) -> dict | None:
    ev = diagnosis.get("mismatch_evidence")
    if not ev:
        return None
    if "skipped" in ev:
        return {"key": "mismatch", "title": "Data mismatch evidence", "text": f"Not measured: {ev['skipped']}."}
    low, high = ev.get("ci") or (None, None)
    features = [
        {"feature": f.get("feature"), "drift": f.get("drift"), "shift": f.get("dev_minus_train")}
        for f in ev.get("top_features") or []
    ]
    return {
        "key": "mismatch",
        "title": "Data mismatch evidence: can a classifier tell dev inputs from train inputs?",
        "text": f"AUC {num(ev.get('auc'), 3)} (95% CI {num(low, 3)} to {num(high, 3)}; 0.5 = indistinguishable): "
        f"{ev.get('verdict')}. {ev.get('n_train')} train and {ev.get('n_dev')} dev inputs.",
        "features": features,
        "image": embed_png(ev.get("png")),
        "caption": "Mean train and dev image and the pixels whose distribution differs most: where the "
        "bright areas sit is what dev has that train lacks.",
    }


def label_issues(diagnosis: dict, out_dir: Path) -> dict | None:
    li = diagnosis.get("label_issues")
    if not li:
        return None
    if "skipped" in li:
        return {"key": "label_issues", "title": "Label issues", "text": f"Not looked for: {li['skipped']}."}
    counts = li.get("counts") or {}
    columns, rows, total = read_csv(out_dir / "label_issues.csv")
    return {
        "key": "label_issues",
        "title": "Label issues: examples whose given label looks wrong",
        "text": "; ".join(f"{s}: {c['suspects']} of {c['of']} (from {c['from']})" for s, c in counts.items())
        + (f". Caution: {li['caution']}." if li.get("caution") else "."),
        "image": embed_png(out_dir / "label_issues.png"),
        "caption": "The likeliest wrong labels, given -> suggested: if the suggested label is right, relabel "
        "them in your data (or tag them in label_issues.csv) and retrain.",
        "table": {"columns": columns, "rows": rows, "total": total, "file": "label_issues.csv"},
    }


def near_duplicates(diagnosis: dict, out_dir: Path, checks: list[dict] | None) -> list[dict]:
    """The input check's verdict and the net's penultimate layer's, with their pairs: one section."""
    check = next((c for c in checks or [] if c.get("id") == "data.near_duplicates"), None)
    emb = diagnosis.get("near_duplicates_embedding")
    texts = [f"On the inputs (data.near_duplicates): {check.get('message')}."] if check else []
    if emb:
        counts = ", ".join(f"{s} {n}" for s, n in emb.get("counts", {}).items())
        texts.append(
            f"In the net's penultimate layer: {counts} examples within {num(emb.get('ratio'), 2)}x the typical "
            f"train distance of a train example (closest: {num(emb.get('closest'), 3)}x)."
        )
    tables = []
    for name in ("near_duplicates.csv", "near_duplicates_embedding.csv"):
        columns, rows, total = read_csv(out_dir / name)
        if rows:
            tables.append({"columns": columns, "rows": rows, "total": total, "file": name})
    if not texts and not tables:
        return []
    return [
        {
            "key": "near_duplicates",
            "title": "Near-duplicates: dev or train_dev examples that copy a train example",
            "text": " ".join(texts),
            "table": tables[0] if tables else None,
            "table2": tables[1] if len(tables) > 1 else None,
            "image": embed_png(out_dir / "near_duplicates.png"),
            "caption": "Each flagged example beside its nearest train example: if they are the same item, "
            "dev scores overstate how the model does on new data; drop them from dev or from train.",
        }
    ]


def errors_section(diagnosis: dict, out_dir: Path) -> dict | None:
    """Confusion matrix, per-class metrics (weakest first) and the worst mistakes with their tags."""
    ea = diagnosis.get("error_analysis")
    if not ea:
        return None
    per_class = sorted(ea.get("per_class") or ea.get("per_label") or [], key=lambda r: r.get("f1", 1.0))
    columns, rows, total = read_csv(out_dir / "worst_mistakes.csv")
    return {
        "split": ea.get("split", "dev"),
        "n_mistakes": ea.get("n_mistakes"),
        "confusion": embed_png(ea.get("confusion_matrix_png") or out_dir / "confusion_matrix.png"),
        "predicted_vs_true": embed_png(ea.get("predicted_vs_true") or out_dir / "predicted_vs_true.png"),
        "per_class": per_class,
        "per_class_name": "label" if ea.get("per_label") else "class",
        "worst": embed_png(ea.get("worst_mistakes_png") or out_dir / "worst_mistakes.png"),
        "correct": embed_png(ea.get("correct_examples_png") or out_dir / "correct_examples.png"),
        "table": {"columns": columns, "rows": rows, "total": total, "file": "worst_mistakes.csv"},
    }


def run_facts(run_dir: Path, summary: dict | None, diagnosis: dict) -> list[tuple[str, str]]:
    """What was trained on what: data, task, model, objective, epochs, the checkpoint."""
    from omegaconf import OmegaConf

    facts: list[tuple[str, str]] = []
    hydra = run_dir / ".hydra" / "hydra.yaml"
    choices = {}
    if hydra.is_file():
        choices = OmegaConf.to_container(OmegaConf.load(hydra)).get("hydra", {}).get("runtime", {}).get("choices", {})
    spec = (read_json(run_dir / "preprocessing.json") or {}).get("spec") or {}
    info = read_json(run_dir / "run_info.json") or {}
    config = (
        OmegaConf.load(run_dir / ".hydra" / "config.yaml") if (run_dir / ".hydra" / "config.yaml").is_file() else {}
    )
    data = config.get("data", {}) if config else {}
    where = data.get("path") if data else None
    name = choices.get("data") or _target_name(data.get("source") or data)
    facts.append(("data", name + (f" ({where})" if where else "")))
    if data and data.get("target"):
        facts.append(("target", str(data.get("target"))))
    classes = spec.get("class_names") or []
    shape = spec.get("input_shape")
    facts.append(
        (
            "task",
            f"{spec.get('task', '?')}"
            + (f", {len(classes)} classes" if classes else "")
            + (f", input shape {list(shape)}" if shape else ""),
        )
    )
    sizes = ", ".join(f"{s} {v.get('n')}" for s, v in (diagnosis.get("scores") or {}).items() if v.get("n"))
    if sizes:
        facts.append(("examples", sizes))
    model = choices.get("model") or _target_name((config.get("model") or {}).get("net") if config else None)
    measured = (summary or {}).get("measured") or {}
    facts.append(("model", model + (f", {measured['params']:,} parameters" if measured.get("params") else "")))
    if choices.get("optimizer"):
        facts.append(("optimizer", choices["optimizer"]))
    objective = config.get("objective", {}) if config else {}
    wanted = f"{objective.get('metric', '?')} ({objective.get('mode', '')})" if objective else "?"
    if objective and objective.get("target") is not None:
        wanted += f", target {objective.get('target')}"
    if objective and objective.get("satisficing"):
        wanted += "; satisficing: " + ", ".join(map(str, objective.get("satisficing")))
    facts.append(("objective", wanted))
    if summary and summary.get("epochs") is not None:
        facts.append(("epochs", str(summary["epochs"])))
    if summary and summary.get("best_checkpoint"):
        facts.append(("checkpoint", Path(summary["best_checkpoint"]).name + " (selected on dev)"))
    if info.get("command"):
        facts.append(("command", "python " + info["command"]))
    return facts


def _target_name(node) -> str:
    """load_digits, MLP: the last part of a config node's _target_ (a run composed without Hydra's choices)."""
    target = node.get("_target_") if hasattr(node, "get") else None
    return str(target).rsplit(".", 1)[-1] if target else "?"


def provenance(run_dir: Path) -> dict:
    info = read_json(run_dir / "run_info.json") or {}
    env = run_dir / "environment.txt"
    config = run_dir / "resolved_config.yaml"
    return {
        "info": [(k, json.dumps(v) if isinstance(v, (list, dict)) else str(v)) for k, v in info.items()],
        "environment": env.read_text() if env.is_file() else "",
        "config": config.read_text() if config.is_file() else "",
        "run_dir": str(run_dir),
    }


# --------------------------------------------------------------------------- the run page
def run_context(out_dir: Path, run_dir: Path, diagnosis: dict | None, summary: dict | None, kind: str) -> dict:
    """Everything the template shows, as plain values (the template only lays them out)."""
    diagnosis = diagnosis or {}
    checks = checks_section(read_json(run_dir / "checks.json"))
    scores = scores_section(diagnosis, summary)
    gaps = gaps_section(diagnosis)
    largest = diagnosis.get("largest_gap")
    curves = embed_png(diagnosis.get("learning_curves") or (out_dir / "learning_curves.png"))
    return {
        "kind": kind,
        "kind_label": KINDS.get(kind, kind),
        "title": f"{KINDS.get(kind, kind)}: {run_dir.name}",
        "written": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "out_dir": str(out_dir),
        "checks": checks,
        "scores": scores,
        "gaps": gaps,
        "diagnosis": {
            "largest": GAP_NAMES.get(largest, largest) if largest else None,
            "recommendation": diagnosis.get("recommendation"),
            "below_baseline": diagnosis.get("below_baseline"),
            "conclusive": diagnosis.get("conclusive", True),
            "target": diagnosis.get("target") or (summary or {}).get("target"),
            "constraints": diagnosis.get("constraints") or [],
            "degrades_after": diagnosis.get("dev_degrades_after_epoch"),
            "no_best_reason": (summary or {}).get("no_best_reason"),
        },
        "curves": curves,
        "evidence": evidence_sections(diagnosis, out_dir, checks["rows"]),
        "errors": errors_section(diagnosis, out_dir),
        "facts": run_facts(run_dir, summary, diagnosis),
        "provenance": provenance(run_dir),
        "ledger": diagnosis.get("ledger_entry"),
    }


def render(template: str = TEMPLATE, **context) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,  # every value is escaped: class names, file names and notes are user data
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, signed=signed, cell=cell)
    return env.get_template(template).render(**context)


def write_run_page(
    out_dir: Path,
    diagnosis: dict | None,
    summary: dict | None = None,
    run_dir: Path | None = None,
    kind: str = "run",
    name: str = PAGE,
    loggers=(),
) -> Path:
    """report.html in out_dir from what the run wrote (run_dir: where checks.json and the
    provenance are, when out_dir is a diagnose-* or final_evaluation folder below it)."""
    out_dir = Path(out_dir)
    run_dir = Path(run_dir) if run_dir else out_dir
    path = out_dir / name
    context = run_context(out_dir, run_dir, diagnosis, summary, kind)
    path.write_text(render(page="run", **context), encoding="utf-8")
    log_page(path, loggers)
    return path


def try_write(write, *args, **kwargs) -> Path | None:
    """The page is a view of files already written: a bug in it must not fail the run."""
    try:
        path = write(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the run's results are safe on disk either way
        print(f"warning: report.html not written ({type(e).__name__}: {e}); the run's files are all there")
        return None
    print(f"page        {path}")
    return path


def log_page(path: Path, loggers=()) -> None:
    """The page to every logger that keeps files (W&B, MLflow); TensorBoard and CSV keep none."""
    for logger in loggers or ():
        kind = type(logger).__name__
        try:
            if kind == "WandbLogger":
                logger.experiment.save(str(path), base_path=str(path.parent), policy="now")
            elif kind == "MLFlowLogger":
                logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="report")
        except Exception as e:  # noqa: BLE001 - a logger hiccup must not lose the run's report
            print(f"warning: could not log {path.name} to {kind}: {e}")


# --------------------------------------------------------------------------- k-fold studies (and the sweep page's parts)


def cv_table(cv: dict) -> dict:
    """cv_summary.json's per-fold scores with their mean ± sample std, per split."""
    splits = [s for s in ("train", "train_dev", "dev") if s in cv.get("mean", {})]
    return {
        "splits": splits,
        "metric": cv.get("metric"),
        "rows": [
            {"fold": r["fold"], "scores": [r.get(s) for s in splits], "page": _page_of(r.get("run_dir"))}
            for r in cv.get("per_fold", [])
        ],
        "mean_std": [f"{num(cv['mean'].get(s))} ± {num(cv['std'].get(s))}" for s in splits],
        "missing": cv.get("missing_folds") or [],
    }


def _page_of(run_dir) -> str | None:
    page = Path(run_dir) / PAGE if run_dir else None
    return str(page) if page and page.is_file() else None


def relative_link(path: str | None, base: Path) -> str | None:
    """A link that still works when the whole folder is moved or zipped."""
    if not path:
        return None
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()


def spread(values: list[float]) -> float | None:
    import statistics

    return statistics.stdev(values) if len(values) > 1 else None


def write_cv_page(cv: dict, directory: Path) -> Path:
    """<k-fold multirun>/report.html beside cv_summary.json: each fold, mean ± std, the diagnosis."""
    directory = Path(directory)
    diagnosis = cv.get("diagnosis") or {}
    context = {
        "title": f"Cross-validation: {directory.name}",
        "written": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "out_dir": str(directory),
        "metric": cv.get("metric"),
        "cv": cv_table(cv),
        "gaps": gaps_section(diagnosis),
        "recommendation": diagnosis.get("recommendation"),
        "largest": GAP_NAMES.get(diagnosis.get("largest_gap"), diagnosis.get("largest_gap")),
        "n_dev": (cv.get("n") or {}).get("dev"),
        "folds": cv.get("folds"),
    }
    for row in context["cv"]["rows"]:
        row["page"] = relative_link(row["page"], directory)
    path = directory / PAGE
    path.write_text(render(page="cv", **context), encoding="utf-8")
    return path
