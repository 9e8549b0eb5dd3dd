"""Fixtures of the kernel tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """`importable(source)`: the name of a module with that source, importable by name.

    Job functions run in spawned child processes, which import them by module name: the
    module is written to the test's directory and put on sys.path (children inherit it).
    """
    names: list[str] = []

    def write(source: str) -> str:
        name = f"platform_test_module_{os.getpid()}_{abs(hash(str(tmp_path)))}_{len(names)}"
        (tmp_path / f"{name}.py").write_text(source)
        names.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in names:
        sys.modules.pop(name, None)
