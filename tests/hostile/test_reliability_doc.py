"""docs/reliability.md and docs/security.md stay true: every test they cite exists; every hostile test is cited."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
DOCS = (DOC, ROOT / "docs" / "security.md")
CITATION = re.compile(r"(tests/[\w/]+\.py)::(test_\w+)")


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def citations(doc: Path = DOC) -> list[tuple[str, str]]:
    return sorted(set(CITATION.findall(doc.read_text(encoding="utf-8"))))


@pytest.mark.parametrize(
    ("doc", "path", "name"), [(doc.name, path, name) for doc in DOCS for path, name in citations(doc)]
)
def test_every_test_the_tables_cite_exists(doc: str, path: str, name: str) -> None:
    file = ROOT / path
    assert file.exists(), f"docs/{doc} cites {path}, which doesn't exist"
    assert name in defined_tests(file), f"docs/{doc} cites {path}::{name}, which doesn't exist"


def test_every_hostile_test_is_in_the_table() -> None:
    cited = {(path, name) for path, name in citations()}
    missing = [
        f"{path.relative_to(ROOT)}::{name}"
        for path in sorted((ROOT / "tests" / "hostile").glob("test_*.py"))
        if path.name != Path(__file__).name
        for name in sorted(defined_tests(path))
        if (str(path.relative_to(ROOT)), name) not in cited
    ]
    assert missing == [], "docs/reliability.md should say what each of these proves"
