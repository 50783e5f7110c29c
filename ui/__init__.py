"""Streamlit glue: session-state keys, URL query-param sync, cached loaders."""
