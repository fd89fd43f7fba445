"""The example notebook executes top to bottom (nbclient), without a board: sw and sim runtimes."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


@pytest.mark.cosim
def test_quickstart_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    t0 = time.monotonic()
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    dt = time.monotonic() - t0
    assert dt < 120, f"notebook took {dt:.0f} s"
    texts, images = [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            texts.append(out.get("text", ""))
            images += "image/png" in out.get("data", {})
    text = "".join(texts)
    assert "sim == sw: identical scores and labels for 8 images" in text
    assert "hw: skipped" in text or "\nhw " in text
    assert "status: project" in text or "status: bitstream" in text
    assert images >= 1, "the figure of classified digits is missing"
    assert (tmp_path / "quickstart_work" / "digits_z2" / "digits_z2.json").is_file()
