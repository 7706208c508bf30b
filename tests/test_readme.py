"""README's two commands are what a newcomer types: keep them true."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must open with a bash block holding the two commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_install_and_test_commands():
    start, test = _readme_commands()[:2]
    assert "pip install ." in start and "turnstile" in start.split("&&")[-1]
    assert "'.[test]'" in test and "pytest" in test


def test_ci_runs_exactly_the_readme_test_command():
    test = _readme_commands()[1]
    ci_lines = (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci_lines, f"{test!r} is not a line of .ci/run"
