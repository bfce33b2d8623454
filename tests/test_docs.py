"""The docs a newcomer reads: the site builds with warnings as errors (a link to a missing
page or anchor is a warning), its generated references cover every setting and command,
it loads nothing from outside, every relative link resolves, and the README stays short,
shows the commands CI runs and the table and config elad really uses."""

import html
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from elad.config import RunConfig
from elad.config_help import help_line, keys
from elad.reading.report import format_table
from elad.strategies import SCORED

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "BENCHMARKS.md", *DOCS]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "WARNING" not in log, log[-4000:]
    return out


def test_docs_build_strict_with_every_page(site):
    for page in DOCS:
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"
    assert not (site / "hooks.py").exists()


def test_configuration_reference_has_every_setting_and_its_help(site):
    page = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))  # as read: `code` in help renders
    for key in keys(RunConfig()):
        assert f"<code>{key.name}</code>" in page, key.name
        assert help_line(key).replace("`", "") in text, key.name
    assert "openai: sampling temperature (must be in [0, 2])" in text  # with its range


def test_commands_reference_has_every_command(site):
    page = html.unescape((site / "commands" / "index.html").read_text(encoding="utf-8"))
    for command in ("elad run", "elad report", "elad export-data", "elad teacher check",
                    "elad bench", "elad config"):
        assert f"<code>{command}</code>" in page, command
    assert "--run-dir" in page and "usage: elad" in page


def test_site_loads_nothing_from_outside(site):
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        loads = re.findall(r'<(?:script|link|img)\b[^>]*?(?:src|href)="(https?:[^"]*)"', text)
        assert not loads, f"{page.relative_to(site)} loads {loads}"


def test_readme_is_at_most_250_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines"


def prose(text: str) -> str:
    """`text` without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """A heading's anchor, as GitHub and mkdocs' toc both make it for these headings."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return re.sub(r"[\s-]+", "-", text).strip("-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"),
                  flags=re.MULTILINE | re.DOTALL)
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE)}


def test_every_relative_link_resolves():
    broken = []
    for path in MARKDOWN:
        for target in re.findall(r"\]\(([^)\s]+)\)", prose(path.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
    assert "docs/quickstart.md" in (ROOT / "README.md").read_text()  # the check has links


def test_readme_shows_the_commands_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```sh\n{ci_command}\n```" in readme
    main_job = ("python3 -m venv .venv && .venv/bin/pip install -e . -c constraints.txt && "
                ".venv/bin/elad run --run-dir runs/default")
    assert f"```sh\n{main_job}\n```" in readme


def test_readme_table_is_the_one_elad_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.search(r"```\n(round .*?)```", readme, re.DOTALL).group(1).splitlines()
    assert table[0] == format_table([])  # the header, column by column
    rows = [line.split() for line in table[1:] if re.match(r" +\d+ ", line)]
    assert [int(r[0]) for r in rows] == list(range(len(rows))) and len(rows) >= 2
    costs = [float(r[5]) for r in rows]
    assert costs == sorted(costs) and costs[-1] <= 0.25  # the default budget: a hard cap
    assert any(line.startswith("stopped: ") for line in table)
    listed = [line.split()[0] for line in table if re.match(r" +[a-z-]+ +0\.\d+$", line)]
    assert listed == list(SCORED)


def toml_blocks(path: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def dotted_keys(data: dict, prefix: str = "") -> set[str]:
    found = set()
    for key, value in data.items():
        found |= (dotted_keys(value, f"{key}.") if isinstance(value, dict)
                  else {prefix + key})
    return found


def test_quickstart_config_is_the_readmes_and_uses_real_settings():
    config = toml_blocks(ROOT / "docs" / "quickstart.md")[0]
    assert config in toml_blocks(ROOT / "README.md")
    data = tomllib.loads(config)
    known = {key.name for key in keys(RunConfig())}
    unknown = dotted_keys(data) - known
    assert not unknown, f"not settings: {sorted(unknown)}"
    assert data["task"]["kind"] == "jsonl" and data["teacher"]["kind"] == "openai"
    assert data["student"]["kind"] == "hf"
