"""Figure builders: frames in, ``plotly.graph_objects.Figure`` out.

One module per page area; all share the template and palette of
:mod:`crm_core.charts.theme`, registered on import.
"""
from crm_core.charts.imports import ignore_modules_being_imported
from crm_core.charts.theme import PALETTE, TEMPLATE_NAME, styled

ignore_modules_being_imported()  # figures are built in threads while others import pandas (see imports.py)

__all__ = ["PALETTE", "TEMPLATE_NAME", "styled"]
