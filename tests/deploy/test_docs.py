"""docs/operations.md and docs/deploy.md stay in step with the code.

Ops grep the log for tags and set variables from the docs; a tag or a variable
the docs don't mention is one nobody on call can act on.
"""

import re

import pytest

from tests.deploy.stack import ROOT
from users.logtags import LogTag

OPERATIONS = ROOT / "docs" / "operations.md"
DEPLOY = ROOT / "docs" / "deploy.md"

# Where environment variables are read, and how each file reads them.
ENV_READERS = {
    ROOT / "primepre" / "settings.py": r'env_(?:str|bool|int|float|list)\(\s*"([A-Z][A-Z0-9_]+)"',
    ROOT / "primepre" / "logging.py": r'env_str\(\s*"([A-Z][A-Z0-9_]+)"',
    ROOT / "gunicorn_config.py": r'(?:env_int\(|os\.environ\.get\()\s*"([A-Z][A-Z0-9_]+)"',
    ROOT / "primepre" / "supervisor.py": r'(?:env_float\(|env_int\(|os\.environ\.get\()\s*"([A-Z][A-Z0-9_]+)"',
    ROOT / "users" / "management" / "commands" / "ensure_admin.py": r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]+)"',
}


@pytest.mark.parametrize("tag", list(LogTag), ids=[tag.name for tag in LogTag])
def test_every_log_tag_is_explained_in_operations_md(tag: LogTag) -> None:
    table_rows = [line for line in OPERATIONS.read_text().splitlines() if line.startswith(f"| `{tag.value}`")]
    assert len(table_rows) == 1, f"{tag.value} needs exactly one row in the tag table of docs/operations.md"


def test_operations_md_lists_no_tag_the_code_does_not_define() -> None:
    listed = re.findall(r"^\| `(\[[A-Z-]+\])`", OPERATIONS.read_text(), flags=re.MULTILINE)
    assert sorted(set(listed) - {tag.value for tag in LogTag}) == [], "remove it from the table, or add it to LogTag"


def test_operations_md_has_the_troubleshooting_sections_the_tag_table_points_to() -> None:
    headings = re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), flags=re.MULTILINE)
    for section in ("502s", "Memory", "Slow imports", "Twilio warnings"):
        assert any(heading.startswith(section) for heading in headings), f"docs/operations.md needs '{section}'"


@pytest.mark.parametrize("reader", list(ENV_READERS), ids=lambda path: path.name)
def test_every_environment_variable_the_code_reads_is_in_deploy_md(reader: object) -> None:
    names = set(re.findall(ENV_READERS[reader], reader.read_text()))
    assert names, f"no variables found in {reader}: has the way it reads them changed?"
    text = DEPLOY.read_text()
    missing = sorted(name for name in names if f"`{name}`" not in text)
    assert not missing, f"docs/deploy.md doesn't explain {missing} (read in {reader.relative_to(ROOT)})"


REQUIREMENTS = ROOT / "requirements.txt"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_every_production_dependency_says_why_in_architecture_md_and_no_other() -> None:
    pinned = {
        re.split(r"[\[=<>]", line)[0].strip().lower()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    section = ARCHITECTURE.read_text().split("\n## Dependencies\n", 1)[1].split("\n## ", 1)[0]
    explained = {name.lower() for name in re.findall(r"^\| `([A-Za-z0-9_.-]+)` \|", section, flags=re.MULTILINE)}
    assert "docs/architecture.md#dependencies" in REQUIREMENTS.read_text(), "requirements.txt points readers there"
    assert sorted(pinned - explained) == [], "say why in docs/architecture.md's Dependencies table"
    assert sorted(explained - pinned) == [], "the table names a package requirements.txt no longer pins"


# Pointers into a tracker whose numbers change (an issue's number, an item of it, an owner's label); say the reason.
TRACKER_REFERENCE = re.compile(r"#\d+ items?\b|\(#\d+\)|\b(?i:issue) #?\d+|[(#] ?owner: [a-z-]+")
TEXT_SUFFIXES = {".py", ".md", ".html", ".js", ".css", ".yaml", ".toml", ".txt"}


def test_no_code_comment_url_or_doc_points_at_a_numbered_issue() -> None:
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = [
        f"{name}:{number}: {line.strip()[:100]}"
        for name in tracked
        if (ROOT / name).suffix in TEXT_SUFFIXES or name == "Makefile"
        for number, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), start=1)
        if TRACKER_REFERENCE.search(line) and name != "tests/deploy/test_docs.py"
    ]
    assert found == [], "say the reason in words instead:\n" + "\n".join(found)
