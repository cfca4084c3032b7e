"""Command line: ``remadom fit CONFIG.yaml``, ``remadom prepare patchseq`` and ``remadom demo``.

This module imports only the standard library at load time, so ``remadom --help`` and
``remadom --version`` answer without loading scvi-tools, Lightning or PyTorch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings

_EPILOG = """\
configuration: one YAML schema for the five models (docs/config.md); annotated examples are in
the repository's examples/ folder (urmf, mosaicvi, stereomm, priorvi, morphovi).

run directory (outputs.dir): config.yaml, checkpoints/, logs/ (TensorBoard), images/,
result.h5mu, scores.json, model/. An existing run is never overwritten unless --overwrite (the
old run is replaced only once the new one has finished) or continued with --resume.

output: progress bars and log lines go to stderr; `remadom fit` prints its result, a JSON object,
alone on stdout. Exit code 2: invalid YAML or configuration, a missing input file, or a run
directory that holds a run; the message on stderr says what to fix.
"""


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="remadom",
        description="Multimodal and spatial omics integration models (scvi-tools).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser(
        "fit",
        help="train a model from a YAML configuration",
        description="Train a model from a YAML configuration (examples: examples/*.yaml; keys: "
        "docs/config.md).",
    )
    fit.add_argument(
        "config", help="YAML file (annotated examples in examples/, keys in docs/config.md)"
    )
    fit.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.SUB=VALUE",
        help="override a key of the YAML file before validation; the value is read as "
        "YAML (e.g. --set train.max_epochs=5 --set outputs.dir=run2); repeatable",
    )
    fit.add_argument(
        "--check",
        action="store_true",
        help="only validate the configuration and check that its input files exist",
    )
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    fit.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in outputs.dir from checkpoints/last.ckpt (same configuration)",
    )
    fit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in outputs.dir, once the new run has finished",
    )
    fit.add_argument(
        "--output-path",
        default=None,
        metavar="DIR",
        help="the run directory (the same as --set outputs.dir=DIR)",
    )
    prep = sub.add_parser(
        "prepare",
        help="write a run's input file from local real data (no download)",
        description="Write the input of an example configuration from a local data directory: "
        "'patchseq' writes the unpaired Patch-seq M1 morphology/ephys MuData with k-means "
        "clusters and the prior matrix of examples/patchseq_morphovi.yaml "
        "(remadom.datasets.patchseq_m1_unpaired).",
    )
    prep.add_argument("dataset", choices=["patchseq"], help="which input to write")
    prep.add_argument(
        "--data",
        default="../shared/data",
        metavar="DIR",
        help="directory holding patchseq_m1_morph_ephys.h5ad (default: ../shared/data)",
    )
    prep.add_argument("--out", required=True, metavar="FILE", help="the .h5mu file to write")
    prep.add_argument(
        "--prior-fraction",
        type=float,
        default=0.5,
        help="fraction of neurons whose pairing informs the prior matrix (default: 0.5)",
    )
    prep.add_argument(
        "--n-clusters", type=int, default=8, help="k-means k per modality (default: 8)"
    )
    prep.add_argument(
        "--seed", type=int, default=0, help="neuron draw and k-means seed (default: 0)"
    )
    demo = sub.add_parser("demo", help="URMF on the bundled real data: scores and plots")
    demo.add_argument("--outdir", default="remadom_demo")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--max-epochs", type=int, default=None)
    demo.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``remadom`` command.

    Parameters
    ----------
    argv
        Arguments without the program name; default: ``sys.argv[1:]``.

    Returns
    -------
    The exit status: 0 on success, 2 for an invalid configuration, missing input files or a run
    directory that would be overwritten.
    """
    args = _parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.command == "fit":
        return _fit(args)
    if args.command == "prepare":
        return _prepare(args)
    _headless_matplotlib()
    from .._demo import run_demo

    run_demo(
        args.outdir, seed=args.seed, max_epochs=args.max_epochs, progress_bar=not args.no_progress
    )
    return 0


def _error(err: BaseException) -> int:
    print(f"remadom fit: {err}", file=sys.stderr)
    return 2


def _prepare(args) -> int:
    from ..datasets import patchseq_m1_unpaired

    try:
        mdata = patchseq_m1_unpaired(
            args.data,
            prior_fraction=args.prior_fraction,
            n_clusters=args.n_clusters,
            random_state=args.seed,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"remadom prepare: {err}", file=sys.stderr)
        return 2
    mdata.write_h5mu(args.out)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "modalities": {k: list(v.shape) for k, v in mdata.mod.items()},
                "prior_neurons": mdata.uns["prior_pairs"]["n_used"],
            }
        )
    )
    return 0


def _fit(args) -> int:
    from ._schema import ConfigError, apply_overrides, check_inputs, load_yaml, parse_config

    overrides = list(args.overrides)
    if args.output_path is not None:
        overrides.append(f"outputs.dir={json.dumps(str(args.output_path))}")
    try:
        doc = apply_overrides(load_yaml(args.config), overrides)
        cfg = parse_config(doc)
        check_inputs(cfg)
    except (ConfigError, FileNotFoundError) as err:
        return _error(err)
    if args.check:
        print("configuration is valid")
        return 0
    _headless_matplotlib()
    try:
        with _stdout_to_stderr():
            from ._pipeline import run

            result = run(
                cfg,
                doc,
                resume=args.resume,
                overwrite=args.overwrite,
                progress_bar=not args.no_progress,
            )
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        return _error(err)
    if result is not None:  # None: a DDP process of rank > 0, whose rank 0 prints the result
        print(json.dumps(result, indent=2))
    return 0


def _headless_matplotlib() -> None:
    """Draw into files only (the Agg backend) unless ``MPLBACKEND`` says otherwise.

    Done here, in the program, never on ``import remadom``: a library must leave the user's
    backend alone.
    """
    if not os.environ.get("MPLBACKEND"):
        import matplotlib

        matplotlib.use("Agg")


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send everything written to stdout, by Python code or by C code on file descriptor 1, to
    stderr, so that the result printed afterwards is alone on stdout."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no usable file descriptors (an embedding host): redirect Python's writes only
        saved = None
    else:
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
