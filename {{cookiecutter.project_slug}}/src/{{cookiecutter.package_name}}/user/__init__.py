"""YOUR code. Everything in this folder is yours: the template's updates (cruft update) never
touch it, and the recipe never imports it except to find what you registered.

    nets.py      your networks: point model.net._target_ (configs/model/*.yaml) at one
    sources.py   your array sources: point data.source._target_ (configs/data/*.yaml) at one

Add a module here for your own task kind (a loss: a subclass of tasks.Task) or your own check
(a function decorated with checks.check): any module in this folder is imported when the
task or check registry loads, so a new one needs no edit elsewhere.
"""
