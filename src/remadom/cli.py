"""Command line: ``remadom fit CONFIG.yaml`` and ``remadom demo``."""

from __future__ import annotations

import argparse
import json
import sys
import warnings


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``remadom`` command."""
    parser = argparse.ArgumentParser(prog="remadom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="train a model from a YAML configuration")
    fit.add_argument("config", help="YAML file (see docs/config.md)")
    fit.add_argument("--check", action="store_true", help="only validate the configuration")
    fit.add_argument("--no-progress", action="store_true")
    demo = sub.add_parser("demo", help="URMF on the bundled real data: scores and plots")
    demo.add_argument("--outdir", default="remadom_demo")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--max-epochs", type=int, default=None)
    demo.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)

    from .config import ConfigError, parse_config

    if args.command == "fit":
        try:
            cfg = parse_config(args.config)
        except (ConfigError, FileNotFoundError) as err:
            print(f"remadom fit: {err}", file=sys.stderr)
            return 2
        if args.check:
            print("configuration is valid")
            return 0
        from ._workflow import run

        result = run(cfg, progress_bar=not args.no_progress)
        print(json.dumps(result, indent=2))
        return 0
    from ._demo import run_demo

    run_demo(args.outdir, seed=args.seed, max_epochs=args.max_epochs,
             progress_bar=not args.no_progress)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
