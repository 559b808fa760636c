"""The README's two commands stay true: CI runs exactly the test command."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    return [b.strip() for b in blocks if b.strip().startswith("python3 -m venv")]


def test_ci_runs_the_readme_test_command() -> None:
    run_cmd, test_cmd = _readme_commands()[:2]
    ci_lines = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith("#")]
    assert test_cmd in ci_lines
    assert "pytest" in test_cmd and "alignrun +method=" in run_cmd


def test_commands_install_cpu_torch_in_the_same_pip_call() -> None:
    for cmd in _readme_commands()[:2]:
        pip_call = next(part for part in cmd.split("&&") if "pip install" in part)
        assert "torch==2.13.0" in pip_call  # otherwise pip pulls a multi-GB CUDA build
