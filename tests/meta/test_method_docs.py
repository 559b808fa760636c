"""Every built-in method has its page in docs/methods/, linked from the README."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
METHODS = sorted(p.stem for p in REPO.glob("plugins/alignrun_*/conf/method/*.yaml"))
PAGES = {
    "prompt_steering": "steering"
}  # docs/methods/steering.md covers the steering interface and this method


def test_methods_found() -> None:
    assert {"none", "dpo", "rlhf", "mva"} <= set(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_method_has_a_docs_page_linked_from_the_readme(method: str) -> None:
    name = PAGES.get(method, method)
    page = REPO / "docs" / "methods" / f"{name}.md"
    assert page.is_file(), f"add docs/methods/{name}.md"
    assert f"+method={method}" in page.read_text(encoding="utf-8")
    assert f"(docs/methods/{name}.md)" in (REPO / "README.md").read_text(encoding="utf-8")
