"""Differentiate by need: one import point for RFM segments, clusters and needs analysis.

The work lives in three modules; this one re-exports their main entry points:

- :mod:`crm_core.rfm`: R/F/M scores, the editable eleven-segment rule table,
  profiles, the R x F grid, migration between two dates.
- :mod:`crm_core.clusters`: K-means on log-transformed, standardised RFM plus
  behaviour features, k by silhouette, plain-language names.
- :mod:`crm_core.needs`: category and channel mix per group, cross-sell pairs,
  single- vs multichannel value, channel migration.
"""
from __future__ import annotations

from crm_core.clusters import ClusterError, ClusterResult, ClusterSettings, cluster_customers, describe_clusters, fit_clusters
from crm_core.needs import channel_migration, channel_value, cross_sell_pairs, missing_column_message, mix_by_group
from crm_core.rfm import (
    DEFAULT_RULES,
    SEGMENT,
    SEGMENT_NAMES,
    RfmSettings,
    SegmentRule,
    rfm,
    score_customers,
    segment_counts,
    segment_migration,
    segment_profile,
    validate_rules,
)

__all__ = [
    "DEFAULT_RULES", "SEGMENT", "SEGMENT_NAMES", "RfmSettings", "SegmentRule", "rfm", "score_customers",
    "segment_counts", "segment_migration", "segment_profile", "validate_rules",
    "ClusterError", "ClusterResult", "ClusterSettings", "cluster_customers", "describe_clusters", "fit_clusters",
    "channel_migration", "channel_value", "cross_sell_pairs", "missing_column_message", "mix_by_group",
]
