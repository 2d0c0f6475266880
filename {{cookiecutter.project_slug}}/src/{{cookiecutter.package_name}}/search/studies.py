"""Finding a study: by name, or the latest one in a storage (what the root scripts use)."""

from __future__ import annotations

from pathlib import Path

from ..common import ConfigError

DEFAULT_URL = "sqlite:///multirun/sweeps.db"


DRIVER_FIX = {  # a dialect+driver URL names a module; what installs it
    "psycopg": "pip install 'psycopg[binary]' (or the project's [postgres] extra)",
    "psycopg2": "pip install psycopg2-binary",
    "pymysql": "pip install pymysql",
    "mysqldb": "pip install mysqlclient",
}
DRIVER_MODULE = {"mysqldb": "MySQLdb"}


def with_driver(url: str) -> str:
    """postgresql://... -> postgresql+psycopg://... (or +psycopg2): whichever driver is
    installed, so the URL works with SQLAlchemy 2.0 and 2.1 alike. A URL that names its driver
    (postgresql+psycopg://, mysql+pymysql://) whose module is missing is one line saying so."""
    import importlib.util

    scheme = url.partition("://")[0]
    if "+" in scheme:
        driver = scheme.partition("+")[2].lower()
        if importlib.util.find_spec(DRIVER_MODULE.get(driver, driver)) is None:
            fix = DRIVER_FIX.get(driver, f"install the {driver} driver")
            raise ConfigError(
                f"the study storage {scheme}://... needs the {driver} driver, which is not installed: {fix}"
            )
        return url
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            driver = (
                "psycopg"
                if importlib.util.find_spec("psycopg")
                else "psycopg2"
                if importlib.util.find_spec("psycopg2")
                else None
            )
            if driver is None:
                raise ConfigError(
                    "a PostgreSQL storage needs a driver: pip install 'psycopg[binary]' (or the project's [postgres] extra)"
                )
            return f"postgresql+{driver}://" + url[len(prefix) :]
    return url


def unreachable(url: str, error: Exception) -> ConfigError:
    """A database server that refuses or does not answer: one line naming it (password hidden)."""
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return ConfigError(f"cannot reach the study storage {shown}: {reason}; check the host, port, user and password")


def password_in(raw) -> bool:
    """A storage URL written with its password (not read from the environment by ${oc.env:...})."""
    if not isinstance(raw, str) or "${" in raw or "://" not in raw:
        return False
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return bool(make_url(raw).password)
    except ArgumentError:
        return False


def connected(call, url: str):
    """call() against the storage at url; a server that cannot be reached is a ConfigError."""
    import sqlalchemy.exc

    try:
        return call()
    except sqlalchemy.exc.OperationalError as e:
        if url.startswith("sqlite"):
            raise  # a local file that is locked or broken is not a mistyped address
        raise unreachable(url, e) from None


def storage_url(url: str | None) -> str:
    url = with_driver(url or DEFAULT_URL)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        raise ConfigError(
            f"no study database at {url[len('sqlite:///') :]}; run a sweep first (python train.py -m sweep=random) or pass storage=URL"
        )
    return url


def load(name: str | None, url: str | None):
    """The named study, or the one whose latest trial is the most recent."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(url)
    names = connected(lambda: optuna.get_all_study_names(storage=url), url)
    if not names:
        raise ConfigError(f"no study in {url}")
    if name is None:

        def latest(n):
            times = [
                t.datetime_start
                for t in optuna.load_study(study_name=n, storage=url).get_trials(deepcopy=False)
                if t.datetime_start
            ]
            return max(times) if times else None

        stamped = [(latest(n), n) for n in names]
        name = max((s for s in stamped if s[0] is not None), default=(None, names[-1]))[1]
    elif name not in names:
        raise ConfigError(f"no study {name!r} in {url}; there are: {', '.join(names)} (study=NAME)")
    return optuna.load_study(study_name=name, storage=url)


def listing(url: str | None) -> list[str]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(url)
    lines = []
    for s in connected(lambda: optuna.get_all_study_summaries(storage=url, include_best_trial=False), url):
        lines.append(
            f"{s.study_name:<28} {s.n_trials:>4} trials  started {s.datetime_start:%Y-%m-%d %H:%M}"
            if s.datetime_start
            else f"{s.study_name:<28} {s.n_trials:>4} trials"
        )
    return lines
