"""The package stays in pieces a reader can hold: no module over 500 lines, no function over 100.

Long modules and functions were where twins and hidden branches grew (docs/architecture.md);
this keeps the split from eroding one feature at a time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mim_console"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_is_where_this_test_looks() -> None:
    assert (PACKAGE / "__init__.py").is_file()
    assert len(_modules()) > 50


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): count
        for path in _modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules by topic: {long}"


def test_no_function_is_over_100_lines() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = length
    assert long == {}, f"split these functions: {long}"


SQL = re.compile(r"\b(SELECT|INSERT|DELETE FROM)\b|\bUPDATE\s+\w+\s+SET\b")


def test_sql_is_written_only_in_data() -> None:
    """Repositories own their tables (docs/architecture.md); the stand-in is Twilio's stand-in,
    not part of the console's storage."""
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in _modules()
        if path.relative_to(PACKAGE).parts[0] not in ("data", "standin")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    ]
    assert found == [], f"move these statements into a repository in data/: {found}"
