"""Behavioural clusters: features, k choice, naming, profiles (small synthetic frames)."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from crm_core.clusters import (
    ClusterError,
    ClusterSettings,
    available_behaviour,
    build_features,
    cluster_customers,
    cluster_names,
    cluster_titles,
    curve_takeaway,
    default_behaviour,
    missing_behaviour,
    profile_takeaway,
)


def blobs(per_blob: int = 30, seed: int = 0) -> pl.DataFrame:
    """Three clearly separated groups: loyal big spenders, occasional, lapsed one-offs."""
    rng = np.random.default_rng(seed)
    groups = [  # recency days, orders, revenue
        (5, 20, 5000.0),
        (60, 4, 300.0),
        (400, 1, 20.0),
    ]
    rows = []
    for g, (recency, orders, revenue) in enumerate(groups):
        for i in range(per_blob):
            jitter = rng.uniform(0.9, 1.1)
            rows.append((f"g{g}-{i:03d}", int(recency * jitter), max(1, int(orders * jitter)), revenue * jitter))
    frame = pl.DataFrame(rows, schema=["customer_id", "recency_days", "orders", "revenue"], orient="row")
    return frame.with_columns(
        tenure_days=pl.col("recency_days") + 30, returns=pl.lit(0.0), gross_revenue=pl.col("revenue")
    )


def test_features_are_log_transformed_and_standardised():
    frame = pl.DataFrame({
        "customer_id": ["b", "a"], "recency_days": [0, 0], "orders": [1, 3], "revenue": [np.e - 1, -5.0],
        "tenure_days": [1, 1], "returns": [0.0, 5.0], "gross_revenue": [np.e - 1, 0.0],
    })
    features = build_features(frame, ("returns_share",))
    assert features.customer_ids.to_list() == ["a", "b"]  # sorted by id
    assert features.keys == ["recency", "frequency", "monetary", "returns_share"]
    assert features.raw["monetary"].to_list() == [0.0, pytest.approx(np.e - 1)]  # negative spend clipped
    assert features.raw["returns_share"].to_list() == [0.0, 0.0]  # no gross spend -> 0, not NaN
    np.testing.assert_allclose(features.X[:, 0], [0, 0])         # constant -> 0
    np.testing.assert_allclose(features.X[:, 1], [1, -1])        # two values -> +-1
    np.testing.assert_allclose(features.X[:, 2], [-1, 1])


def test_behaviour_feature_availability():
    frame = blobs(3)
    assert list(available_behaviour(frame)) == ["tenure", "returns_share"]
    assert missing_behaviour(frame) == [
        "Add a 'category' column to your orders to use category breadth.",
        "Add a 'channel' column to your orders to use the number of channels.",
    ]
    assert default_behaviour(frame) == ("tenure",)  # returns share is constant (all zero)
    rich = frame.with_columns(categories=pl.lit(2), channels=pl.int_range(pl.len()) % 2 + 1)
    assert default_behaviour(rich) == ("channels", "tenure")
    with pytest.raises(ClusterError, match="not available"):
        build_features(frame, ("channels",))


def test_three_blobs_are_found_ranked_and_named():
    result = cluster_customers(blobs(), ClusterSettings(behaviour=()))
    assert result.best_k == 3 and result.k == 3
    assert result.curve["k"].to_list() == list(range(2, 11))
    assert result.profile["customers"].to_list() == [30, 30, 30]
    assert result.profile["cluster_name"].to_list() == [
        "High-value, frequent, recent",
        "Mid-value, occasional",
        "Low-value, infrequent, lapsed",
    ]
    spend = result.profile["mean_spend"].to_list()
    assert spend == sorted(spend, reverse=True)  # cluster 1 = most valuable
    first = result.assignments.filter(pl.col("customer_id").str.starts_with("g0"))["cluster"].unique().to_list()
    assert first == [1]
    assert result.profile["spend_share"].sum() == pytest.approx(1.0)
    assert "3 groups separate customers best" in curve_takeaway(result)
    assert profile_takeaway(result).startswith("The most valuable group, 'High-value, frequent, recent', is 33% of customers")
    assert result.pca.height == 90 and 0 < result.pca_explained <= 1
    assert cluster_titles(result) == {1: "High-value, frequent, recent", 2: "Mid-value, occasional",
                                      3: "Low-value, infrequent, lapsed"}
    assert "K-means on all 90 customers" in result.method


def test_clustering_is_deterministic_and_k_can_be_overridden():
    first = cluster_customers(blobs(), ClusterSettings(behaviour=()))
    again = cluster_customers(blobs(), ClusterSettings(behaviour=()))
    assert first.assignments.equals(again.assignments) and first.curve.equals(again.curve)
    chosen = cluster_customers(blobs(), ClusterSettings(behaviour=(), k=5))
    assert chosen.k == 5 and chosen.best_k == 3 and chosen.profile.height == 5
    assert "you chose 5" in curve_takeaway(chosen)


def test_curve_on_a_sample_then_all_customers_fitted():
    settings = ClusterSettings(behaviour=(), curve_sample=60, silhouette_sample=45)
    result = cluster_customers(blobs(), settings)
    assert result.method == (
        "K-means on all 90 customers. To stay fast, the number of groups was chosen on a random sample of 60 "
        "customers (silhouette scores on 45 of them)."
    )
    assert result.best_k == 3 and result.profile["customers"].to_list() == [30, 30, 30]


def test_large_data_switches_to_minibatch_and_says_so():
    settings = ClusterSettings(behaviour=(), large_threshold=50, curve_sample=60, silhouette_sample=40)
    result = cluster_customers(blobs(), settings)
    assert result.method.startswith("90 customers is more than 50, so the faster MiniBatch K-means was used")
    assert "random sample of 60" in result.method
    assert result.profile["customers"].to_list() == [30, 30, 30]


def test_too_few_distinct_customers_is_a_clear_error():
    frame = blobs(2).with_columns(recency_days=pl.lit(1), orders=pl.lit(1), revenue=pl.lit(5.0), tenure_days=pl.lit(1))
    with pytest.raises(ClusterError, match="too few distinct customers"):
        cluster_customers(frame)


def test_cluster_names_bands_extras_and_duplicates():
    keys = ["recency", "frequency", "monetary", "channels"]
    X = np.array([
        [-1.0, 1.0, 1.0, 1.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.1, 0.1, 0.1, 0.0],
        [1.0, -1.0, -1.0, -0.2],
    ])
    names = cluster_names(X, keys, np.array([1, 2, 3, 4]))
    assert names == {
        1: "High-value, frequent, recent, multichannel",
        2: "Mid-value, occasional (1)",
        3: "Mid-value, occasional (2)",
        4: "Low-value, infrequent, lapsed",
    }
