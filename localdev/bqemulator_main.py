"""``bqemulator`` with one fix to its Storage Write API: RECORD columns keep their sub-fields.

bqemulator 1.4.0's write servicer builds the target table's Arrow schema from the top-level
columns only (``grpc_api/write_servicer.py::_table_arrow_schema`` drops ``fields``), so every
append to a table with a RECORD column (the orders table's ``items``) fails with DuckDB's
"Attempted to convert a STRUCT with no fields".  Its REST path (``_build_arrow_schema``) already
handles nested fields; this wrapper hands it the sub-fields too, and changes nothing else.
README "The sink: Storage Write API, bounded, never stalls" lists it under what the fake does
not do.  Run as ``python localdev/bqemulator_main.py start ...`` (same arguments as ``bqemulator``).
"""

from __future__ import annotations

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


def main() -> None:
    patch()
    from bqemulator.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
