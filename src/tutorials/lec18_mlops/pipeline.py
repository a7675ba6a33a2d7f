"""The chapter's pipeline: prepare data → train → evaluate → register → deploy.

Each step is a plain function; :func:`run_pipeline` runs them in order through
:func:`tutorials.lec18_mlops.steps.run_step`, so a step whose inputs (the config
fields it reads, the content of the files it reads, the outputs of the steps before
it) have not changed since its last successful run is skipped. Tracking goes to
MLflow (params, per-epoch metrics, environment tags, the model, the registry) and to
TensorBoard (scalars, weight histograms, hparams).

Files under the pipeline's ``root``::

    raw/*.npy             the raw batches, the pipeline's input (rows: 64 pixels, label)
    data/train.npy, val.npy   prepared splits (rows: 64 pixels, label, source batch)
    tensorboard/<run id>/ TensorBoard event files of each training run
    eval/<run id>.json    the evaluation of each trained model
    deploy/<model name>/  the champion's MLflow model folder, as a server would load it
    manifest.json         the steps' keys and outputs (see :class:`~tutorials.lec18_mlops.steps.StepManifest`)

The MLflow store is a SQLite file (``tracking_uri``, default ``<root>/mlflow.db``)
with its artifacts under ``<root>/mlartifacts``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tutorials.lec18_mlops.steps import StepManifest, StepResult, file_digest, run_step

__all__ = [
    "STEP_FIELDS",
    "STEPS",
    "PipelineConfig",
    "environment_tags",
    "experiment_id",
    "fast_local_sqlite",
    "git_state",
    "make_model",
    "quiet_mlflow",
    "read_rows",
    "run_pipeline",
    "tracking_uri_for",
    "write_batch",
]

STEPS = ("prepare", "train", "evaluate", "register", "deploy")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything that shapes a pipeline run; each step reads only its fields (:data:`STEP_FIELDS`).

    A plain frozen dataclass: printable, comparable, hashable by content
    (:func:`~tutorials.lec18_mlops.steps.fingerprint`), and easy to fill from a command
    line or from a Hydra/OmegaConf config (``OmegaConf.structured(PipelineConfig)``).
    """

    seed: int = 0
    val_fraction: float = 0.2
    hidden: int = 64
    epochs: int = 12
    lr: float = 0.01
    batch_size: int = 64
    min_accuracy: float = 0.85
    model_name: str = "digits-mlp"
    experiment: str = "digits-pipeline"
    device: str = "cpu"


# What each step depends on in the config: change lr and prepare is skipped.
STEP_FIELDS = {
    "prepare": ("seed", "val_fraction"),
    "train": ("seed", "hidden", "epochs", "lr", "batch_size", "experiment", "device"),
    "evaluate": (),
    "register": ("min_accuracy", "model_name"),
    "deploy": ("model_name",),
}


def quiet_mlflow() -> None:
    """Keep MLflow offline and quiet: no telemetry, INFO logs (database migrations) off.

    MLflow 3 sends anonymous usage telemetry unless ``MLFLOW_DISABLE_TELEMETRY`` or
    ``DO_NOT_TRACK`` is set (``mlflow/telemetry/utils.py``); both are read when the
    telemetry client starts, so this runs before ``import mlflow``.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in logs
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
    # the pt2 format's loader warns that torch.export's serialized format may change
    warnings.filterwarnings("ignore", message=".*torch.export.*", category=UserWarning)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _sqlite_wal(dbapi_connection, connection_record) -> None:
    """On each new SQLite connection: write-ahead log, no fsync per commit (see :func:`fast_local_sqlite`)."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # stored in the file: later connections inherit it
        cursor.execute("PRAGMA synchronous=NORMAL")  # per connection: sync at checkpoints, not per commit
        cursor.close()


def fast_local_sqlite() -> None:
    """Make MLflow's local SQLite store cheap to write: WAL journal, no fsync at every commit.

    MLflow commits every ``log_metric`` and every schema migration separately, and
    SQLite's default (a rollback journal, ``synchronous=FULL``) waits for the disk at each
    commit: on a slow disk, milliseconds each, seconds for the ~60 migrations of a new
    store. In WAL mode with ``synchronous=NORMAL`` a commit only appends to
    ``mlflow.db-wal``: a crash of the program loses nothing, a power cut can lose the
    last commits. That is the right trade for a single-user experiment store (MLflow's
    own ``mlflow/store/fs2db`` migration goes further, ``synchronous=OFF``); a shared
    store is a tracking server on a real database. Applies to every SQLite connection
    SQLAlchemy opens in this process, from the next one on; calling it again does nothing.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_wal):
        event.listen(Engine, "connect", _sqlite_wal)


def tracking_uri_for(path: str | os.PathLike[str]) -> str:
    """The ``sqlite:///`` tracking URI of a database file (absolute, so a change of directory keeps it).

    Also calls :func:`fast_local_sqlite`, so the store is written in WAL mode.
    """
    fast_local_sqlite()
    return "sqlite:///" + Path(path).resolve().as_posix()


def experiment_id(name: str, artifact_root: str | os.PathLike[str]) -> str:
    """The id of the MLflow experiment ``name``, created with its artifacts under ``artifact_root`` if new.

    Without ``artifact_location``, MLflow puts a new experiment's artifacts under
    ``./mlruns`` of the current directory, whatever the tracking URI.
    """
    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=Path(artifact_root).resolve().as_uri())


def git_state(path: str | os.PathLike[str]) -> dict[str, str]:
    """The git commit of the code at ``path`` and whether its tree has changes, or ``"no git"``.

    Args:
        path: a file or folder of the code that runs (here: this package).

    Returns:
        ``{"git_commit": <40 hex digits or "no git">, "git_dirty": "true"/"false"/"unknown"}``.
    """
    folder = Path(path).resolve()
    folder = folder if folder.is_dir() else folder.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):  # no git installed, or stuck
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"git_commit": "no git", "git_dirty": "unknown"}
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    return {"git_commit": commit, "git_dirty": "unknown" if status is None else str(bool(status)).lower()}


def environment_tags() -> dict[str, str]:
    """Versions, platform and git state of the code that runs: the tags every run records."""
    import mlflow
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mlflow": mlflow.__version__,
        "numpy": np.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        **git_state(Path(__file__)),
    }


# --- data -------------------------------------------------------------------------


def write_batch(path: str | os.PathLike[str], x: np.ndarray, y: np.ndarray) -> Path:
    """Write a raw batch as one ``.npy`` array (rows: 64 pixels in [0, 1], then the label).

    ``.npy`` holds no timestamp, so the same data always gives the same bytes (and the
    same content hash); ``np.savez`` would not: a zip stores each member's time.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.concatenate([np.asarray(x, np.float32), np.asarray(y, np.float32)[:, None]], axis=1)
    np.save(path, rows)
    return path


def read_rows(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(pixels, labels, sources)`` of a raw batch or a prepared split (``sources`` is None for a batch)."""
    rows = np.load(path)
    sources = rows[:, 65].astype(np.int64) if rows.shape[1] > 65 else None
    return rows[:, :64], rows[:, 64].astype(np.int64), sources


def make_model(hidden: int):
    """The pipeline's model: an MLP 64 → ``hidden`` → 10 for the 8×8 digits."""
    from torch import nn

    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def _prepare(root: Path, config: PipelineConfig) -> dict:
    """Concatenate the raw batches, split them into train and validation rows, write both."""
    batches = sorted((root / "raw").glob("*.npy"))
    if not batches:
        raise FileNotFoundError(f"no raw batches in {root / 'raw'}: write at least one *.npy there")
    parts = []
    for source, path in enumerate(batches):
        x, y, _ = read_rows(path)
        parts.append(np.concatenate([x, y[:, None], np.full((len(y), 1), source)], axis=1).astype(np.float32))
    rows = np.concatenate(parts)
    order = np.random.default_rng(config.seed).permutation(len(rows))  # fixed by the seed
    n_val = round(len(rows) * config.val_fraction)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    np.save(data / "val.npy", rows[order[:n_val]])
    np.save(data / "train.npy", rows[order[n_val:]])
    return {
        "train": "data/train.npy",
        "val": "data/val.npy",
        "rows": int(len(rows)),
        "sources": [p.name for p in batches],
    }


def _tensors(path: Path):
    import torch

    x, y, sources = read_rows(path)
    return torch.from_numpy(x.copy()), torch.from_numpy(y), sources


def _accuracy(model, x, y) -> float:
    import torch

    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _train(root: Path, config: PipelineConfig, prepared: dict, experiment: str) -> dict:
    """Train the MLP; log params, metrics, tags, TensorBoard events and the model to a new MLflow run."""
    import mlflow
    import mlflow.pytorch
    import torch
    from torch.utils.tensorboard import SummaryWriter

    device = torch.device(config.device)
    x, y, _ = _tensors(root / prepared["train"])
    x_val, y_val, _ = _tensors(root / prepared["val"])
    x, y, x_val, y_val = (t.to(device) for t in (x, y, x_val, y_val))
    torch.manual_seed(config.seed)  # the initial weights
    order = torch.Generator().manual_seed(config.seed)  # the batches' order (drawn on the CPU)
    model = make_model(config.hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    params = {f: getattr(config, f) for f in STEP_FIELDS["train"] if f != "experiment"}
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_params(params)
        mlflow.set_tags({**environment_tags(), "data_sha256": file_digest(root / prepared["train"])})
        logdir = root / "tensorboard" / run.info.run_id
        with SummaryWriter(log_dir=str(logdir)) as writer:
            for epoch in range(1, config.epochs + 1):
                model.train()
                losses = []
                for idx in torch.randperm(len(x), generator=order).to(device).split(config.batch_size):
                    loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.item())
                model.eval()
                metrics = {
                    "train_loss": sum(losses) / len(losses),
                    "val_accuracy": _accuracy(model, x_val, y_val),
                }
                mlflow.log_metrics(metrics, step=epoch)
                writer.add_scalar("loss/train", metrics["train_loss"], epoch)
                writer.add_scalar("accuracy/val", metrics["val_accuracy"], epoch)
                writer.add_histogram("weights/layer0", model[0].weight, epoch)
            writer.add_hparams(params, {"hparam/val_accuracy": metrics["val_accuracy"]}, run_name=".")
        info = mlflow.pytorch.log_model(
            model.cpu(),
            name="model",
            input_example=x_val[:2].cpu().numpy(),  # served on the CPU
            # explicit requirements: otherwise MLflow infers them by importing the model
            # in a subprocess, which is slow
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
    return {
        "run_id": run.info.run_id,
        "model_uri": info.model_uri,
        "tensorboard": logdir.relative_to(root).as_posix(),
    }


def _evaluate(root: Path, prepared: dict, trained: dict) -> dict:
    """Load the logged model back from MLflow and measure it on the validation rows, per source batch."""
    import mlflow
    import mlflow.pytorch
    import torch

    model = mlflow.pytorch.load_model(trained["model_uri"])  # what was logged, not what is in memory
    x, y, sources = _tensors(root / prepared["val"])
    result = {"accuracy": _accuracy(model, x, y), "per_source": {}}
    for index, name in enumerate(prepared["sources"]):
        mask = torch.from_numpy(sources == index)
        result["per_source"][name] = _accuracy(model, x[mask], y[mask])
    mlflow.MlflowClient().log_metric(trained["run_id"], "eval_accuracy", result["accuracy"])
    path = root / "eval" / f"{trained['run_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_json(result), encoding="utf-8")
    return result


def _json(data: dict) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _champion(client, name: str):
    """The model version the alias ``champion`` points to, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, "champion")
    except MlflowException:  # no such model, or no such alias yet
        return None


def _register(root: Path, config: PipelineConfig, prepared: dict, trained: dict, evaluated: dict) -> dict:
    """Register the model if it passes the gate; make it the champion if it beats the current one."""
    import mlflow
    import mlflow.pytorch

    client = mlflow.MlflowClient()
    accuracy = evaluated["accuracy"]
    if accuracy < config.min_accuracy:
        return {
            "registered": False,
            "reason": f"accuracy {accuracy:.3f} < min_accuracy {config.min_accuracy}",
            "champion_version": None if (c := _champion(client, config.model_name)) is None else c.version,
        }
    # registering is not idempotent in MLflow (each call adds a version): reuse this run's version
    existing = client.search_model_versions(f"name='{config.model_name}' and run_id='{trained['run_id']}'")
    version = (
        existing[0]
        if existing
        else mlflow.register_model(
            trained["model_uri"], config.model_name, tags={"accuracy": f"{accuracy:.4f}"}
        )
    )
    champion = _champion(client, config.model_name)
    champion_accuracy = None
    if champion is not None:  # the champion, measured on the *same* validation rows as the challenger
        x, y, _ = _tensors(root / prepared["val"])
        champion_accuracy = _accuracy(
            mlflow.pytorch.load_model(f"models:/{config.model_name}@champion"), x, y
        )
    promote = champion_accuracy is None or accuracy >= champion_accuracy
    if promote:
        client.set_registered_model_alias(config.model_name, "champion", version.version)
    return {
        "registered": True,
        "version": int(version.version),
        "promoted": promote,
        "champion_accuracy_before": champion_accuracy,
        "champion_version": int(version.version) if promote else int(champion.version),
    }


def _deploy(root: Path, config: PipelineConfig, prepared: dict) -> dict:
    """Copy the champion's MLflow model folder to ``deploy/`` and check that it predicts as the registry's."""
    import shutil

    import mlflow
    import mlflow.pytorch
    import torch

    uri = f"models:/{config.model_name}@champion"
    target = root / "deploy" / config.model_name
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target.parent / ".download"))
    shutil.move(local, target)
    shutil.rmtree(target.parent / ".download", ignore_errors=True)
    x, _, _ = _tensors(root / prepared["val"])
    with torch.no_grad():
        same = torch.equal(mlflow.pytorch.load_model(str(target))(x), mlflow.pytorch.load_model(uri)(x))
    if not same:
        raise RuntimeError(f"the deployed copy in {target} does not predict as {uri}")
    version = mlflow.MlflowClient().get_model_version_by_alias(config.model_name, "champion").version
    return {"path": target.relative_to(root).as_posix(), "version": int(version), "uri": uri}


def _one_thread(fn):
    """``fn`` run with one torch thread: a tiny MLP is faster without a thread team's synchronisation.

    Torch is imported only when a step runs, so a run that skips every step does not pay for it.
    """

    def wrapped():
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn()
        finally:
            torch.set_num_threads(threads)

    return wrapped


def run_pipeline(
    config: PipelineConfig, root: str | os.PathLike[str], *, tracking_uri: str | None = None,
    log: Callable[[str], object] | None = print,
) -> dict[str, StepResult]:
    """Run the five steps in order, skipping those whose inputs are unchanged.

    Args:
        config: the run's configuration.
        root: the pipeline's folder (``raw/`` must hold at least one batch).
        tracking_uri: the MLflow store (default: ``<root>/mlflow.db``).
        log: called with one line per step (``None``: silent).

    Returns:
        The :class:`~tutorials.lec18_mlops.steps.StepResult` of each step, by name.
    """
    quiet_mlflow()
    fast_local_sqlite()  # before the store's first connection
    import mlflow

    root = Path(root)
    mlflow.set_tracking_uri(tracking_uri or tracking_uri_for(root / "mlflow.db"))
    client = mlflow.MlflowClient()
    experiment = experiment_id(config.experiment, root / "mlartifacts")
    manifest = StepManifest(root / "manifest.json")
    fields = {step: {f: getattr(config, f) for f in names} for step, names in STEP_FIELDS.items()}
    results: dict[str, StepResult] = {}

    def step(name: str, inputs: dict, fn, still_valid=None) -> dict:
        result = run_step(manifest, name, {"config": fields[name], **inputs}, _one_thread(fn), still_valid)
        results[name] = result
        if log is not None:
            log(f"{name:9s} {result.status}")
        return result.outputs

    raw = sorted((root / "raw").glob("*.npy"))
    prepared = step(
        "prepare",
        {"raw": raw},
        lambda: _prepare(root, config),
        lambda out: all((root / out[k]).exists() for k in ("train", "val")),
    )
    data = {"train": root / prepared["train"], "val": root / prepared["val"]}

    def run_exists(out: dict) -> bool:
        try:
            return client.get_run(out["run_id"]).info.lifecycle_stage == "active"
        except mlflow.exceptions.MlflowException:
            return False

    trained = step(
        "train",
        {"data": data["train"], "val": data["val"]},
        lambda: _train(root, config, prepared, experiment),
        run_exists,
    )
    evaluated = step(
        "evaluate",
        {"val": data["val"], "run_id": trained["run_id"]},
        lambda: _evaluate(root, prepared, trained),
    )
    registered = step(
        "register",
        {"run_id": trained["run_id"], "evaluation": evaluated},
        lambda: _register(root, config, prepared, trained, evaluated),
    )

    def deployed_current(out: dict) -> bool:
        champion = _champion(client, config.model_name)
        if out["path"] is None:
            return champion is None
        return (
            (root / out["path"]).exists() and champion is not None and int(champion.version) == out["version"]
        )

    def deploy() -> dict:
        if registered["champion_version"] is None:  # nothing passed the gate yet: nothing to deploy
            return {"path": None, "version": None, "uri": None}
        return _deploy(root, config, prepared)

    step(
        "deploy",
        {"champion_version": registered["champion_version"], "val": data["val"]},
        deploy,
        deployed_current,
    )
    return results
