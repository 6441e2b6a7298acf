"""``bqemulator`` with two fixes to its Storage Write API, nothing else changed.

1. RECORD columns keep their sub-fields.  bqemulator 1.4.0's write servicer builds the target
   table's Arrow schema from the top-level columns only (``grpc_api/write_servicer.py::
   _table_arrow_schema`` drops ``fields``), so every append to a table with a RECORD column (the
   orders table's ``items``) fails with DuckDB's "Attempted to convert a STRUCT with no fields".
   Its REST path (``_build_arrow_schema``) already handles nested fields; the fix hands it the
   sub-fields too.
2. Appends run on the event loop, like every REST request.  The emulator has one DuckDB
   connection; REST handlers use it on the asyncio loop, while gRPC runs synchronous handlers in a
   thread pool, so an append could interleave with a REST query on the same connection (seen as
   "Attempting to execute an unsuccessful or closed pending query result", and as hangs).  The fix
   runs the servicer's DuckDB step (``_flush_to_target``) on the loop, one at a time with REST.

README "The sink: Storage Write API, bounded, never stalls" lists both under what the local
stand-ins do not do.  Run as ``python localdev/bqemulator_main.py start ...`` (the same arguments
as ``bqemulator``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def _field(f: Any) -> dict:
    out = {"name": f.name, "type": f.type, "mode": f.mode}
    if f.fields:
        out["fields"] = [_field(sub) for sub in f.fields]
    return out


def patch() -> None:
    from bqemulator.api.routes.tabledata import _build_arrow_schema
    from bqemulator.grpc_api import write_servicer

    write_servicer._table_arrow_schema = lambda table_meta: _build_arrow_schema(
        [_field(f) for f in table_meta.schema_.fields]
    )

    handler = write_servicer.BigQueryWriteHandler
    init, flush = handler.__init__, handler._flush_to_target

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._loop = asyncio.get_running_loop()  # built by the server's start(), inside the loop

    async def _on_loop(self: Any, stream: Any, rows: Any) -> None:
        flush(self, stream, rows)

    def _flush_to_target(self: Any, stream: Any, rows: Any) -> None:
        asyncio.run_coroutine_threadsafe(_on_loop(self, stream, rows), self._loop).result()

    handler.__init__ = __init__
    handler._flush_to_target = _flush_to_target


def main() -> None:
    patch()
    from bqemulator.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
