"""Coarse to fine (M28): read a finished sweep, keep its best trials, write a narrower sweep.

    python refine_sweep.py                            the latest study -> configs/sweep/<sweep>_fine.yaml
    python refine_sweep.py --study random-1a2b3c4d --top 0.2 --output lr_fine
    python train.py -m sweep=random_fine ...          the command it prints: the next, denser sweep

Ranges shrink to the span of the best trials (on the scale each parameter is sampled on);
a best value at the border of its old range is flagged "expand the range" and the new range
goes past that border, unless the border is the limit of what is possible (0 dropout,
1 layer): that is said as such, and the new range keeps it. An existing config is never
replaced silently: pick another --output name, or pass --overwrite.
"""

import argparse
import sys
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "sweep"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--study", help="study name (default: the most recent one)")
    parser.add_argument("--storage", help="database URL (default: sqlite:///multirun/sweeps.db)")
    parser.add_argument("--top", type=float, default=0.25, help="fraction of the complete, satisficing trials to keep (default 0.25, at least 3)")
    parser.add_argument("--border", type=float, default=0.1, help="a best value within this fraction of the old width from an edge is on the border")
    parser.add_argument("--expand", type=float, default=0.25, help="how far past a flagged border the new range goes, as a fraction of the old width")
    parser.add_argument("--n-trials", type=int, help="budget of the new sweep (default: the old one's)")
    parser.add_argument("--sampler", choices=["random", "grid", "qmc", "tpe"], help="sampler of the new sweep (default: the old one's)")
    parser.add_argument("--output", "--name", dest="name", metavar="NAME", help="config name, configs/sweep/NAME.yaml (default: <old sweep>_fine)")
    parser.add_argument("--overwrite", action="store_true", help="replace configs/sweep/NAME.yaml if it exists")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from {{cookiecutter.package_name}}.search import studies
    from {{cookiecutter.package_name}}.search.refine import refine, to_yaml

    study = studies.load(args.study, args.storage)
    try:
        ref = refine(study, top=args.top, border=args.border, expand=args.expand)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    old_sweep = study.user_attrs.get("sweep") or study.user_attrs.get("sampler") or "sweep"
    name = args.name or (old_sweep if str(old_sweep).endswith("_fine") else f"{old_sweep}_fine")
    path = args.config_dir / f"{name}.yaml"
    if path.exists() and not args.overwrite:
        print(f"error: {path} exists (an earlier refinement?); not replacing it: pass --output <another name>, or --overwrite to replace it", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(ref, study, args.n_trials, args.sampler))

    print(f"study {study.study_name}: kept the best {ref.kept} of {ref.total} complete trials")
    for key, p in ref.space.items():
        old = ref.old[key].expression()
        print(f"  {key:<28} {old:<48} -> {p.expression()}")
    for flag in ref.flags:
        print(f"EXPAND THE RANGE: {flag}")
    for limit in ref.limits:
        print(f"AT THE LIMIT (nothing to expand): {limit}")
    fixed = [o for o in (study.user_attrs.get("fixed_overrides") or []) if not o.startswith("sweep=")]
    print(f"wrote {path}\nnext: python train.py -m sweep={name} " + " ".join(fixed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
