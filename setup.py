"""The compiled modules: the wire reader (schemas/_wire_read.c) and writer
(schemas/_wire_write.c) and the worker's state rows (processors/_state_rows.c),
each the twin of a Python module.

Optional: where they cannot be built (no C compiler), the install goes on and
the Python modules serve (schemas/wire_read.py, schemas/event_writer.py,
processors/state_codec.py),
with the same results.
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("schemas._wire_read", ["schemas/_wire_read.c"], depends=["schemas/_slots.h"],
              extra_compile_args=["-O2"], optional=True),
    Extension("schemas._wire_write", ["schemas/_wire_write.c"], depends=["schemas/_slots.h"],
              extra_compile_args=["-O2"], optional=True),
    Extension("processors._state_rows", ["processors/_state_rows.c"], include_dirs=["schemas"],
              depends=["schemas/_slots.h"], extra_compile_args=["-O2"], optional=True),
])
