"""``notebooks/analyst_walkthrough.ipynb`` is committed clean and runs top to bottom."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesnlp.inference.model_dir import DEFAULT_MODEL_NAME

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "analyst_walkthrough.ipynb"
SHIPPED_MODEL = ROOT / "models" / DEFAULT_MODEL_NAME

nbformat = pytest.importorskip("nbformat")


def test_notebook_is_committed_without_outputs_and_does_not_train():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    training = [c for c in code if "salesnlp.train(" in c.source]
    assert training and all("RUN_TRAINING = False" in c.source for c in training)


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED_MODEL / "config.json").is_file(),
                    reason=f"the shipped model is not built yet ({SHIPPED_MODEL} has no "
                           "config.json); train it to run the notebook")
def test_notebook_runs_top_to_bottom(monkeypatch):
    pytest.importorskip("nbclient")
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    from nbclient import NotebookClient

    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits the environment
    monkeypatch.setenv("SALESNLP_MODEL", str(SHIPPED_MODEL))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # the kernel's working directory is the repository root
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<mark" in html  # evidence highlighted
