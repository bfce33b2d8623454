"""The reports in a real headless browser: they load offline, without errors, and show
every plot. Needs chromium (Debian: `apt-get install -y chromium`); deselected by
default, run with `python -m pytest -m browser`. Without chromium these tests fail, they
never skip.
"""

import html
import json
import re
import shutil
import subprocess

import pytest
from test_report import EVIL, write_long_run, write_run

from elad.reading.bench_numbers import run_metrics
from elad.reading.bench_summary import write_summary
from elad.reading.report import write_run_report

pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--allow-file-access-from-files", "--virtual-time-budget=10000",
         "--enable-logging=stderr", "--v=0"]

# A page that loads the report in a frame and writes what the browser made of it.
PROBE = """<!DOCTYPE html><html><body><pre id="result">not loaded</pre>
<iframe id="frame" src="{src}" width="1200" height="900"></iframe><script>
document.getElementById("frame").onload = function () {{
  var d = document.getElementById("frame").contentDocument;
  var images = Array.prototype.map.call(d.images, function (i) {{
    var canvas = document.createElement("canvas");  // how much of it was drawn
    canvas.width = i.naturalWidth; canvas.height = i.naturalHeight;
    var drawn = 0;
    if (i.naturalWidth) {{
      var context = canvas.getContext("2d");
      context.drawImage(i, 0, 0);
      var pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
      for (var p = 3; p < pixels.length; p += 4) if (pixels[p] > 0) drawn++;
    }}
    return {{complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
             drawn: drawn / Math.max(1, canvas.width * canvas.height)}}; }});
  document.getElementById("result").textContent = JSON.stringify({{
    title: d.title, images: images, scripts: d.scripts.length,
    text: d.body.innerText}});
}};
</script></body></html>"""


def open_in_chromium(page, tmp_path) -> tuple[dict, str]:
    """What chromium saw in `page` (title, images, scripts, text) and its log."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed (apt-get install -y chromium)"
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.format(src=page.resolve().as_uri()))
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         probe.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, done.stdout[-2000:]
    return json.loads(html.unescape(found.group(1))), done.stderr


def _check(seen: dict, log: str, images: int) -> None:
    assert len(seen["images"]) == images
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 200 and image["height"] > 100
        assert image["drawn"] > 0.99  # every pixel decoded (the plots are opaque)
    assert seen["scripts"] == 0
    assert "Uncaught" not in log and "Failed to load resource" not in log


def test_run_report_in_chromium(tmp_path):
    """The report of a run with a baseline: its plots (accuracy, cost per round, and
    both runs' accuracy against cost) and its sections, as a reader sees them."""
    runs = tmp_path / "runs"
    write_run(runs / "elad-revise-s0")
    write_run(runs / "random-annotate-s0", accuracies=(0.5, 0.75), strategy="random",
              mode="annotate")
    page = write_run_report(runs / "elad-revise-s0", baseline_dir=runs / "random-annotate-s0")
    seen, log = open_in_chromium(page, tmp_path)
    assert seen["title"] == "elad run elad-revise-s0"
    _check(seen, log, images=3)
    assert EVIL in seen["text"]  # shown as text, not run
    text = seen["text"]
    for shown in ["Stop and budget", "Stopped after round 1: max rounds",
                  "budget $\tspent $\tleft $\tspent", "Test accuracy per task",
                  "round\tcost $\tall\tarithmetic", "Selection diagnostic",
                  "round\trandom\tentropy\tleast-confidence\tintra\telad",
                  "Against the baseline", "Baseline: random-annotate-s0 (random, annotate)",
                  "Both runs reach test accuracy 0.500"]:
        assert shown in text, shown
    assert text.index("Stop and budget") < text.index("Rounds") < text.index(
        "Test accuracy per task") < text.index("Against the baseline") < text.index(
        "Selection diagnostic") < text.index("Cost breakdown")


def test_run_report_with_its_forecast_plot_in_chromium(tmp_path):
    write_long_run(tmp_path / "run", stop_gain_per_usd=20.0)
    seen, log = open_in_chromium(write_run_report(tmp_path / "run"), tmp_path)
    _check(seen, log, images=3)  # accuracy, cost per round, the forecast
    assert "Forecast: what more teacher money buys" in seen["text"]
    assert "It stops after round 2 ($0.0120, accuracy 0.600)" in seen["text"]


def test_bench_index_in_chromium(tmp_path):
    write_run(tmp_path / "runs" / "elad-revise-s0")
    metrics = [run_metrics(tmp_path / "runs" / "elad-revise-s0", "grid")]
    write_summary(tmp_path, metrics, {"command": "elad bench", "machine": "test"},
                  ("random", "annotate"))
    seen, log = open_in_chromium(tmp_path / "index.html", tmp_path)
    assert seen["title"] == "elad bench"
    _check(seen, log, images=2)  # accuracy vs cost (revise), tokens per target
