"""The embedded warehouse: chDB served over the ClickHouse HTTP interface.

``WarehouseServer(path, host, port).serve_forever()`` is ``playhead warehouse``;
``start()``/``stop()`` run it in a background thread for tests and embedding.
"""

from devkit.warehouse.server import WarehouseError, WarehouseServer

__all__ = ["WarehouseError", "WarehouseServer"]
