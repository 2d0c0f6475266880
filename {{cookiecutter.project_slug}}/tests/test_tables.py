"""TableSource on its own (no data module): reading, train-only fitting, encoding, the state
that travels in checkpoints, new rows for predict.py, and the one-line config errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.examples import write_example_table
from {{cookiecutter.package_name}}.data.tables import TableSource

TRAIN = np.arange(6)  # rows 0-5 are train; rows 6-7 stand for dev/test


def write(tmp_path, frame: pd.DataFrame, name: str = "table.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    return path


@pytest.fixture
def table():
    """Train rows are ordinary; the two non-train rows are extreme, and bring a colour that
    train never saw: any of it reaching the fitted state shows in the medians or categories."""
    return pd.DataFrame(
        {
            "age": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 1e6, np.nan],
            "height": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, -1e6, np.nan],  # complete in train
            "color": ["red", "blue", "red", None, "red", "blue", "purple", "purple"],
            "label": ["cat", "dog", "cat", "dog", "cat", "dog", "cat", "dog"],
        }
    )


def fitted(path, **kwargs):
    source = TableSource(path, "label", **kwargs)
    examples = source.load()
    source.fit(TRAIN)
    return source, examples


def test_load_returns_raw_targets_row_names_and_original_rows(tmp_path, table):
    source, examples = fitted(write(tmp_path, table))
    assert list(examples.targets) == list(table["label"]) and all(type(t) is str for t in examples.targets)
    assert examples.names[:2] == ["row 0", "row 1"] and len(examples.names) == 8
    assert examples.domain is None and examples.class_names is None
    assert source.describe(2) == {"age": None, "height": 30.0, "color": "red", "label": "cat"}
    assert source.describe(6)["age"] == 1e6


def test_numeric_targets_stay_numbers(tmp_path, table):
    table["label"] = [0.5, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    _, examples = fitted(write(tmp_path, table))
    assert examples.targets.dtype == np.float64


def test_medians_and_indicators_come_from_train_rows_only(tmp_path, table):
    source, _ = fitted(write(tmp_path, table))
    assert source.feature_names == [
        "age",
        "age_missing",
        "height",
        "color=blue",
        "color=red",
        "color=<missing>",
        "color=<other>",
    ]
    assert source.input_shape == (7,)
    x = source.features()
    assert x.dtype == torch.float32 and x.shape == (8, 7)
    age_median, height_median = np.median([1, 2, 4, 5, 6]), np.median([10, 20, 30, 40, 50, 60])
    assert x[2, 0] == age_median and x[2, 1] == 1 and x[0, 1] == 0  # imputed, flagged
    assert x[7, 0] == age_median and x[7, 2] == height_median  # a non-train gap gets the train median
    assert x[6, 0] == 1e6  # values are kept as they are: the data module standardizes
    assert any("height" in note for note in source.notes)  # no indicator, though non-train rows have gaps


def test_one_hot_has_missing_and_unseen_slots(tmp_path, table):
    source, _ = fitted(write(tmp_path, table))
    onehot = source.features()[:, 3:].numpy()
    assert onehot.sum(1).tolist() == [1] * 8
    assert onehot[0].tolist() == [0, 1, 0, 0]  # red
    assert onehot[3].tolist() == [0, 0, 1, 0]  # missing
    assert onehot[6].tolist() == [0, 0, 0, 1]  # purple: only in non-train rows -> <other>


def test_rare_categories_go_to_other_and_say_so(tmp_path, table):
    source, _ = fitted(write(tmp_path, table), max_categories=1)
    assert source.feature_names[3:] == ["color=red", "color=<missing>", "color=<other>"]
    assert source.features()[1, 5] == 1  # blue is now beyond the most frequent one
    assert any("color" in note and "max_categories" in note for note in source.notes)


def test_declared_kinds_and_explicit_feature_list(tmp_path, table):
    table["code"] = [7, 8, 7, 8, 7, 8, 9, 7]
    source, _ = fitted(write(tmp_path, table), features=["code", "age"], categorical=["code"])
    assert source.feature_names == ["code=7", "code=8", "code=<missing>", "code=<other>", "age", "age_missing"]
    table["age"] = ["1", "2.5", None, "4", "5", "6", "7", "8"]  # numbers stored as text
    source, _ = fitted(write(tmp_path, table, "text.parquet"), features=["age"], numeric=["age"])
    assert source.feature_names == ["age", "age_missing"] and source.features()[:3, 0].tolist() == [1.0, 2.5, 4.0]


@pytest.mark.parametrize("name", ["table.parquet", "table.tsv"])
def test_parquet_and_tsv_read_like_csv(tmp_path, table, name):
    expected, _ = fitted(write(tmp_path, table))
    source, examples = fitted(write(tmp_path, table, name))
    assert source.feature_names == expected.feature_names
    assert torch.equal(source.features(), expected.features())
    assert list(examples.targets) == list(table["label"])


def test_domain_column(tmp_path, table):
    table["site"] = ["a", "a", "a", "a", "b", "b", "b", "b"]
    table["is_target"] = [0, 0, 0, 0, 1, 1, 1, 1]
    path = write(tmp_path, table)
    _, examples = fitted(path, domain="is_target", drop=["site"])
    assert examples.domain.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    source, examples = fitted(path, domain="site", target_domain="b", drop=["is_target"])
    assert examples.domain.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert not any(n.startswith(("site", "is_target")) for n in source.feature_names)


def test_state_survives_torch_load_weights_only_and_json(tmp_path, table):
    source, _ = fitted(write(tmp_path, table))
    state = source.state_dict()
    json.dumps(state)  # plain data only
    torch.save({"table": state}, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", weights_only=True)["table"]
    assert loaded == state
    fresh = TableSource.from_state_dict(loaded)
    assert fresh.feature_names == source.feature_names and fresh.input_shape == source.input_shape
    assert TableSource("unused.csv", "label").state_dict() == {}  # nothing fitted yet: nothing to save


def test_read_new_on_a_fresh_source_matches_features(tmp_path, table):
    source, _ = fitted(write(tmp_path, table))
    fresh = TableSource(path=None, target="label")
    fresh.load_state_dict(json.loads(json.dumps(source.state_dict())))
    new = table.iloc[[7, 3, 6]].drop(columns=["label"])  # no target, other order
    new.insert(0, "unused", 1)
    x, names = fresh.read_new(str(write(tmp_path, new, "new.csv")))
    assert names == ["row 0", "row 1", "row 2"]
    assert torch.equal(x, source.features()[[7, 3, 6]])
    with_target, _ = fresh.read_new(str(write(tmp_path, table.iloc[[7, 3, 6]], "with_target.csv")))
    assert torch.equal(with_target, x)  # a target column is ignored


def test_read_new_names_missing_columns(tmp_path, table):
    source, _ = fitted(write(tmp_path, table))
    path = write(tmp_path, table.drop(columns=["color", "label"]), "new.csv")
    with pytest.raises(ConfigError, match="lacks the column.*'color'"):
        source.read_new(str(path))


def test_example_table_is_reproducible_learnable_and_not_trivial(tmp_path):
    from sklearn.linear_model import LogisticRegression

    path = write_example_table(tmp_path / "a" / "animals.csv")
    assert path.read_bytes() == write_example_table(tmp_path / "b.csv").read_bytes()  # seeded
    source = TableSource(path, "animal")
    examples = source.load()
    assert len(examples.targets) == 800 and set(examples.targets) == {"cat", "dog", "bird"}
    gaps = pd.read_csv(path).isna().mean()
    assert all(0.02 < gaps[c] < 0.08 for c in ("weight_kg", "height_cm", "color")) and gaps["animal"] == 0
    train, held_out = np.arange(600), np.arange(600, 800)
    source.fit(train)
    x = source.features().numpy()
    x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
    model = LogisticRegression(max_iter=1000).fit(x[train], examples.targets[train])
    assert 0.75 < model.score(x[held_out], examples.targets[held_out]) < 0.98  # well above chance, not solved


def text_file(directory, name: str, text: str):
    (directory / name).write_text(text)
    return directory / name


# case -> (tmp_path, table) -> (TableSource arguments besides target="label", what the message must say)
BAD_INPUTS = {
    "missing file": lambda d, t: ({"path": d / "nope.csv"}, r"data\.path=.*nope\.csv does not exist"),
    "unknown extension": lambda d, t: ({"path": write(d, t, "table.xlsx")}, r"data\.path=.*unknown file type '\.xlsx'"),
    "unreadable": lambda d, t: (
        {"path": text_file(d, "broken.parquet", "not parquet")},
        r"data\.path=.*cannot be read as PARQUET",
    ),
    "header only": lambda d, t: ({"path": text_file(d, "header.csv", "age,label\n")}, r"data\.path=.*has no rows"),
    "empty file": lambda d, t: ({"path": text_file(d, "blank.csv", "")}, r"data\.path=.*has no rows"),
    "unknown target": lambda d, t: (
        {"path": write(d, t), "target": "animal"},
        r"data\.target='animal' is not a column.*columns are: age, height, color, label",
    ),
    "unknown feature": lambda d, t: (
        {"path": write(d, t), "features": ["age", "weight"]},
        r"data\.features: no column 'weight'",
    ),
    "unknown drop": lambda d, t: ({"path": write(d, t), "drop": ["id"]}, r"data\.drop: no column 'id'"),
    "unknown domain": lambda d, t: ({"path": write(d, t), "domain": "site"}, r"data\.domain: no column 'site'"),
    "domain not 0/1": lambda d, t: (
        {"path": write(d, t.assign(site=list("aabbaabb"))), "domain": "site"},
        r"data\.domain='site' has values 'a', 'b', not 0/1; set data\.target_domain",
    ),
    "no such target_domain": lambda d, t: (
        {"path": write(d, t.assign(site=list("aabbaabb"))), "domain": "site", "target_domain": "c"},
        r"data\.target_domain='c' matches no row of data\.domain='site'",
    ),
    "domain with gaps": lambda d, t: (
        {"path": write(d, t), "domain": "color"},
        r"data\.domain='color' is missing in 1 of 8 rows",
    ),
    "non-numeric numeric": lambda d, t: (
        {"path": write(d, t), "numeric": ["color"]},
        r"data\.numeric lists column 'color' .* non-numeric value 'red'",
    ),
    "target with gaps": lambda d, t: (
        {"path": write(d, t.assign(label=[None, "a"] * 4)), "missing_target": "error"},
        r"data\.target='label' is missing in 4 of 8 rows",
    ),
    "single target value": lambda d, t: (
        {"path": write(d, t.assign(label="cat"))},
        r"data\.target='label' has the single value 'cat'",
    ),
    "target as a feature": lambda d, t: (
        {"path": write(d, t), "features": ["age", "label"]},
        r"data\.features includes the target",
    ),
    "no features left": lambda d, t: (
        {"path": write(d, t), "drop": ["age", "height", "color"]},
        r"no feature columns left",
    ),
    "an Excel workbook named .csv": lambda d, t: (
        {"path": workbook(d / "export.csv")},
        r"data\.path=.*export\.csv is an Excel workbook \(\.xlsx\), not CSV text.*Save As > CSV",
    ),
    "a Parquet column of lists": lambda d, t: (
        {"path": write(d, t.assign(tags=[[1, 2]] * 8), "table.parquet")},
        r"column 'tags' .* holds lists \(e\.g\. \[1, 2\]\).*data\.drop=\[tags\]",
    ),
    "every feature constant": lambda d, t: (
        {"path": write(d, t.assign(age=1.0, height=2.0, color="red"))},
        r"every feature column .* is constant",
    ),
    "unknown missing_target": lambda d, t: (
        {"path": write(d, t), "missing_target": "drop"},
        r"data\.missing_target='drop' is not known; use skip .* or error",
    ),
}


def workbook(path):
    """What Excel writes (a zip of XML parts), under a .csv name: the magic bytes are what count."""
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    return path


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_are_one_line_config_errors(tmp_path, table, case):
    arguments, message = BAD_INPUTS[case](tmp_path, table)
    with pytest.raises(ConfigError, match=message) as error:
        TableSource(**{"target": "label", **arguments}).load()
    assert "\n" not in str(error.value)


# --------------------------------------------------------------------------- tables as they come (issue 22)
# Real public tables written to CSV as they come (vega_datasets' bundled copies: no network).


def vega(name: str) -> pd.DataFrame:
    data = pytest.importorskip("vega_datasets").data
    return getattr(data, name)()


def test_seattle_weather_dates_become_one_number_not_a_category_per_day(tmp_path, capsys):
    frame = vega("seattle_weather")
    path = write(tmp_path, frame)
    source = TableSource(path, "weather")
    source.load()
    assert "column 'date' holds dates and is read as a number" in capsys.readouterr().out
    source.fit(np.arange(1000))
    assert source.feature_names[0] == "date" and not any(n.startswith("date=") for n in source.feature_names)
    days = source.features()[:, 0].numpy()
    expected = (pd.to_datetime(frame["date"]) - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    assert np.array_equal(days, expected.astype(np.float32))  # 2012-01-01 is day 15340
    fresh = TableSource.from_state_dict(json.loads(json.dumps(source.state_dict())))
    new, _ = fresh.read_new(str(write(tmp_path, frame.tail(5).drop(columns=["weather"]), "new.csv")))
    assert torch.equal(new, source.features()[-5:])  # predict reads dates the way training did
    bad = write(tmp_path, frame.tail(2).drop(columns=["weather"]).assign(date=["2015-12-30", "soon"]), "bad.csv")
    with pytest.raises(
        ConfigError, match=r"column 'date' is days since 1970-01-01 in training but has the value 'soon'"
    ):
        fresh.read_new(str(bad))


def test_cars_rows_without_a_target_are_left_out_and_named_by_file_row(tmp_path, capsys):
    frame = vega("cars")
    path = write(tmp_path, frame)
    source = TableSource(path, "Miles_per_Gallon")
    examples = source.load()
    gaps = np.flatnonzero(frame["Miles_per_Gallon"].isna().to_numpy())
    assert len(gaps) == 8 and len(examples.targets) == 406 - 8 and not np.isnan(examples.targets).any()
    assert "8 of 406 rows have no 'Miles_per_Gallon' and are left out" in capsys.readouterr().out
    assert source.skipped_rows.tolist() == gaps.tolist()
    kept = np.setdiff1d(np.arange(406), gaps)
    assert examples.names[int(gaps[0])] == f"row {kept[gaps[0]]}"  # names lead back to the file's rows
    assert source.describe(int(gaps[0]))["Name"] == frame["Name"].iloc[kept[gaps[0]]]
    with pytest.raises(ConfigError, match=r"missing in 8 of 406 rows; drop those rows or fill them"):
        TableSource(path, "Miles_per_Gallon", missing_target="error").load()


def test_question_marks_in_a_numeric_column_are_gaps_not_categories(tmp_path, capsys):
    frame = vega("cars")  # Horsepower has 6 gaps; exported the way UCI's auto-mpg file has them: '?'
    marked = frame.assign(Horsepower=frame["Horsepower"].astype(object).where(frame["Horsepower"].notna(), "?"))
    plain, marks = (
        TableSource(write(tmp_path, frame), "Origin"),
        TableSource(write(tmp_path, marked, "q.csv"), "Origin"),
    )
    plain.load(), marks.load()
    assert "column 'Horsepower' is numbers with '?' in 6 rows read as missing" in capsys.readouterr().out
    plain.fit(np.arange(300)), marks.fit(np.arange(300))
    assert marks.feature_names == plain.feature_names and "Horsepower_missing" in marks.feature_names
    assert torch.equal(marks.features(), plain.features())
    fresh = TableSource.from_state_dict(marks.state_dict())
    new, _ = fresh.read_new(str(write(tmp_path, marked.drop(columns=["Origin"]), "new.csv")))
    assert torch.equal(new, plain.features())


def test_constant_columns_are_left_out_and_id_columns_named(tmp_path, capsys):
    frame = vega("airports")  # iata: a different code in every row
    frame = frame.assign(row_id=np.arange(1, len(frame) + 1), source="faa")  # a running number, one constant
    source = TableSource(write(tmp_path, frame), "country")
    source.load()
    out = capsys.readouterr().out
    assert "constant column(s) 'source' left out" in out
    assert "'iata', 'row_id' look like row IDs" in out and "data.drop=[iata,row_id] leaves them out" in out
    source.fit(np.arange(3000))
    assert not any(n.startswith("source") for n in source.feature_names) and "row_id" in source.feature_names
    TableSource(write(tmp_path, vega("seattle_weather")), "weather").load()  # real columns, no IDs: silent
    assert "row IDs" not in capsys.readouterr().out


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_separators_are_detected_and_said(tmp_path, capsys, sep):
    frame = vega("cars")
    path = tmp_path / "cars.csv"
    frame.to_csv(path, sep=sep, index=False)
    source = TableSource(path, "Origin")
    source.load()
    assert f"is read with the separator {sep!r} (data.sep=" in capsys.readouterr().out
    plain = TableSource(write(tmp_path, frame, "plain.csv"), "Origin")
    plain.load()
    assert source.describe(5) == plain.describe(5)


def test_a_windows_encoded_file_is_read_and_said(tmp_path, capsys):
    frame = vega("barley").replace({"site": {"Morris": "Morrís"}})  # one accented name, as a Spanish export has
    path = tmp_path / "barley.csv"
    frame.to_csv(path, index=False, encoding="cp1252")
    source = TableSource(path, "yield")
    source.load()
    assert "is not UTF-8; read as cp1252 (data.encoding=cp1252 sets it)" in capsys.readouterr().out
    assert "Morrís" in {source.describe(i)["site"] for i in range(len(frame))}


def test_repeated_column_names_are_said(tmp_path, capsys):
    path = tmp_path / "dupe.csv"
    path.write_text("size,size,label\n" + "".join(f"{i},{i * 2},{'ab'[i % 2]}\n" for i in range(30)))
    TableSource(path, "label").load()
    assert "repeats column names: 'size' 2 times, read as size, size.1" in capsys.readouterr().out


def test_predict_names_a_category_training_never_saw(tmp_path, table):
    source, _ = fitted(write(tmp_path, table))
    fresh = TableSource.from_state_dict(source.state_dict())
    new = table.drop(columns=["label"]).assign(color=["red", "green", "green", None, "red", "blue", "red", "red"])
    x, _ = fresh.read_new(str(write(tmp_path, new, "new.csv")))
    assert fresh.read_notes == [
        "column 'color' has value(s) the model has no input for (unseen or rare in train): 'green' (2 rows); "
        "they are read as color=<other>"
    ]
    assert x[1, source.feature_names.index("color=<other>")] == 1


def test_served_rows_equal_what_predict_makes_of_the_same_rows_to_the_bit(tmp_path):
    """The data module has a table standardize itself as its matrix is built (in threads, in
    place); predict reads new rows with read_new() and the Standardizer. On a real table (gaps,
    categories, a date column) the two agree exactly, or one row would score two ways."""
    from vega_datasets import local_data

    from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule

    path = tmp_path / "cars.csv"
    local_data.cars().to_csv(path, index=False)
    dm = FourSplitDataModule(TableSource(path, "Origin"))
    dm.setup("fit")
    every_row = torch.arange(len(dm.source._loaded()))
    served, _ = dm.examples(every_row)
    new, _ = dm.source.read_new(str(path))
    assert torch.equal(served, dm.standardizer.transform(new))


def test_a_median_of_many_rows_is_read_from_an_even_spread_of_them(tmp_path, monkeypatch):
    """Beyond _MEDIAN_SAMPLE train values the imputation median is that of every k-th train row:
    on a real table close to the exact one (within 0.15 of the column's spread: 1,000 values put
    the median's standard error near 0.04 of it); below that many, exact."""
    import statsmodels.datasets.fair

    import {{cookiecutter.package_name}}.data.tables as tables

    frame = statsmodels.datasets.fair.load_pandas().data  # 6,366 rows
    path = write(tmp_path, frame)
    train = np.sort(np.random.default_rng(0).permutation(len(frame))[:6000])
    exact = frame.iloc[train].median()
    source = TableSource(path, "affairs")
    source.load(), source.fit(train)
    assert {e["name"]: e["median"] for e in source._columns} == exact.drop("affairs").to_dict()
    monkeypatch.setattr(tables, "_MEDIAN_SAMPLE", 1000)
    source.fit(train)
    for entry in source._columns:
        assert abs(entry["median"] - exact[entry["name"]]) <= 0.15 * frame[entry["name"]].std(), entry


# --------------------------------------------------------------------------- data.group
def grouped_module(path, target, splits="auto", fold=None, **source):
    from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule

    dm = FourSplitDataModule(TableSource(path, target, **source), splits=splits, fold=fold)
    dm.setup("fit")
    return dm


def split_of_rows(dm) -> np.ndarray:
    where = np.empty(sum(len(v) for v in dm._indices.values()), dtype=object)
    for name, index in dm._indices.items():
        where[index.numpy()] = name
    return where


def test_a_group_column_keeps_each_group_in_one_split(tmp_path):
    """statsmodels' Grunfeld panel: 11 firms x 20 years. data.group=firm puts every year of a firm
    in one split (a new firm is what dev measures), the group column is not an input, and the
    splits hold their shares to within one group."""
    import statsmodels.datasets.grunfeld

    path = write(tmp_path, statsmodels.datasets.grunfeld.load_pandas().data)
    dm = grouped_module(path, "invest", splits={"train_dev": 0.1, "dev": 0.1, "test": 0.1}, group="firm")
    frame, where = pd.read_csv(path), split_of_rows(dm)
    assert all(len(set(where[frame["firm"] == firm])) == 1 for firm in frame["firm"].unique())
    assert all(len(dm._indices[s]) > 0 for s in ("train", "train_dev", "dev", "test"))
    assert not any(name.startswith("firm") for name in dm.source.feature_names)
    assert again_the_same(path)


def again_the_same(path) -> bool:
    a = grouped_module(path, "invest", splits={"train_dev": 0.1, "dev": 0.1, "test": 0.1}, group="firm")
    b = grouped_module(path, "invest", splits={"train_dev": 0.1, "dev": 0.1, "test": 0.1}, group="firm")
    return all(torch.equal(a._indices[k], b._indices[k]) for k in a._indices)


def test_group_inputs_keeps_equal_inputs_together_and_k_fold_rotates_whole_groups(tmp_path):
    """fair's survey rows repeat by the hundred: with data.group=inputs no input lands in two
    splits, and under k-fold each group is dev in exactly one fold while test stays put."""
    import statsmodels.datasets.fair

    frame = statsmodels.datasets.fair.load_pandas().data
    path = write(tmp_path, frame)
    inputs = frame.drop(columns="affairs").astype(str).agg("|".join, axis=1)
    dm = grouped_module(path, "affairs", group="inputs")
    where = split_of_rows(dm)
    assert pd.Series(where).groupby(inputs.to_numpy()).nunique().max() == 1
    folds = [grouped_module(path, "affairs", splits="kfold", fold=k, group="inputs") for k in range(5)]
    assert all(torch.equal(f._indices["test"], dm._indices["test"]) for f in folds)
    dev = np.concatenate([f._indices["dev"].numpy() for f in folds])
    assert len(dev) == len(set(dev)) == len(frame) - len(dm._indices["test"])
    for f in folds:
        assert pd.Series(split_of_rows(f)).groupby(inputs.to_numpy()).nunique().max() == 1


def test_a_group_across_both_domains_is_one_line(tmp_path):
    frame = pd.DataFrame({"x": np.arange(40.0), "who": np.arange(40) // 4, "site": [0, 1] * 20, "y": list("ab") * 20})
    with pytest.raises(ConfigError, match="hold rows of both data.domain values"):
        grouped_module(write(tmp_path, frame), "y", group="who", domain="site")
