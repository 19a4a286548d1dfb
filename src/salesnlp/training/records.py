"""Experiment records outside the model directory: MLflow, when asked for."""

from __future__ import annotations

import logging
from pathlib import Path

from salesnlp.errors import SalesNLPError

logger = logging.getLogger(__name__)


class MlflowUnavailable(SalesNLPError):
    """``mlflow=True`` without MLflow installed."""

    code = "E070"


def check_mlflow() -> None:
    """Fail before training, not after it, when MLflow logging cannot work."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise MlflowUnavailable(
            "mlflow=True but MLflow is not installed",
            hint="pip install 'salesnlp[mlflow]' (mlflow-skinny), or train without --mlflow",
        )


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value
    return out


def log_to_mlflow(model_dir: Path, record: dict) -> str:
    """Log one training run: its config as parameters, its data counts, dev metrics and
    seconds as metrics, and the model directory as artifacts. Returns the run id."""
    check_mlflow()
    import mlflow

    params = {k: str(v)[:500] for k, v in _flatten("", record["config"], {}).items()}
    metrics = {f"dev.{k}": float(v) for k, v in _flatten("", record["dev"], {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    metrics.update(seconds=float(record["seconds"]), n_train=float(record["n_train"]),
                   n_dev=float(record["n_dev"]))
    if "forgetting" in record:
        metrics["forgetting.change"] = float(record["forgetting"]["change"])
    with mlflow.start_run(run_name=model_dir.name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(record["data"], "data_counts.json")
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
    logger.info("logged to MLflow run %s", run.info.run_id)
    return run.info.run_id
