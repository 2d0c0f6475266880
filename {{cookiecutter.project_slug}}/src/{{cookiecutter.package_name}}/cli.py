"""The `key=value` arguments of diagnose.py, evaluate.py and predict.py, the way train.py takes them."""

from __future__ import annotations

from .config import ConfigError


def parse_args(argv: list[str], allowed: dict, lists: tuple = ()) -> dict:
    """`key=value` arguments, the way train.py takes them. `lists`: keys that may repeat or be [a,b]."""
    args = dict(allowed)
    for token in argv:
        key, sep, value = token.partition("=")
        key = key.lstrip("-")
        if not sep or key not in allowed:
            raise ConfigError(f"unknown argument {token!r}; expected key=value with key one of {', '.join(allowed)}")
        if key in lists:
            items = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
            args[key] = (args[key] if isinstance(args[key], list) else []) + items
        elif isinstance(allowed[key], bool):
            if value.lower() not in ("true", "false"):
                raise ConfigError(f"{key}={value!r}: use {key}=true or {key}=false")
            args[key] = value.lower() == "true"
        elif isinstance(allowed[key], int):
            try:
                args[key] = int(value)
            except ValueError:
                raise ConfigError(f"{key}={value!r} is not a whole number") from None
        else:
            args[key] = value
    return args
