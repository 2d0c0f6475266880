"""YOUR code: every file in this folder is yours, and a template update (cruft update) never
touches it. The recipe never imports it by name: configs point at your nets and sources, and
the task and check registries import every module here when they are first asked.

    nets.py               your networks: model.net._target_ (configs/model/*.yaml) points at one
    sources.py            your array sources: data.source._target_ (configs/data/*.yaml)
    huber_loss.py         an example task kind (your own loss): data.task=huber
    eval_deterministic.py an example check (model.eval_deterministic), run by check.py and train.py

Add a net, a source, a loss or a check as a new module here (or in these). The examples are
yours to edit or delete (their tests in tests/test_user_folder.py then skip; the docs pages
that show them, docs/tasks.md and docs/checks.md, and the check count of the README's first
run are then yours to update).
"""
