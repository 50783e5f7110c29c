"""Every session-state key and URL query parameter, defined once.

Widgets bound to the URL (``bind="query-params"``) use their key as the query
parameter name, so those keys are short. Pages import these constants instead
of spelling key strings.
"""
from __future__ import annotations


class Keys:
    """Session-state / widget keys shared across pages."""

    # Bound to URL query parameters: a copied link reopens the same view.
    DATASET_ID = "ds"          # "demo" or a workspace dataset id; in the URL by hand (ui/dataset_link.py), not bound
    PERIOD = "period"          # (start, end) date range, shared by all pages
    GRAIN = "grain"            # Overview trend grain: day / week / month
    KPI = "kpi"                # Overview trend KPI
    WINDOW = "cards"           # Overview cards: last month / quarter / 12 months / whole period
    PF_VALUE = "pf_by"         # Portfolio: rank tiers by revenue / margin
    PF_METHOD = "pf_cut"       # Portfolio: tier cut-offs by customer share (rank) or amount
    PF_GRAIN = "pf_grain"      # Portfolio: tier trend grain
    PF_MATRIX_VALUE = "pf_val" # Portfolio: significance matrix value axis
    PF_LINES = "pf_lines"      # Portfolio: quadrant lines at medians / averages
    PF_DRILL_BY = "pf_drill"   # Portfolio drill-down: tier or quadrant
    SEG_BINS = "seg_bins"      # Segments: RFM score levels (3, 4, 5)
    SEG_TIES = "seg_ties"      # Segments: shared / ordinal tie handling
    SEG_AXIS = "seg_on"        # Segments: rules read F or FM
    SEG_TAB = "seg_tab"        # Segments: open tab (ui.sections.lazy_tabs; the label, absent for the first)
    PF_TAB = "pf_tab"          # Portfolio: open tab
    LT_TAB = "lt_tab"          # Lifetime value & retention: open tab
    DRV_TAB = "drv_tab"        # What brings the best customers: open tab
    INTERACT_TAB = "int_tab"   # Interactions: open tab
    MEETING_MODE = "meeting"   # Present: meeting mode on/off (sidebar toggle)
    THEME = "theme"            # Present: chart theme in meeting mode (light / dark)
    MEETING_STEP = "step"      # Present: finding shown in meeting mode (1-based; synced by hand)
    SCORECARD_MODEL = "model"  # Scorecard: model shown
    DECK = "deck"              # Present: id of the saved deck played and edited (synced by hand)
    NOTES_SEGMENT = "note_seg" # Saved views & notes: notes filter
    SETTINGS_URL = "v"         # AnalysisSettings, compact (ui.settings): tiers, rules, margin, filters, ...
    PERIOD_PRESET = "preset"   # sidebar: period preset (all, custom, mtd, qtd, ytd, last_12_months)
    COMPARISON = "cmp"         # sidebar: comparison (kept in v through ui.settings, not bound itself)
    # Session only.
    SETTINGS = "analysis_settings"           # the session's AnalysisSettings (ui.settings)
    SETTINGS_ERROR = "analysis_settings_error"
    PERIOD_SETTING = "analysis_period"       # the sidebar period as a crm_core.settings.Period
    PENDING_PERIOD = "pending_period"        # dates of a loaded view, applied before the sidebar draws
    FILTER = "flt_"                          # + column: sidebar filter multiselects
    FILTER_CHIPS = "flt_chips"               # filter chips above every page
    FILTERS_OPEN = "sb_filters_open"         # sidebar: the Filters panel is open (ui.sections.lazy_expander)
    FORMAT_OPEN = "sb_format_open"           # sidebar: the Currency panel is open
    CURRENCY = "currency_choice"             # sidebar: currency override
    LOCALE = "locale_choice"                 # sidebar: number format
    VIEW_JSON = "view_json"                  # Saved views: settings JSON upload
    UPLOAD = "data_upload"
    UPLOAD_RESULT = "data_upload_result"
    PERIOD_DATASET = "period_dataset_id"     # dataset the PERIOD was chosen for
    VERSIONS_THIS_RUN = "dataset_versions_this_run"  # ui.data.dataset_version's look-ups in the current run
    PENDING_DATASET = "pending_dataset_id"   # applied to DATASET_ID before the sidebar draws
    SIDE_UPLOAD = "data_side_upload"
    SIDE_KIND = "data_side_kind"
    # Present (session only: view names, notes and authors are user text).
    MEETING_SWITCH = "meeting_switch"       # toggle just turned on: open the meeting page
    DECK_ENTRIES = "deck_entries"           # the deck being built (crm_core.deck.Deck)
    DECK_LOADED = "deck_loaded"             # id of the saved deck DECK_ENTRIES came from
    DECK_ADD = "deck_add_"                  # + chart key: "Add to deck" buttons
    DECK_TITLE = "deck_title_"              # + slide number: Deck page editors
    DECK_NOTE = "deck_note_"
    DECK_SPEAKER = "deck_speaker_"
    DECK_EDITOR = "deck_editor"             # the editor panel of the slide picked is open (ui.sections.lazy_expander)
    DECK_SELECTED = "deck_selected"         # index of the slide the Deck page's buttons and editor act on
    DECK_NAME = "deck_name"
    PAGE_TITLE = "page_title"               # title of the page being shown (set by app.py)
    SCORECARD_ANSWER = "sc_"                # + question key: self-assessment answers
    SCORECARD_OPEN = "sc_open_"             # + model: its questions' panel is open (ui.sections.lazy_expander)
    VIEW_NAME = "view_name"
    VIEW_PAGE = "view_page"
    VIEW_LINK = "view_link"
    VIEW_DELETE = "view_delete"
    NOTE_SEGMENT = "note_segment"
    NOTE_OTHER = "note_other"
    NOTE_AUTHOR = "note_author"
    NOTE_TEXT = "note_text"
    NOTE_DELETE = "note_delete"
    # Portfolio (session only: tier names may be user text).
    PF_TIER_NAME = "pf_name_"                # + tier index: tier name inputs
    PF_TIER_SHARE = "pf_share_"              # + tier index: customer share (%) inputs
    PF_TIER_AMOUNT = "pf_amount_"            # + tier index: cut-off amount inputs
    PF_TIER_PANEL = "pf_tier_panel"          # the tier settings' panel is open (ui.sections.lazy_expander)
    PF_SPLIT = "pf_split"                    # migration: first day of the later period
    PF_COST_CONTACT = "pf_cost_contact"
    PF_COST_RETURN = "pf_cost_return"
    PF_DRILL = "pf_drill_pick"               # drill-down: chosen tier or quadrant
    PF_DOWNLOAD = "pf_download"              # drill-down: CSV download button
    # Interact & customize (session only: searches may hold e-mail addresses, kept out of URLs).
    C360_QUERY = "c360_query"
    C360_PICK = "c360_pick"
    PLAYBOOK = "playbook"                    # last edited playbook (pl.DataFrame), read by every page
    PLAYBOOK_BASE = "playbook_base"          # what the playbook editor started from
    PLAYBOOK_EDITOR = "playbook_editor"
    PLAYBOOK_COVERAGE = "playbook_coverage"  # its coverage panel is open (ui.sections.lazy_expander)
    HIGH_VALUE_SHARE = "high_value_share"
    INTERACT_GROUP = "interact_group"
    WHATIF_SEGMENTS = "whatif_segments"
    WHATIF_COST = "whatif_cost"
    WHATIF_RESPONSE = "whatif_response"
    WHATIF_MODE = "whatif_mode"
    WHATIF_UPLIFT_AMOUNT = "whatif_uplift_amount"
    WHATIF_UPLIFT_PERCENT = "whatif_uplift_percent"
    WHATIF_MARGIN = "whatif_margin"
    TARGETS_CSV = "actions_download_csv"     # Actions: target list downloads
    TARGETS_TABLE = "actions_targets"        # Actions: the target list (select a row: Customer 360)
    TARGETS_XLSX = "actions_download_xlsx"
    # Lifetime value & retention (bound to the URL: settings only, no user text).
    LT_HORIZON = "lt_months"                 # CLV horizon in months (converted to weeks)
    LT_MARGIN = "lt_margin"                  # margin, percent
    LT_DISCOUNT = "lt_rate"                  # annual discount rate, percent
    LT_SETTINGS_PANEL = "lt_settings_panel"  # the forecast settings' panel is open (ui.sections.lazy_expander)
    LT_HOLDOUT = "lt_holdout"                # holdout length in weeks
    LT_MODEL = "lt_model"                    # purchase model: auto / bg-nbd / pareto-nbd / mbg-nbd
    LT_GROUP = "lt_by"                       # CLV by value decile / tier / RFM segment
    LT_RISK_TOP = "lt_risk_top"              # at-risk: top share by CLV, percent
    LT_RISK_ALIVE = "lt_risk_alive"          # at-risk: P(alive) below, percent
    LT_COHORT_METRIC = "lt_cohort"           # cohort heatmap: customers / revenue
    LT_CURVES_BY = "lt_curves"               # retention curves by quarter / channel
    LT_GAP = "lt_gap"                        # lifecycle: lapse / win-back gap in days

    # Segments (session only: segment names and customer ids are user text).
    SEG_AS_OF = "seg_as_of"
    SEG_RULES_EDITOR = "seg_rules_editor_"   # + bins + version
    SEG_RULES_VERSION = "seg_rules_version"
    SEG_RULES_PANEL = "seg_rules_panel"      # the rule editor's panel is open (ui.sections.lazy_expander)
    SEG_GRID_VALUE = "seg_grid"
    SEG_TREE_BY = "seg_tree"
    SEG_COMPARE = "seg_compare"
    SEG_DRILL = "seg_drill"
    CLU_FEATURES = "clu_features"
    CLU_K = "clu_k"
    CLU_DRILL = "clu_drill"
    SEG_DOWNLOAD = "seg_download"            # segment drill-down: CSV download button
    CLU_DOWNLOAD = "clu_download"            # cluster drill-down: CSV download button
    NEEDS_GROUP = "needs_group"
    NEEDS_SCOPE = "needs_scope"
    # Data page, "Connect a database" (session only: the URI may hold a password).
    WH_PANEL = "wh_panel"                    # the Data page's "Connect a database" panel is open
    WH_URI = "wh_uri"
    WH_KIND = "wh_kind"                      # table or query
    WH_TABLE = "wh_table"
    WH_QUERY = "wh_query"
    WH_MAP = "wh_map_"                       # + canonical field: source column name
    WH_SOURCE = "wh_source"                  # the connected WarehouseSource
    WH_PERIOD = "wh_period"
    WH_DRILL = "wh_drill"
    # Drivers (bound to the URL: choices only, no user text).
    DRV_BY = "drv_by"                        # dimension customers are grouped by
    DRV_PREDICT = "drv_predict"              # include the 12-month value model
    DRV_RANK = "drv_rank"                    # top products by revenue / customers
    DRV_DOWNLOAD = "drv_download_"           # + table name: CSV download buttons
    DRV_GROUP = "drv_group"                  # group whose customers are listed
    DRV_CUSTOMERS = "drv_customers"          # customers of that group: download (and "_rows": selection)


DEMO_DATASET_ID = "demo"
