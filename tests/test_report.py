"""Reports: text table and HTML page whose embedded plots are real PNG images; the
fold/report commands."""
import base64
import re
import shutil
import subprocess

import numpy as np
import pytest

from bnnfpga import cli, modelfile, optimizer as O, random_net
from bnnfpga.report import PNG_MAGIC, write_report


@pytest.fixture(scope="module")
def small():
    return random_net.random_network(np.random.default_rng(11), "cnn")


def test_report_files_table_and_png_plots(tmp_path, small):
    r = O.optimize(small, "pynq-z2")
    files = write_report(small, r, tmp_path / "rep")
    text = files["text"].read_text()
    for word in ("PE", "SIMD", "cycles/frame", "weight bits", "LUT", "BRAM36", "share", "frames/s", "latency", "bottleneck"):
        assert word in text
    for layer in small.compute_layers():
        assert layer.name in text
    page = files["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 3
    for b64 in imgs:
        png = base64.b64decode(b64)
        assert png[:8] == PNG_MAGIC and len(png) > 2000
        w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert w > 200 and h > 100
    assert f"{r.frames_per_second:,.0f} frames/s" in page


def test_report_is_deterministic(tmp_path, small):
    r = O.optimize(small, "pynq-z2")
    a = write_report(small, r, tmp_path / "a")["html"].read_bytes()
    b = write_report(small, r, tmp_path / "b")["html"].read_bytes()
    assert a == b


def test_report_of_an_infeasible_target_names_the_binding_resource(tmp_path):
    net = O.bnn_pynq_network("lfc")
    r = O.optimize(net, "pynq-z2", target_fps=356633)
    text = write_report(net, r, tmp_path / "lfc")["text"].read_text()
    if not r.feasible:
        assert "DOES NOT FIT" in text and "over" in text and r.binding in text


def test_fold_and_report_commands(tmp_path, small, capsys):
    m = tmp_path / "m.bnn"
    modelfile.save(small, m)
    out = tmp_path / "f.json"
    assert cli.main(["fold", str(m), "--board", "pynq-z2", "-o", str(out)]) == 0
    assert "frames/s" in capsys.readouterr().out
    from bnnfpga import folding

    f = folding.load(out, small)
    assert f == O.optimize(small, "pynq-z2").folding
    assert cli.main(["report", str(m), "--board", "pynq-z2", "--folding", str(out), "-o", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.html").stat().st_size > 5000
    assert cli.main(["fold", str(m)]) == 2
    assert "give --board" in capsys.readouterr().err
    assert cli.main(["fold", str(m), "--board", "nope"]) == 2
    assert cli.main(["fold", str(m), "--board", "pynq-z2", "--lut-margin", "2"]) == 2
    assert cli.main(["fold", str(m), "--board", "pynq-z2", "--target-fps", "1e12"]) == 1


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless chromium")
def test_html_renders_headless(tmp_path, small):
    r = O.optimize(small, "pynq-z2")
    page = write_report(small, r, tmp_path / "rep")["html"]
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,2000", page.as_uri()], check=True, capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == PNG_MAGIC
