# %% [markdown]
# # Lab 18: the whole pipeline as one command
#
# Prepare data → train → evaluate → register → deploy, on real 8×8 handwritten
# digits, tracked in a local MLflow store and in TensorBoard, as **one command that
# can be run again**:
#
# * every step has a key, the SHA-256 of what it reads (the config fields it uses,
#   the bytes of its input files, the outputs of the steps before it); the step
#   manifest `<out-dir>/manifest.json` records the key of each finished step, so a
#   second run with nothing changed skips every step, and a change re-runs only the
#   steps that depend on it;
# * the trained model is logged to MLflow (params, per-epoch metrics, environment
#   tags including the git commit of the code, the model itself) and registered if
#   its accuracy passes `--min-accuracy`; the alias `champion` moves to it if it is
#   at least as accurate as the current champion on the same validation rows;
# * deploy copies the champion's MLflow model folder to `<out-dir>/deploy/` and
#   checks that the copy predicts exactly as `models:/<name>@champion`.
#
# With `--drift-day` the lab then simulates a new scanner in production: a drift
# monitor compares the brightness of the new scans with the training data (PSI and
# a KS test); above `--psi-threshold` the labelled scans join the data and the
# pipeline runs again: a new version, promoted if better.
#
# ```
# python -m tutorials.lec18_mlops.lab_18_pipeline --out-dir lab18               # train, register, deploy
# python -m tutorials.lec18_mlops.lab_18_pipeline --out-dir lab18               # again: every step skipped
# python -m tutorials.lec18_mlops.lab_18_pipeline --out-dir lab18 --lr 0.02     # train onwards re-run
# python -m tutorials.lec18_mlops.lab_18_pipeline --out-dir lab18 --drift-day   # drift, then retraining
# ```
#
# Look at the runs with `mlflow ui --backend-store-uri sqlite:///lab18/mlflow.db` and
# at the curves with `tensorboard --logdir lab18/tensorboard` (both serve on
# 127.0.0.1).

# %%
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tutorials.core.cli import (
    add_standard_options,
    guard_run,
    non_negative_float,
    parse_args_and_device,
    positive_float,
    positive_int,
    script_argv,
    write_results,
)
from tutorials.core.datasets import digits_arrays
from tutorials.core.reporting import format_table
from tutorials.lec18_mlops.drift import drift_report, new_scanner
from tutorials.lec18_mlops.pipeline import STEPS, PipelineConfig, run_pipeline, write_batch

RESULTS = "lab_18_pipeline_results"

# %% [markdown]
# ## 1. The input: batches of labelled scans
#
# The pipeline reads every `raw/*.npy` batch (rows of 64 pixels in [0, 1] and a
# label). The first 1,000 of scikit-learn's 1,797 digits are the batch collected so
# far; `--drift-day` adds 397 others, as a new scanner delivers them. A batch is
# written as `.npy`, whose bytes depend only on the data, so writing it again does
# not change its content hash.


# %%
def write_inputs(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Write raw/batch-000.npy (the first 1,000 digits); return all digits' pixels and labels."""
    pixels, labels = digits_arrays()
    pixels = (pixels / 16).astype(np.float32)
    path = write_batch(root / "raw" / "batch-000.npy", pixels[:1000], labels[:1000])
    print(f"input: {path} (1000 labelled scans)")
    return pixels, labels


# %% [markdown]
# ## 2. After the run: what MLflow holds
#
# The listing comes from the MLflow store itself, not from the manifest: the runs of
# the experiment with their params and metrics, and the registered versions with
# their aliases. Run ids are random: the lab prints their length, never their value.


# %%
def list_mlflow(config: PipelineConfig) -> dict:
    """Print the experiment's runs and the registered versions; return them as plain data."""
    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(config.experiment)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    rows = [
        {
            "run": i + 1,
            "id chars": len(r.info.run_id),
            "status": r.info.status,
            "epochs": r.data.params.get("epochs"),
            "lr": r.data.params.get("lr"),
            "eval_accuracy": round(r.data.metrics.get("eval_accuracy", float("nan")), 2),
        }
        for i, r in enumerate(runs)
    ]
    print(f"\nMLflow experiment {config.experiment!r}: {len(runs)} run(s)\n" + format_table(rows))
    versions = []
    for found in client.search_model_versions(f"name='{config.model_name}'"):
        v = client.get_model_version(config.model_name, found.version)  # search leaves out aliases
        versions.append(
            {
                "version": int(v.version),
                "aliases": ",".join(v.aliases) or "-",
                "accuracy": v.tags.get("accuracy", "-"),
            }
        )
    versions.sort(key=lambda row: row["version"])
    print(
        f"\nregistered model {config.model_name!r}\n"
        + (format_table(versions) if versions else "(no version: no model passed --min-accuracy)")
    )
    return {"runs": len(runs), "versions": versions}


# %% [markdown]
# ## 3. The command line


# %%
def build_parser() -> argparse.ArgumentParser:
    """The lab's command-line options."""
    p = argparse.ArgumentParser(
        description="Lab 18: prepare, train, evaluate, register, deploy; re-running skips the finished steps."
    )
    p.add_argument("--epochs", type=positive_int, default=12, help="training epochs (default: %(default)s)")
    p.add_argument("--hidden", type=positive_int, default=64, help="MLP width (default: %(default)s)")
    p.add_argument(
        "--lr", type=positive_float, default=0.01, help="Adam learning rate (default: %(default)s)"
    )
    p.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default: %(default)s)")
    p.add_argument(
        "--min-accuracy",
        type=non_negative_float,
        default=0.85,
        help="validation accuracy a model needs to be registered, at most 1 (default: %(default)s)",
    )
    p.add_argument(
        "--drift-day",
        action="store_true",
        help="then simulate a new scanner: drift check, retraining if drifted (default: %(default)s)",
    )
    p.add_argument(
        "--psi-threshold",
        type=positive_float,
        default=0.25,
        help="PSI above which the drift check retrains (default: %(default)s)",
    )
    add_standard_options(
        p,
        out_dir="the pipeline's folder: raw data, manifest, MLflow store, TensorBoard "
        "logs, deployment, results JSON",
        out_dir_default="lab18",
        dry_run="3 epochs of a 32-wide MLP, for a quick check",
        device="where to train (the model is served on the CPU)",
        device_default="cpu",
    )
    return p


def main(argv: list[str] | None = None) -> dict:
    """Run the lab; return its results (also written to ``--out-dir``)."""
    parser = build_parser()
    args, device = parse_args_and_device(parser, argv)
    if args.min_accuracy > 1:
        parser.error(
            f"argument --min-accuracy: expected an accuracy between 0 and 1, got {args.min_accuracy}"
        )
    if args.dry_run:
        args.epochs, args.hidden = 3, 32
    config = PipelineConfig(
        seed=args.seed,
        hidden=args.hidden,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        min_accuracy=args.min_accuracy,
        device=device.type,
    )
    with guard_run("Lab 18", args.out_dir):
        return _run(args, config)


def _run(args: argparse.Namespace, config: PipelineConfig) -> dict:
    """The body of :func:`main`, with the options checked."""
    root = Path(args.out_dir)
    pixels, labels = write_inputs(root)
    results = run_pipeline(config, root)
    steps = {name: results[name].status for name in STEPS}
    evaluation = results["evaluate"].outputs
    registered = results["register"].outputs
    print(
        f"validation accuracy {evaluation['accuracy']:.2f}; "
        + (
            f"registered as version {registered['version']}"
            if registered["registered"]
            else f"not registered: {registered['reason']}"
        )
    )
    drift = None
    if args.drift_day:
        current = new_scanner(pixels[1400:])
        drift = drift_report(pixels[:1000], current, threshold=args.psi_threshold)
        print(
            f"\ndrift check, new scanner: PSI {drift['psi']:.2f}, KS {drift['ks_statistic']:.2f} "
            f"-> drifted: {drift['drifted']}"
        )
        if drift["drifted"]:
            write_batch(root / "raw" / "batch-001.npy", current, labels[1400:])
            results = run_pipeline(config, root)
            steps = {name: results[name].status for name in STEPS}
    listing = list_mlflow(config)
    champion = results["deploy"].outputs["version"]
    print(
        f"\nchampion: {config.model_name} version {champion}, deployed to "
        f"{root / results['deploy'].outputs['path'] if champion else 'nowhere'}"
    )
    summary = {
        "config": vars(config),
        "steps": steps,
        "accuracy": evaluation["accuracy"],
        "champion_version": champion,
        "drift": drift,
        **listing,
    }
    path = write_results(root, RESULTS, summary)
    print(
        f"wrote {path}, {root / 'manifest.json'}, the MLflow store {root / 'mlflow.db'} and TensorBoard logs "
        f"under {root / 'tensorboard'}"
    )
    return summary


if __name__ == "__main__":
    main(script_argv())
