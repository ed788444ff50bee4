"""docs/reliability.md stays true: every test it names exists, under the name it gives."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"


def named_tests() -> list[tuple[str, str]]:
    return re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC.read_text(encoding="utf-8"))


def test_every_test_named_in_reliability_md_exists() -> None:
    named = named_tests()
    assert len(named) > 40
    missing = []
    for path, name in named:
        source = ROOT / path
        if not source.exists():
            missing.append(f"{path} (no such file)")
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        functions = {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in functions:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_every_reliability_test_is_in_the_table() -> None:
    """A new test in the reliability files gets a row (or it is not part of the promise)."""
    named = set(named_tests())
    files = [*ROOT.glob("tests/test_reliability_*.py"), ROOT / "tests" / "test_secrets.py"]
    files.append(ROOT / "tests" / "test_concurrency.py")
    files += [*ROOT.glob("tests/test_hardening_*.py"), ROOT / "tests" / "test_fuzz_cli.py"]
    absent = []
    for source in files:
        if source.name == "test_reliability_docs.py":
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                if (f"tests/{source.name}", node.name) not in named:
                    absent.append(f"tests/{source.name}::{node.name}")
    assert absent == [], "add these to docs/reliability.md"
