"""Lecture 18: pipeline orchestration and MLOps.

The code of the chapter ``docs/lectures/18-mlops.md``, in the order the page shows
it. Run it top to bottom with ``python -m tutorials.lec18_mlops.chapter``; everything
it writes goes to ``lec18/`` under the current directory: the MLflow store
(``lec18/mlflow.db`` and ``lec18/mlartifacts/``), TensorBoard logs, the pipeline's
folder ``lec18/pipeline/``, the TorchX job's logs and the figures.
"""

# --8<-- [start:setup]
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from tutorials.core.datasets import digits_arrays, digits_split
from tutorials.lec18_mlops.pipeline import (
    PipelineConfig,
    environment_tags,
    experiment_id,
    make_model,
    quiet_mlflow,
    run_pipeline,
    tracking_uri_for,
    write_batch,
)

quiet_mlflow()  # before importing mlflow: no telemetry, no INFO logs, no progress bars
import mlflow  # noqa: E402  (after quiet_mlflow)
import mlflow.pytorch  # noqa: E402

# Tiny models: one thread is faster than a thread team, and results do not
# depend on the thread count (given back at the end of the page).
previous_threads = torch.get_num_threads()
torch.set_num_threads(1)
OUT = Path("lec18")  # everything this chapter writes goes here
OUT.mkdir(exist_ok=True)
mlflow.set_tracking_uri(tracking_uri_for(OUT / "mlflow.db"))  # a local SQLite store, in WAL mode
print("tracking store:", mlflow.get_tracking_uri().rsplit("/", 2)[-2:])
# --8<-- [end:setup]

# --8<-- [start:config]
config = PipelineConfig()  # a frozen dataclass: every knob of a run, with defaults
print(config)
tuned = replace(config, lr=0.02, epochs=8)  # a variant; config itself never changes
print({k: v for k, v in vars(tuned).items() if v != getattr(config, k)})

env = environment_tags()  # recorded with every run, as MLflow tags
print(sorted(env))
# The commit of the code that ran, if it runs from a git checkout; "no git" otherwise
# (installed from a wheel). Never print it as checked output: it changes every commit.
print("git commit recorded:", env["git_commit"] == "no git" or len(env["git_commit"]) == 40)
# --8<-- [end:config]

# --8<-- [start:sweep]
x_train, y_train, x_val, y_val = digits_split(seed=0)  # real 8x8 digits, pixels in [0, 1]


def train_epochs(lr, epochs=6, hidden=64, seed=0):
    """Train the pipeline's MLP with Adam; after each epoch yield (epoch, model, loss, accuracy)."""
    torch.manual_seed(seed)  # initial weights
    order = torch.Generator().manual_seed(seed)  # batch order
    model = make_model(hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        losses = []
        for idx in torch.randperm(len(x_train), generator=order).split(64):
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        yield epoch, model, sum(losses) / len(losses), accuracy


sweep = experiment_id("digits-sweep", OUT / "mlartifacts")  # first use creates the schema (seconds)
with mlflow.start_run(experiment_id=sweep, run_name="lr-sweep") as parent:
    mlflow.set_tags(env)
    for lr in (0.001, 0.01, 0.1):
        with mlflow.start_run(experiment_id=sweep, run_name=f"lr={lr}", nested=True):  # a child run
            params = {"lr": lr, "hidden": 64, "epochs": 6, "batch_size": 64, "seed": 0}
            mlflow.log_params(params)
            with SummaryWriter(OUT / "tensorboard" / f"lr={lr}") as writer:
                for epoch, model, loss, accuracy in train_epochs(lr):
                    mlflow.log_metrics({"train_loss": loss, "val_accuracy": accuracy}, step=epoch)
                    writer.add_scalar("loss/train", loss, epoch)  # the same numbers, for TensorBoard
                    writer.add_scalar("accuracy/val", accuracy, epoch)
                    writer.add_histogram("weights/layer0", model[0].weight, epoch)
                writer.add_hparams(params, {"hparam/val_accuracy": accuracy}, run_name=".")
            mlflow.log_artifacts(writer.log_dir, artifact_path="tensorboard")  # event files, copied
print("wrote", OUT / "tensorboard", "and runs in", OUT / "mlflow.db")

trials = mlflow.search_runs(
    [sweep],
    filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    order_by=["metrics.val_accuracy DESC"],
)
print(trials[["params.lr", "metrics.train_loss", "metrics.val_accuracy"]].round(3).to_string(index=False))
# --8<-- [end:sweep]

# --8<-- [start:tensorboard_read]
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from tutorials.lec18_mlops.drawing import draw_tensorboard

curves, events = {}, {}
for lr in (0.001, 0.01, 0.1):
    # size_guidance 0 = keep every event (the default samples long runs)
    acc = EventAccumulator(
        str(OUT / "tensorboard" / f"lr={lr}"), size_guidance={"scalars": 0, "histograms": 0}
    )
    acc.Reload()  # reads the event files from disk
    events[lr] = acc
    curves[f"lr={lr}"] = {
        tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in ("loss/train", "accuracy/val")
    }
print("scalars:", acc.Tags()["scalars"])
print("histograms:", acc.Tags()["histograms"])
start = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
hparams = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
print("hparams of lr=0.1:", {k: v.number_value for k, v in sorted(hparams.items())})
best = float(trials["params.lr"].iloc[0])  # the sweep's best trial
histograms = [
    (h.step, np.array(h.histogram_value.bucket_limit), np.array(h.histogram_value.bucket))
    for h in events[best].Histograms("weights/layer0")
]
print(
    "wrote",
    draw_tensorboard(
        curves, histograms, f"weights/layer0 of lr={best} (histogram)", OUT / "tensorboard-readback.png"
    ),
)
# --8<-- [end:tensorboard_read]

# --8<-- [start:manifest]
from tutorials.lec18_mlops.steps import StepManifest, fingerprint, run_step

# A key is a hash of the inputs' content: key order and file times do not matter
print(fingerprint({"lr": 0.01, "epochs": 5}) == fingerprint({"epochs": 5, "lr": 0.01}))
print(len(fingerprint(config)), "hex digits of SHA-256")

source = OUT / "demo" / "rows.csv"
source.parent.mkdir(exist_ok=True)
source.write_text("1,2,3\n")
manifest = StepManifest(OUT / "demo" / "manifest.json")


def count_rows():  # the step: runs only when its inputs changed
    return {"rows": len(source.read_text().splitlines())}


for attempt in ("first run", "same input", "touched", "new content"):
    if attempt == "touched":
        os.utime(source)  # a newer modification time, the same bytes
    if attempt == "new content":
        source.write_text("1,2,3\n4,5,6\n")
    result = run_step(manifest, "count", {"file": source, "sep": ","}, count_rows)
    print(f"{attempt:12s} -> {result.status:7s} {result.outputs}")
print("wrote", source, "and", manifest.path)
# --8<-- [end:manifest]

# --8<-- [start:pipeline]
pixels, labels = digits_arrays()  # the 1,797 scans, pixels 0-16
pixels = (pixels / 16).astype(np.float32)
root = OUT / "pipeline"
# The pipeline's input: the batches of labelled scans collected so far (one, today)
print("wrote", write_batch(root / "raw" / "batch-000.npy", pixels[:1000], labels[:1000]))

print("-- first run")
results = run_pipeline(config, root, tracking_uri=mlflow.get_tracking_uri())
print("-- the same command again")
results = run_pipeline(config, root, tracking_uri=mlflow.get_tracking_uri())
print("-- a stricter gate: min_accuracy 0.9")
results = run_pipeline(replace(config, min_accuracy=0.9), root, tracking_uri=mlflow.get_tracking_uri())
print("evaluation:", {k: round(v, 2) for k, v in results["evaluate"].outputs["per_source"].items()})
print("register:", {k: v for k, v in results["register"].outputs.items() if k != "champion_accuracy_before"})
print("wrote", sorted(p.name for p in root.iterdir()))
# --8<-- [end:pipeline]

# --8<-- [start:registry]
client = mlflow.MlflowClient()
for found in client.search_model_versions("name='digits-mlp'"):
    v = client.get_model_version("digits-mlp", found.version)  # search results leave out aliases
    print(
        f"digits-mlp version {v.version}: aliases {v.aliases}, tags {v.tags}, "
        f"from a run with a {len(v.run_id)}-character id"
    )

trained = results["train"].outputs
run = client.get_run(trained["run_id"])
print("params:", sorted(run.data.params))
print("metrics:", sorted(run.data.metrics))
print("tags include:", [t for t in ("git_commit", "torch", "data_sha256") if t in run.data.tags])

champion = mlflow.pytorch.load_model("models:/digits-mlp@champion")  # by alias
logged = mlflow.pytorch.load_model(trained["model_uri"])  # the run's logged model
deployed = mlflow.pytorch.load_model(str(root / "deploy" / "digits-mlp"))  # the deployed copy
x_check = torch.from_numpy(pixels[1000:1100])
with torch.no_grad():
    print(
        "champion == logged == deployed:",
        torch.equal(champion(x_check), logged(x_check)) and torch.equal(champion(x_check), deployed(x_check)),
    )
print("a torch.export program:", isinstance(champion, torch.fx.GraphModule))
print("deployed files:", sorted(p.name for p in (root / "deploy" / "digits-mlp").iterdir()))
# loading through models:/ records the registered name next to the model's artifacts
print("wrote registered_model_meta under", root / "mlartifacts")
# --8<-- [end:registry]

# --8<-- [start:torchx_job]
from tutorials.lec18_mlops.drift import brightness, drift_report, new_scanner
from tutorials.lec18_mlops.jobs import run_torchx

traffic = OUT / "traffic"
# Day 1: more scans from the same scanner. Day 2: a new scanner (grey background).
day1 = write_batch(traffic / "day1.npy", pixels[1000:1400], labels[1000:1400])
day2 = write_batch(traffic / "day2.npy", new_scanner(pixels[1400:]), labels[1400:])
print("wrote", day1, "and", day2)

job = run_torchx(
    [
        "utils.python",
        "-m",
        "tutorials.lec18_mlops.drift",
        "--",
        "--reference",
        str(root / "raw" / "batch-000.npy"),
        "--current",
        str(day2),
        "--out",
        str(traffic / "day2-report.json"),
    ],
    log_dir=OUT / "torchx",
    timeout=120,
)
print("TorchX job:", job.state, "| it printed:", job.job_lines)
print("wrote", traffic / "day2-report.json", "and the job's logs under", OUT / "torchx")
# --8<-- [end:torchx_job]

# --8<-- [start:torchx_specs]
from torchx.components.dist import ddp

from tutorials.lec18_mlops.jobs import scheduler_request

# A DDP training script (Lecture 13) as a TorchX component: 2 nodes x 4 GPUs each
app = ddp("--epochs", "12", script="train.py", j="2x4", gpu=4, cpu=16, memMB=64_000, name="digits")
role = app.roles[0]
print(role.entrypoint, role.args[0], "\n" + role.args[1])
print(f"image {role.image}, {role.num_replicas} replicas, {role.resource.gpu} GPUs each")

script = scheduler_request(app, "slurm", {"partition": "gpu", "time": "2:00:00"})
print("\n".join(line for line in script.splitlines() if line.startswith(("#SBATCH", "# Run with"))))
try:
    scheduler_request(app, "kubernetes", {"queue": "default", "namespace": "ml"})
except ModuleNotFoundError as err:
    print("kubernetes:", type(err).__name__, err)
# --8<-- [end:torchx_specs]

# --8<-- [start:continuous_training]
from tutorials.lec18_mlops.drawing import draw_drift

reference = pixels[:1000]  # what the champion was trained on
before = mlflow.pytorch.load_model("models:/digits-mlp@champion")
psis = {}
for day, batch_file in (("day 1", day1), ("day 2", day2)):
    batch = np.load(batch_file)
    report = drift_report(reference, batch[:, :64], threshold=0.25)
    psis[day] = report["psi"]
    print(f"{day}: PSI {report['psi']:.2f}, KS {report['ks_statistic']:.2f} -> drifted: {report['drifted']}")
    if report["drifted"]:  # the trigger: the labelled batch joins the data, the pipeline reruns
        write_batch(root / "raw" / "batch-001.npy", batch[:, :64], batch[:, 64])
        results = run_pipeline(config, root, tracking_uri=mlflow.get_tracking_uri())

x_new, y_new = torch.from_numpy(np.load(day2)[:, :64]), torch.from_numpy(labels[1400:])
after = mlflow.pytorch.load_model("models:/digits-mlp@champion")
with torch.no_grad():
    for name, model in (("old champion", before), ("new champion", after)):
        print(f"{name} on the new scanner's scans: {(model(x_new).argmax(1) == y_new).float().mean():.2f}")
print("champion is now version", client.get_model_version_by_alias("digits-mlp", "champion").version)
print(
    "wrote",
    draw_drift(
        brightness(reference),
        {d: brightness(np.load(f)[:, :64]) for d, f in (("day 1", day1), ("day 2", day2))},
        psis,
        OUT / "drift.png",
    ),
)
# --8<-- [end:continuous_training]

# --8<-- [start:mistakes]
import shutil
import warnings

# 1. Python's hash() of a string is salted per process: useless as a cache key
code = "print(hash('lr=0.01'))"
printed = {
    subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    ).stdout
    for _ in range(2)
}
print("hash() equal in two processes:", len(printed) == 1)

# 2. Loading by an alias nobody set
try:
    mlflow.pytorch.load_model("models:/digits-mlp@production")
except mlflow.exceptions.MlflowException as err:
    print(type(err).__name__, "|", err.message)

# 3. MLflow 3 saves a torch.export program by default: it needs an example input
try:
    mlflow.pytorch.save_model(make_model(8), OUT / "no-example")
except mlflow.exceptions.MlflowException as err:
    print(type(err).__name__, "|", err.message.split(". ")[0])
    shutil.rmtree(OUT / "no-example")  # save_model had created an empty folder before it failed

# 4. Registry stages (Staging/Production) are deprecated: use aliases
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    client.transition_model_version_stage("digits-mlp", 1, "Production")
print(caught[0].category.__name__, "|", str(caught[0].message).split(". ")[0])
print(
    "it still works, for now: stage of version 1 in",
    OUT / "mlflow.db",
    "is",
    client.get_model_version("digits-mlp", 1).current_stage,
)
# --8<-- [end:mistakes]

# --8<-- [start:cleanup]
torch.set_num_threads(previous_threads)  # give back the thread count taken at the top
# --8<-- [end:cleanup]
