"""The recipe's package (the README's map says what lives where).

One thing happens on import, and it costs nothing until torchmetrics is imported: a guard
against a torchvision that cannot load. torchmetrics imports torchvision whenever one is
installed, and a torchvision built for another torch (PyPI's CUDA build beside a CPU torch:
"operator torchvision::nms does not exist") then breaks every import deep in torchmetrics.
Nothing in this project needs torchvision (LitData, the streaming extra, only declares it),
so the guard turns that traceback into one line naming the two fixes.
"""

import importlib.abc
import sys


class BrokenInstall(RuntimeError):
    """A package is installed but cannot load; the message names it and the fix (exit 2)."""


def require_loadable_torchvision() -> None:
    """Import torchvision if it is installed; raise BrokenInstall in one line if it cannot load."""
    import importlib.util

    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision  # noqa: F401 - the import is the test
    except Exception as e:  # noqa: BLE001 - any failure to load is the same problem for the user
        from importlib.metadata import PackageNotFoundError, version

        sys.modules.pop("torchvision", None)

        def installed(name: str) -> str:
            try:
                return f"{name} {version(name)}"
            except PackageNotFoundError:
                return name

        found, beside = installed("torchvision"), f" beside {installed('torch')}"
        reason = (str(e).strip().splitlines() or [""])[0]
        raise BrokenInstall(
            f"{found} is installed but does not load{beside} ({type(e).__name__}: {reason}); nothing here "
            "needs it: pip uninstall -y torchvision (or, for a CPU-only torch, install its matching build: "
            "pip install torchvision --index-url https://download.pytorch.org/whl/cpu)"
        ) from None


class _TorchvisionGuard(importlib.abc.MetaPathFinder):
    """Runs require_loadable_torchvision() before the first import of torchmetrics, then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchmetrics":
            require_loadable_torchvision()  # raises while torchvision is broken, every time it is asked
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        return None  # the ordinary finders import torchmetrics itself


if not any(isinstance(finder, _TorchvisionGuard) for finder in sys.meta_path):
    sys.meta_path.insert(0, _TorchvisionGuard())
