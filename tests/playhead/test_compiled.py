"""What `make install` and a ready worker say about the compiled modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

from playhead import compiled
from processors import state_codec
from schemas import wire_read


def test_an_install_with_a_compiler_has_both_modules() -> None:
    done = subprocess.run([sys.executable, "-m", "playhead.compiled"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == ("wire reader: compiled, wire writer: compiled, "
                                   "state rows: compiled")


def test_a_module_not_built_is_named_with_what_builds_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_codec, "COMPILED", False)
    text = compiled.summary()
    assert text.startswith("wire reader: compiled, wire writer: compiled, state rows: Python")
    assert "processors/_state_rows.c not built: same results, slower" in text
    assert "C compiler" in text
    monkeypatch.setattr(wire_read, "COMPILED", False)
    assert "schemas/_wire_read.c and processors/_state_rows.c not built" in compiled.summary()
