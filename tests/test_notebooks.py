"""The notebooks: committed without outputs, and executed end to end with nbclient.

The executions use the REAL embedded model server (the session-scoped `model_server`
fixture), passed to the notebooks as TRIROLE_BASE_URL/TRIROLE_MODEL, and the real python
sandbox. analysis.ipynb runs its own tiny evaluation (TRIROLE_EVAL_DIR unset). Kernels
run in a temporary folder, so nothing is written into the project.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["quickstart.ipynb", "analysis.ipynb"]
CELL_TIMEOUT_S = 1200  # the tiny evaluation: 8 pairs on a 135M model on two CPU cores


@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_the_committed_notebook_stores_no_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} cell {index} stores outputs: clear them before committing"
            assert cell.execution_count is None, f"{name} cell {index} stores an execution count"


def outputs_text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or str((output.get("data") or {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.notebook
@pytest.mark.server
@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_runs_against_the_embedded_model(name, model_server, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIROLE_BASE_URL", model_server.url)
    monkeypatch.setenv("TRIROLE_MODEL", model_server.extra["model"])
    monkeypatch.delenv("TRIROLE_EVAL_DIR", raising=False)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text = outputs_text(notebook)
    if name == "quickstart.ipynb":
        assert "status:" in text and "model calls" in text and "--- system ---" in text
    else:
        images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in (o.get("data") or {})]
        assert len(images) == 2, "both plot cells drew a figure"
        assert "scaffold" in text and "multi-agent" in text


@pytest.mark.notebook
@pytest.mark.server
def test_the_documented_headless_command_runs_the_quickstart(model_server, tmp_path):
    # The command docs/langgraph.md gives, as written, from the repository root.
    docs = (NOTEBOOKS.parent / "docs" / "langgraph.md").read_text()
    (command,) = [line for line in docs.splitlines() if "nbconvert" in line and "quickstart.ipynb" in line]
    env = {**os.environ, "TRIROLE_BASE_URL": model_server.url, "TRIROLE_MODEL": model_server.extra["model"]}
    before = (NOTEBOOKS / "quickstart.ipynb").read_bytes()
    done = subprocess.run(command, shell=True, cwd=NOTEBOOKS.parent, env=env, capture_output=True, text=True,
                          timeout=CELL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "status:" in done.stdout and "model calls" in done.stdout
    assert (NOTEBOOKS / "quickstart.ipynb").read_bytes() == before  # the committed notebook is untouched
