"""The test vault (M5, M8, M24): the only code that reads the test split (evaluate.py).

    final_evaluation.py  evaluate(): a checkpoint or an ensemble on the test split, once, recorded
    ledger.py            test_ledger.jsonl, one line per opening
    retrain.py           the final model: the chosen config trained on train + dev

May import: common, tasks, data, model, build, evaluation, training.
"""
