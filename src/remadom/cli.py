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
    fit.add_argument("--output-path", default=None,
                     help="MORPHOVI: folder for logs/, outputs/<config>/{checkpoints,images}")
    fit.add_argument("--resume", action="store_true", help="MORPHOVI: continue from the last checkpoint")
    demo = sub.add_parser("demo", help="URMF on the bundled real data: scores and plots")
    demo.add_argument("--outdir", default="remadom_demo")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--max-epochs", type=int, default=None)
    demo.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)

    from .config import ConfigError, parse_config

    if args.command == "fit":
        if _is_morphovi(args.config):
            return _fit_morphovi(args)
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


def _is_morphovi(path: str) -> bool:
    from pathlib import Path

    import yaml

    p = Path(path)
    if not p.exists():
        return False
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        return False
    return isinstance(doc, dict) and doc.get("model") == "morphovi"


def _fit_morphovi(args) -> int:
    from pathlib import Path

    import yaml
    from pydantic import ValidationError

    from .config import _format_errors
    from .config_morphovi import MorphoConfig

    try:
        cfg = MorphoConfig.model_validate(yaml.safe_load(Path(args.config).read_text()))
    except ValidationError as err:
        print(f"remadom fit: {_format_errors(err, MorphoConfig)}", file=sys.stderr)
        return 2
    if args.check:
        print("configuration is valid")
        return 0
    from ._morphovi_workflow import run_morphovi

    out = args.output_path or "morphovi_out"
    try:
        result = run_morphovi(cfg, args.config, out, resume=args.resume, progress_bar=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"remadom fit: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
