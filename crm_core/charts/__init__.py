"""Figure builders: frames in, ``plotly.graph_objects.Figure`` out.

One module per page area; all share the template and palette of
:mod:`crm_core.charts.theme`, registered on import.
"""
from crm_core.charts.theme import PALETTE, TEMPLATE_NAME, styled

__all__ = ["PALETTE", "TEMPLATE_NAME", "styled"]
