"""Every session-state key and URL query parameter, defined once.

Widgets bound to the URL (``bind="query-params"``) use their key as the query
parameter name, so those keys are short. Pages import these constants instead
of spelling key strings.
"""
from __future__ import annotations


class Keys:
    """Session-state / widget keys shared across pages."""

    # Bound to URL query parameters: a copied link reopens the same view.
    DATASET_ID = "ds"          # "demo" or a workspace dataset id
    PERIOD = "period"          # (start, end) date range, shared by all pages
    GRAIN = "grain"            # Overview trend grain: day / week / month
    KPI = "kpi"                # Overview trend KPI
    WINDOW = "cards"           # Overview cards: last month / quarter / 12 months / whole period
    # Session only.
    UPLOAD = "data_upload"
    UPLOAD_RESULT = "data_upload_result"
    PERIOD_DATASET = "period_dataset_id"     # dataset the PERIOD was chosen for
    PENDING_DATASET = "pending_dataset_id"   # applied to DATASET_ID before the sidebar draws
    SIDE_UPLOAD = "data_side_upload"
    SIDE_KIND = "data_side_kind"
    MEETING_MODE = "meeting_mode"


DEMO_DATASET_ID = "demo"
