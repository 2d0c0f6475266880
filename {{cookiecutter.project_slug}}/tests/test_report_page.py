"""report.html (issue 26): one self-contained page after a run, diagnose.py, evaluate.py, a
sweep and a k-fold study; its images embedded and decodable, its numbers those of
summary.json and diagnosis.json, failing checks on top, user data escaped, and a real
headless browser that renders it with no broken image and no script error."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import statistics
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import compose_train
from PIL import Image

from {{cookiecutter.package_name}}.evaluation.report_page import write_run_page
from {{cookiecutter.package_name}}.training.fit import train

TINY = ["checks.before_train=fast", "trainer.max_epochs=2", "analysis.worst_k=8"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page(HTMLParser):
    """The parts of a page the tests read: tables by id (rows of cell texts), images, links, scripts."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.external: list[str] = []
        self.ids: list[str] = []  # every element id, in document order
        self._table = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id") or f"table-{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "a":
            self.links.append(a.get("href", ""))
        if tag in ("script", "link", "iframe") and (a.get("src") or a.get("href")):
            self.external.append(a.get("src") or a.get("href"))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, table_id: str) -> dict[str, list[str]]:
        """A table as {first cell: the row's cells}."""
        return {r[0]: r for r in self.tables[table_id] if r}


def read_page(path: Path) -> tuple[str, Page]:
    html = Path(path).read_text(encoding="utf-8")
    return html, Page(html)


def assert_self_contained(page: Page) -> list[Image.Image]:
    """Every image a data: URI that decodes to a real PNG; nothing fetched from anywhere."""
    assert page.external == [], page.external
    decoded = []
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:80]
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        image.load()
        assert image.width > 50 and image.height > 50
        decoded.append(image)
    return decoded


def close(cell: str, value: float) -> bool:
    return math.isclose(float(cell.lstrip("+")), value, rel_tol=1e-3, abs_tol=6e-5)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One fitted digits run (every figure: curves, confusion, mistakes, label issues), shared."""
    out = tmp_path_factory.mktemp("run")
    summary = train(compose_train(out, *TINY))
    return out, summary


@pytest.mark.slow
def test_a_run_writes_one_self_contained_page(run):
    out, _ = run
    html, page = read_page(out / "report.html")
    images = assert_self_contained(page)
    assert len(images) >= 4  # learning curves, label issues, confusion matrix, worst mistakes
    assert "http://" not in html and "https://" not in html  # no font, script or style from the network
    # the method's order: checks, scores, diagnosis, curves, errors, provenance
    order = [i for i in ("checks", "scores", "diagnosis", "curves", "errors", "provenance") if i in page.ids]
    assert order == ["checks", "scores", "diagnosis", "curves", "errors", "provenance"]
    assert html.count("<figcaption>") == len(images)  # every figure says what to look for


@pytest.mark.slow
def test_its_numbers_are_those_of_summary_and_diagnosis_json(run):
    out, _ = run
    summary = json.loads((out / "summary.json").read_text())
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    _, page = read_page(out / "report.html")
    scores = page.rows("scores-table")
    header = page.tables["scores-table"][0]
    metric, error, base = header.index("accuracy"), header.index("1 - accuracy"), header.index("baseline accuracy")
    for split in ("train", "train_dev", "dev"):
        assert close(scores[split][metric], summary["scores"][split])
        assert close(scores[split][error], diagnosis["errors"][split])
        assert close(scores[split][base], summary["baseline"]["scores"][split])
        assert int(scores[split][header.index("n")]) == diagnosis["scores"][split]["n"]
    assert "test" not in scores  # a training run's page never shows test: that is the vault's
    gaps = {r[0]: r for r in page.tables["gaps-table"][1:]}
    for key, value in diagnosis["gaps"].items():
        row = gaps[key.replace("_", " ")]
        assert close(row[2], value) and close(row[3], diagnosis["gap_noise"][key])
    largest = diagnosis["largest_gap"].replace("_", " ")
    assert "largest" in gaps[largest][4] and sum("largest" in r[4] for r in gaps.values()) == 1
    per_class = page.rows("per-class-table")
    for row in diagnosis["error_analysis"]["per_class"]:
        assert close(per_class[row["class"]][3], row["f1"])


@pytest.mark.slow
def test_diagnose_and_evaluate_write_their_own_pages(run, tmp_path):
    from {{cookiecutter.package_name}}.evaluation.end_of_run import diagnose_checkpoint
    from {{cookiecutter.package_name}}.vault.final_evaluation import evaluate

    out, summary = run
    result = diagnose_checkpoint(summary["best_checkpoint"], str(tmp_path / "diag"), worst_k=8)
    _, page = read_page(tmp_path / "diag" / "report.html")
    assert_self_contained(page)
    scores = page.rows("scores-table")
    assert close(scores["dev"][2], result["scores"]["dev"]["accuracy"]) and "test" not in scores
    assert "checks-table" in page.tables  # the run's checks, read from the run folder above

    done = evaluate([summary["best_checkpoint"]], tmp_path, tmp_path / "ledger.jsonl", out_dir=tmp_path / "vault")
    html, page = read_page(done["page"])
    assert Path(done["page"]).name == "final_report_1.html"  # beside final_report_1.json, never overwritten
    scores = page.rows("scores-table")
    assert close(scores["test"][2], done["scores"]["test"]["accuracy"])
    assert "Test evaluation #1" in html


def test_a_run_the_checks_stopped_shows_the_failed_check_on_top(tmp_path):
    out = tmp_path / "stopped"
    out.mkdir()
    with pytest.raises(SystemExit):
        train(compose_train(out, "optimizer.lr=0"))  # model.all_params_learn fails: no parameter moves
    html, page = read_page(out / "report.html")
    assert page.ids.index("failed-checks") < page.ids.index("run") < page.ids.index("checks")
    checks = page.tables["checks-table"][1:]
    assert checks[0][:2] == ["fail", "model.all_params_learn"]
    statuses = [r[0] for r in checks]
    assert statuses == sorted(statuses, key=["fail", "warn", "pass", "skip"].index)
    assert "training did not start" in html and "scores-table" not in page.tables


def test_checks_sort_failing_then_warning_first(tmp_path):
    checks = [
        {"id": "data.a", "status": "pass", "message": "fine"},
        {"id": "data.b", "status": "warn", "message": "so-so", "remedy": "look"},
        {"id": "data.c", "status": "pass", "message": "fine"},
        {"id": "model.d", "status": "fail", "message": "broken", "remedy": "fix it"},
    ]
    (tmp_path / "checks.json").write_text(json.dumps(checks))
    _, page = read_page(write_run_page(tmp_path, None, kind="stopped"))
    assert [r[1] for r in page.tables["checks-table"][1:]] == ["model.d", "data.b", "data.a", "data.c"]
    assert page.ids.index("failed-checks") < page.ids.index("warned-checks") < page.ids.index("checks")


def test_values_from_the_data_are_escaped(tmp_path):
    """Class names, notes and file names are user data: shown as text, never run as markup."""
    evil = '<script>alert("x")</script>'
    diagnosis = {
        "errors": {"human": None, "train": 0.1, "train_dev": 0.1, "dev": 0.2},
        "gaps": {"avoidable_bias": 0.1, "variance": 0.0, "data_mismatch": 0.1},
        "gap_noise": {"avoidable_bias": 0.01, "variance": 0.02, "data_mismatch": 0.03},
        "largest_gap": "avoidable_bias",
        "recommendation": "Reduce avoidable bias",
        "scores": {s: {"accuracy": 0.9, "error": 0.1, "n": 10} for s in ("train", "train_dev", "dev")},
        "objective": {"metric": "accuracy"},
        "error_analysis": {
            "split": "dev",
            "per_class": [{"class": evil, "precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2}],
        },
    }
    (tmp_path / "worst_mistakes.csv").write_text(f"rank,example,y_true,note\n1,{evil}.png,{evil},a & b\n")
    html, page = read_page(write_run_page(tmp_path, diagnosis))
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert page.rows("per-class-table")[evil][3] == "0.6670"  # the text a reader sees is the name itself
    assert page.rows("worst-table")["1"][1:] == [f"{evil}.png", evil, "a & b"]


@pytest.mark.slow
def test_a_table_run_with_markup_in_its_class_names_shows_them_escaped(tmp_path):
    """Real data (iris, scikit-learn's bundled copy) whose class names carry markup."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    names = ['<script>alert("setosa")</script>', "versi&color", '"virginica"']
    frame["target"] = [names[t] for t in frame["target"]]
    frame.to_csv(tmp_path / "iris.csv", index=False)
    out = tmp_path / "run"
    out.mkdir()
    train(compose_train(out, *TINY, "data=table", f"data.path={tmp_path / 'iris.csv'}", "data.target=target"))
    html, page = read_page(out / "report.html")
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert set(names) <= set(page.rows("per-class-table"))
    assert_self_contained(page)


# --------------------------------------------------------------------------- sweeps and k-fold
@pytest.mark.slow
def test_sweep_page_sorts_by_the_objective_and_flags_a_border_optimum(tmp_path):
    from test_sweeps import synthetic_study

    from {{cookiecutter.package_name}}.search.sweep_page import report_with_page

    def score(v):  # best lr at 1e-2, inside the range; weight decay best at its lower edge: a border optimum (M28)
        return (
            1 - (math.log10(v["optimizer.lr"]) + 2) ** 2 / 10 - 0.05 * (math.log10(v["regularizer.weight_decay"]) + 6)
        )

    params = {
        "optimizer.lr": "tag(log, interval(1e-4, 1))",
        "regularizer.weight_decay": "tag(log, interval(1e-6, 1e-2))",
    }
    study = synthetic_study(tmp_path, params, 60, score)
    report = report_with_page(study, tmp_path / "sweep", echo=lambda *_: None)
    html, page = read_page(report["page"])
    assert_self_contained(page)
    trials = page.tables["trials-table"]
    column = trials[0].index("dev/accuracy")
    values = [float(r[column]) for r in trials[1:]]
    assert values == sorted(values, reverse=True) and len(values) == 60  # best first, in the HTML itself
    best = report["best"]
    assert int(trials[1][0]) == best["trial"] and close(trials[1][column], best["dev/accuracy"])
    assert "regularizer.weight_decay: best value" in html and "lower border" in html
    assert "optimizer.lr: best value" not in html  # an optimum inside its range is not flagged


def test_sweep_page_of_a_kfold_sweep_shows_each_trials_fold_spread(tmp_path):
    import optuna

    from {{cookiecutter.package_name}}.search.space import parse_space
    from {{cookiecutter.package_name}}.search.sweep_page import report_with_page

    space, _ = parse_space({"optimizer.lr": "tag(log, interval(1e-4, 1))"})
    study = optuna.create_study(study_name="cv", direction="maximize")
    study.set_user_attr("space", {k: p.to_dict() for k, p in space.items()})
    study.set_user_attr("objective", {"metric": "accuracy", "mode": "max"})
    for i in range(4):  # what the sweeper records for a k-fold trial: the mean, and each fold's value
        trial = study.ask()
        trial.set_user_attr("values", {"optimizer.lr": space["optimizer.lr"].suggest(trial)})
        folds = [0.7, 0.8 + i / 100, 0.9]
        trial.set_user_attr("fold_values", folds)
        study.tell(trial, sum(folds) / 3)
    report = report_with_page(study, tmp_path / "sweep", echo=lambda *_: None)
    html, page = read_page(report["page"])
    header = page.tables["trials-table"][0]
    stds = {int(r[0]): float(r[header.index("fold std")]) for r in page.tables["trials-table"][1:]}
    assert stds == {i: round(statistics.stdev([0.7, 0.8 + i / 100, 0.9]), 4) for i in range(4)}
    assert "(mean of 3 folds" in html


@pytest.mark.slow
def test_a_real_sweep_writes_its_page_with_the_best_trials_diagnosis(tmp_path):
    from test_sweeps import TINY as SWEEP_TINY
    from test_sweeps import multirun

    multirun(
        "sweep=random",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/sweeps.db",
        f"hydra.sweep.dir={tmp_path}/mr",
        *SWEEP_TINY,
    )
    html, page = read_page(tmp_path / "mr" / "report.html")
    assert_self_contained(page)
    assert "best-gaps-table" in page.tables and len(page.tables["trials-table"]) == 3
    best = [link for link in page.links if link.endswith("report.html")]
    assert best and (tmp_path / "mr" / best[0]).is_file()  # the best trial's own page, linked relatively


def test_kfold_page_shows_mean_and_std_of_the_folds(tmp_path):
    from {{cookiecutter.package_name}}.evaluation.report_page import write_cv_page

    cv = {
        "metric": "accuracy",
        "folds": 3,
        "missing_folds": [],
        "per_fold": [
            {"fold": i, "train": 0.9, "train_dev": 0.85, "dev": 0.8 + i / 100, "run_dir": "x"} for i in range(3)
        ],
        "mean": {"train": 0.9, "train_dev": 0.85, "dev": 0.81},
        "std": {"train": 0.0, "train_dev": 0.0, "dev": 0.01},
        "n": {"dev": 150},
        "diagnosis": {
            "errors": {"human": None, "train": 0.1, "train_dev": 0.15, "dev": 0.19},
            "gaps": {"avoidable_bias": 0.1, "variance": 0.05, "data_mismatch": 0.04},
            "gap_noise": {"avoidable_bias": 0.02, "variance": 0.03, "data_mismatch": 0.04},
            "largest_gap": "avoidable_bias",
            "recommendation": "Reduce avoidable bias",
        },
    }
    _, page = read_page(write_cv_page(cv, tmp_path))
    folds = page.rows("folds-table")
    assert folds["mean ± std"][3] == "0.8100 ± 0.0100" and [folds[str(i)][3] for i in range(3)] == [
        "0.8000",
        "0.8100",
        "0.8200",
    ]


# --------------------------------------------------------------------------- a real browser
CHECKER = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e.type)); }, true);
window.addEventListener("load", function () {
  var broken = Array.prototype.filter.call(document.images, function (i) { return !i.complete || i.naturalWidth === 0; });
  var out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({images: document.images.length, broken: broken.length, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def browse(page: Path, work: Path) -> tuple[dict, Image.Image]:
    """Chromium, headless: the page's screenshot, and what a script run after `load` saw
    (images that did not decode, script errors), read back from the dumped DOM."""
    checked = work / "checked.html"  # the page with the checker first in <head>: it sees every later error
    checked.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + CHECKER, 1), encoding="utf-8")
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2000",
        "--virtual-time-budget=5000",
    ]

    def chromium(*extra):
        with tempfile.TemporaryDirectory(dir=work) as profile:
            return subprocess.run(
                [*flags, f"--user-data-dir={profile}", *extra, checked.as_uri()],
                capture_output=True,
                text=True,
                timeout=120,
            )

    shot = work / "shot.png"
    chromium(f"--screenshot={shot}")
    dom = chromium("--dump-dom").stdout
    marker = dom.split('<pre id="browser-check">', 1)[1].split("</pre>", 1)[0]
    return json.loads(marker.replace("&quot;", '"')), Image.open(shot)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install -y chromium; tests/services.sh)")
def test_the_page_renders_in_a_real_browser(run, tmp_path):
    from PIL import ImageStat

    out, _ = run
    seen, shot = browse(out / "report.html", tmp_path)
    assert seen["images"] >= 4 and seen["broken"] == 0 and seen["errors"] == [], seen
    gray = shot.convert("L")
    assert shot.size == (1280, 2000) and ImageStat.Stat(gray).stddev[0] > 20  # text and figures, not a blank page
    assert gray.getextrema()[0] < 60  # dark text is there


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install -y chromium; tests/services.sh)")
def test_the_sweep_page_and_its_sorting_script_run_in_a_real_browser(tmp_path):
    from test_sweeps import synthetic_study

    from {{cookiecutter.package_name}}.search.sweep_page import report_with_page

    study = synthetic_study(tmp_path, {"optimizer.lr": "tag(log, interval(1e-4, 1))"}, 6, lambda v: v["optimizer.lr"])
    report = report_with_page(study, tmp_path / "sweep", echo=lambda *_: None)
    seen, shot = browse(Path(report["page"]), tmp_path)
    assert seen["images"] == 1 and seen["broken"] == 0 and seen["errors"] == [], seen
