"""Upload glue: run ingest on an uploaded file once per (file, settings).

The result lives in session state only until it is saved to the workspace;
the uploaded bytes are not copied anywhere else.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import polars as pl
import streamlit as st

from crm_core.dataset import Dataset
from crm_core.ingest import ColumnMapping, IngestError, IngestReport, ReadOptions, read_orders, read_side_table
from crm_core.logging_setup import get_logger, timed
from ui.state import Keys


@dataclass
class UploadResult:
    cache_key: tuple
    transactions: pl.DataFrame | None
    report: IngestReport | None
    error: str | None


def _read(reader, uploaded, *args):
    """Call an ingest reader with the upload's bytes and its file name as a hint."""
    data = uploaded.getvalue()
    if "filename" in inspect.signature(reader).parameters:
        return reader(data, *args, filename=uploaded.name)
    return reader(data, *args)


def ingest_upload(uploaded, mapping: ColumnMapping, options: ReadOptions) -> UploadResult:
    """Ingest ``uploaded`` (a Streamlit UploadedFile) unless the same file and settings were just read."""
    cache_key = (uploaded.file_id, mapping, options)
    previous: UploadResult | None = st.session_state.get(Keys.UPLOAD_RESULT)
    if previous is not None and previous.cache_key == cache_key:
        return previous
    try:
        with st.spinner(f"Reading {uploaded.name}…"), timed(get_logger("ingest"), "ingest", bytes=uploaded.size) as info:
            lazy, report = _read(read_orders, uploaded, mapping, options)
            result = UploadResult(cache_key, lazy.collect(), report, None)
            info.update(rows_read=report.rows_read, rows_valid=report.rows_valid, rows_rejected=report.rows_rejected)
    except IngestError as error:
        result = UploadResult(cache_key, None, None, str(error))
    st.session_state[Keys.UPLOAD_RESULT] = result
    return result


def save_upload(name: str, uploaded, result: UploadResult) -> str:
    """Store the upload in the workspace; returns the new dataset id."""
    from ui.auth import user_workspace

    dataset = Dataset(transactions=result.transactions.lazy(), name=name)
    dataset_id = user_workspace().save(name, uploaded.getvalue(), uploaded.name, dataset, result.report)
    st.session_state.pop(Keys.UPLOAD_RESULT, None)
    _release_upload(uploaded)
    return dataset_id


def _release_upload(uploaded) -> None:
    """Drop the upload's bytes from Streamlit's per-session upload store once saved.

    The workspace holds the file now; otherwise the bytes stay in server memory
    until the browser session ends.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    manager = getattr(ctx, "uploaded_file_mgr", None)
    if manager is not None and getattr(uploaded, "file_id", None):
        manager.remove_file(ctx.session_id, uploaded.file_id)


def ingest_side_table(uploaded, kind: str) -> tuple[pl.DataFrame | None, IngestReport | None, str | None]:
    """Read a customers / interactions / marketing-spend upload: (frame, report, error)."""
    try:
        lazy, report = _read(read_side_table, uploaded, kind)
        return lazy.collect(), report, None
    except IngestError as error:
        return None, None, str(error)
