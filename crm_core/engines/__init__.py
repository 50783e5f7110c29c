"""Push-down: the app's figures computed inside DuckDB, PostgreSQL or Spark, through Ibis.

- :mod:`crm_core.engines.source`: URLs, sources, column mapping, errors;
- :mod:`crm_core.engines.figures`: every figure once, as Ibis expressions;
- :mod:`crm_core.engines.warehouse`: :class:`Warehouse` runs them and returns
  Polars frames shaped like the file path's.
"""
from crm_core.engines.source import (
    ENGINES,
    WarehouseError,
    WarehouseSource,
    check_query,
    connect,
    engine_of,
    operational_message,
    redact_uri,
    resolve_mapping,
)
from crm_core.engines.warehouse import (
    DEFAULT_DRILL_ROWS,
    MAX_DRILL_ROWS,
    Warehouse,
    fit_purchase_model,
    fit_spend_model,
    top_customers,
)

__all__ = [
    "DEFAULT_DRILL_ROWS", "ENGINES", "MAX_DRILL_ROWS", "Warehouse", "WarehouseError", "WarehouseSource", "check_query",
    "connect", "engine_of", "fit_purchase_model", "fit_spend_model", "operational_message", "redact_uri", "resolve_mapping",
    "top_customers",
]
