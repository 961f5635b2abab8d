"""The one compiled module: schemas/_wire_read.c, the worker's wire reader.

Optional: where it cannot be built (no C compiler), the install goes on and
schemas/wire_read.py's Python readers serve, with the same results.
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("schemas._wire_read", ["schemas/_wire_read.c"],
                             extra_compile_args=["-O2"], optional=True)])
