"""Which of the worker's compiled modules this install has (``python -m playhead.compiled``).

``make install`` prints it; the worker logs it when ready. A module not built
(no C compiler at install) leaves its Python twin in charge: the same
results, more CPU per event (docs/worker.md, "Compiled modules").
"""

from __future__ import annotations

from processors import state_codec
from schemas import event_writer, wire_read


def summary() -> str:
    """``wire reader: compiled, wire writer: compiled, state rows: compiled``, or
    which one is Python."""
    parts = [("wire reader", wire_read.COMPILED, "schemas/_wire_read.c"),
             ("wire writer", event_writer.COMPILED, "schemas/_wire_write.c"),
             ("state rows", state_codec.COMPILED, "processors/_state_rows.c")]
    text = ", ".join(f"{name}: {'compiled' if built else 'Python'}" for name, built, _ in parts)
    missing = [source for _, built, source in parts if not built]
    if missing:
        text += (f" ({' and '.join(missing)} not built: same results, slower; "
                 "a C compiler and Python's headers build them at make install)")
    return text


if __name__ == "__main__":
    print(summary())
