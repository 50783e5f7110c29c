"""Display tables with text columns formatted by Python functions, without Python inside Polars queries.

Why not ``Expr.map_elements``: a Python function inside a Polars query runs on
Polars' thread pool and must take the GIL there. Polars 2.1's
``DataFrame.to_pandas`` (which ``st.dataframe`` calls) holds the GIL while it
waits for that same pool, so one session formatting a table while another shows
one froze the whole server (both pool threads waiting for the GIL, the GIL's
holder waiting for the pool; seen with 10 concurrent sessions). Here the
numbers are computed by Polars and formatted afterwards in the calling thread.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import polars as pl


class Formatted(NamedTuple):
    """A column of ``expr`` turned into text by ``format`` (nulls stay null), named ``name``."""

    expr: pl.Expr
    format: Callable[[Any], str]
    name: str


def select_formatted(frame: pl.DataFrame, *columns: pl.Expr | Formatted) -> pl.DataFrame:
    """``frame.select(*columns)``, where each :class:`Formatted` column is text from its function.

    Parameters
    ----------
    frame
        The (small, display-sized) table to select from.
    columns
        Polars expressions, and :class:`Formatted` columns in their place in the order.

    Returns
    -------
    pl.DataFrame
        The selected columns; the formatted ones as ``String``. A struct expression
        passes each row as a dict, as ``map_elements`` did.
    """
    values = frame.select(column.expr.alias(column.name) if isinstance(column, Formatted) else column
                          for column in columns)
    return values.with_columns(
        pl.Series(column.name, [None if value is None else column.format(value)
                                for value in values[column.name].to_list()], dtype=pl.String)
        for column in columns if isinstance(column, Formatted))
