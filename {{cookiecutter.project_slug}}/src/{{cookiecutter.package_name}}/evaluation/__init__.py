"""Evaluation and diagnosis (M1-M3, M6, M31-M33, M35): what is measured, what it means,
what to do next. Reads train, train_dev and dev; never the test split (that is vault/).

    objective.py    the optimizing metric (objective.metric=auto), target, weighted error
    constraints.py  satisficing constraints (params <= 1e6, dev/f1 >= 0.9)
    inference.py    the one inference path: a model over a loader -> predictions
    scoring.py      every metric of a checkpoint on the development splits
    diagnosis.py    avoidable bias, variance, data mismatch; the next step
    reference.py    a non-neural reference model, the Bayes-error proxy
    analysis.py     error analysis: worst mistakes, weakest classes
    quality.py      data quality: near-duplicates, label issues, train/dev mismatch
    reports.py      the end-of-run files; report_page.py: report.html
    end_of_run.py   after training and diagnose.py: the report of a checkpoint
    runs.py         a run loaded back (LoadedRun: model, data, checkpoint, objective; build.load_run makes it)
    new_inputs.py   predict.py: predictions for new inputs, out-of-range ones flagged
    crossval.py     the k-fold summary (cv_summary.py)

May import: common, tasks, data, model, build.
"""
