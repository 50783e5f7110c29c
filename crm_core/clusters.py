"""Behavioural clusters: K-means on log-transformed, standardised RFM (+ behaviour).

Features come from :func:`crm_core.customers.summarize`: recency, frequency and
monetary value always; category breadth and number of channels when those
columns exist; tenure and the share of spend returned. Counts and amounts are
``log1p``-transformed (spend clipped at zero) so a few heavy buyers do not
dominate, then standardised. ``k`` is chosen by the silhouette score over
2..10, unless the user picks it.

Speed: the k = 2..10 curve is fitted on a fixed random sample of at most
``curve_sample`` customers (silhouette on ``silhouette_sample`` of them); the
chosen k is then fitted on all customers, starting from the sample's centres
(K-means up to ``large_threshold`` customers, MiniBatchKMeans beyond).

scikit-learn is imported by the functions that fit (seconds on a busy machine): the
settings, feature lists, results and their descriptions import with NumPy and Polars only,
so a page that shows RFM segments does not wait for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from crm_core.format import PLAIN, NumberStyle
from crm_core.schema import C
from crm_core.sums import exact_sum, exact_total

CLUSTER = "cluster"
CLUSTER_NAME = "cluster_name"


class ClusterError(ValueError):
    """Clustering is not possible on these customers; the message says why."""


@dataclass(frozen=True)
class Feature:
    key: str
    label: str
    expr: pl.Expr
    log: bool
    needs: str | None  # summary column that must exist (None: always available)
    missing_hint: str = ""


FEATURES: tuple[Feature, ...] = (
    Feature("recency", "Days since last purchase", pl.col("recency_days"), True, None),
    Feature("frequency", "Orders", pl.col("orders"), True, None),
    Feature("monetary", "Spend", pl.col("revenue").clip(lower_bound=0), True, None),
    Feature("category_breadth", "Categories bought", pl.col("categories"), True, "categories",
            "Add a 'category' column to your orders to use category breadth."),
    Feature("channels", "Channels used", pl.col("channels"), True, "channels",
            "Add a 'channel' column to your orders to use the number of channels."),
    Feature("tenure", "Days since first purchase", pl.col("tenure_days"), True, None),
    Feature("returns_share", "Share of spend returned",
            pl.when(pl.col("gross_revenue") > 0).then(pl.col("returns") / pl.col("gross_revenue")).otherwise(0.0),
            False, None),
)
BASE_KEYS = ("recency", "frequency", "monetary")
BEHAVIOUR_KEYS = tuple(f.key for f in FEATURES if f.key not in BASE_KEYS)
_BY_KEY = {f.key: f for f in FEATURES}


@dataclass(frozen=True)
class ClusterSettings:
    """User-adjustable clustering settings.

    Attributes
    ----------
    k
        Number of clusters; ``None`` = best silhouette over ``k_min..k_max``.
    behaviour
        Behaviour feature keys to add to R, F, M (see :data:`BEHAVIOUR_KEYS`);
        ``None`` = every available one that varies.
    random_state
        Seed for K-means, the silhouette sample and the PCA sample.
    curve_sample
        Customers the k = 2..10 curve is fitted on (all when fewer).
    silhouette_sample
        Customers used to compute each silhouette score.
    large_threshold
        Above this many customers, the final fit uses MiniBatchKMeans.
    pca_sample
        Points drawn in the 2-D view.
    """

    k: int | None = None
    k_min: int = 2
    k_max: int = 10
    behaviour: tuple[str, ...] | None = None
    random_state: int = 42
    curve_sample: int = 20_000
    silhouette_sample: int = 2000
    large_threshold: int = 100_000
    pca_sample: int = 3000


def available_behaviour(summary: pl.DataFrame) -> dict[str, str]:
    """Behaviour features this summary supports: key -> label."""
    return {key: _BY_KEY[key].label for key in BEHAVIOUR_KEYS
            if _BY_KEY[key].needs is None or _BY_KEY[key].needs in summary.columns}


def missing_behaviour(summary: pl.DataFrame) -> list[str]:
    """What to add to the data to unlock the other behaviour features."""
    return [f.missing_hint for f in FEATURES if f.needs and f.needs not in summary.columns]


def default_behaviour(summary: pl.DataFrame) -> tuple[str, ...]:
    """Available behaviour features whose values vary across customers."""
    keys = list(available_behaviour(summary))
    if not keys or summary.is_empty():
        return ()
    spread = summary.select(_BY_KEY[key].expr.n_unique().alias(key) for key in keys).row(0, named=True)
    return tuple(key for key in keys if spread[key] > 1)


@dataclass(frozen=True)
class FeatureMatrix:
    """Standardised features, one row per customer (sorted by customer id)."""

    customer_ids: pl.Series
    keys: list[str]
    raw: pl.DataFrame  # untransformed feature values, column per key
    X: np.ndarray


def build_features(summary: pl.DataFrame, behaviour: tuple[str, ...] = ()) -> FeatureMatrix:
    """Log-transform (counts, amounts) and standardise the chosen features."""
    unknown = [key for key in behaviour if key not in available_behaviour(summary)]
    if unknown:
        raise ClusterError(f"These features are not available in this data: {', '.join(unknown)}.")
    keys = list(BASE_KEYS) + [key for key in BEHAVIOUR_KEYS if key in behaviour]
    ordered = summary.sort(C.CUSTOMER_ID)
    raw = ordered.select(_BY_KEY[key].expr.cast(pl.Float64).fill_null(0.0).alias(key) for key in keys)
    transformed = raw.select(
        (pl.col(key).clip(lower_bound=0).log1p() if _BY_KEY[key].log else pl.col(key)).alias(key) for key in keys
    )
    X = transformed.to_numpy().astype(np.float64)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)  # constant features become 0
    return FeatureMatrix(ordered[C.CUSTOMER_ID], keys, raw, X)


@dataclass(frozen=True)
class ClusterResult:
    """Everything the page shows about one clustering."""

    assignments: pl.DataFrame  # customer_id, cluster (1 = most valuable), cluster_name
    curve: pl.DataFrame        # k, silhouette
    best_k: int
    k: int
    method: str                # plain sentence on how it was computed
    profile: pl.DataFrame
    pca: pl.DataFrame          # pc1, pc2, cluster, cluster_name (sample)
    pca_explained: float       # share of variance the 2-D view keeps
    feature_labels: list[str] = field(default_factory=list)
    pca_axes: tuple[str, ...] = ()  # what each map direction mostly follows, e.g. "more revenue and orders → right"


def _sample_index(n: int, size: int, seed: int) -> np.ndarray | None:
    """Sorted random row indices, or None when all ``n`` rows fit in ``size``."""
    if n <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _k_range(X: np.ndarray, settings: ClusterSettings) -> range:
    distinct = np.unique(X, axis=0).shape[0]
    k_max = min(settings.k_max, X.shape[0] - 1, distinct)
    if k_max < settings.k_min:
        raise ClusterError(
            "There are too few distinct customers to form groups "
            f"({X.shape[0]} customers, {distinct} distinct profiles): widen the period or add data."
        )
    return range(settings.k_min, k_max + 1)


@dataclass(frozen=True)
class CurveFit:
    """K-means for each k on the curve sample."""

    curve: pl.DataFrame                  # k, silhouette
    centres: dict[int, np.ndarray]       # k -> cluster centres
    labels: dict[int, np.ndarray]        # k -> labels of the sampled rows
    sample: np.ndarray | None            # row indices of the sample (None = all rows)


def silhouette_curve(X: np.ndarray, settings: ClusterSettings) -> CurveFit:
    """Fit k = k_min..k_max on the curve sample; silhouette of each on a fixed sub-sample."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    sample = _sample_index(X.shape[0], settings.curve_sample, settings.random_state)
    fitted = X if sample is None else X[sample]
    scores, centres, labels_by_k = [], {}, {}
    for k in _k_range(fitted, settings):
        model = KMeans(n_clusters=k, random_state=settings.random_state, n_init=3).fit(fitted)
        labels = model.labels_
        centres[k], labels_by_k[k] = model.cluster_centers_, labels
        score = (
            silhouette_score(fitted, labels, sample_size=min(settings.silhouette_sample, fitted.shape[0]),
                             random_state=settings.random_state)
            if 1 < np.unique(labels).size < fitted.shape[0] else float("nan")
        )
        scores.append((k, float(score)))
    curve = pl.DataFrame(scores, schema={"k": pl.Int64, "silhouette": pl.Float64}, orient="row")
    return CurveFit(curve, centres, labels_by_k, sample)


def _best_k(curve: pl.DataFrame) -> int:
    valid = curve.filter(pl.col("silhouette").is_not_nan())
    if valid.is_empty():
        return int(curve["k"][0])
    return int(valid.sort(["silhouette", "k"], descending=[True, False])["k"][0])  # ties: fewer clusters


def _rank_by_value(labels: np.ndarray, raw: pl.DataFrame) -> np.ndarray:
    """Renumber clusters 1..k by mean spend, highest first (stable, deterministic)."""
    means = pl.DataFrame({"label": labels, "m": raw["monetary"]}).group_by("label").agg(pl.col("m").mean())
    order = means.sort(["m", "label"], descending=[True, False])["label"].to_list()
    mapping = np.zeros(labels.max() + 1, dtype=np.int64)
    mapping[order] = np.arange(1, len(order) + 1)
    return mapping[labels]


_WORDS = {
    "monetary": ("Low-value", "Mid-value", "High-value"),
    "frequency": ("infrequent", "occasional", "frequent"),
    # Low recency days = recent. Average recency gets no word: "cooling" read as
    # "slipping away" and was given to every group when recency did not separate them.
    "recency": ("recent", None, "lapsed"),
}
_EXTRA_WORDS = {
    "category_breadth": (None, "broad baskets"),
    "channels": (None, "multichannel"),
    "tenure": ("new", "long-standing"),
    "returns_share": (None, "return a lot"),
}


def _band(z: float) -> int:
    return 0 if z <= -0.5 else (2 if z >= 0.5 else 1)


def cluster_names(X: np.ndarray, keys: list[str], labels: np.ndarray) -> dict[int, str]:
    """Plain-language name per cluster from its mean standardised features.

    Bands: below -0.5 standard deviations is low, above +0.5 high (average
    recency is not named). Up to two
    behaviour words are added when the cluster stands out on them. Repeated
    names get a number.
    """
    names = {}
    for cluster in np.unique(labels):
        z = X[labels == cluster].mean(axis=0)
        zs = dict(zip(keys, z))
        words = [word for key in ("monetary", "frequency", "recency") if (word := _WORDS[key][_band(zs[key])])]
        extras = sorted(((abs(zs[key]), key) for key in keys if key in _EXTRA_WORDS), reverse=True)
        for size, key in extras[:2]:
            word = _EXTRA_WORDS[key][1 if zs[key] > 0 else 0]
            if size >= 0.5 and word:
                words.append(word)
        names[int(cluster)] = ", ".join(words)
    seen: dict[str, int] = {}
    for cluster in sorted(names):
        base = names[cluster]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1 or list(names.values()).count(base) > 1:
            names[cluster] = f"{base} ({seen[base]})"
    return names


def _profile(raw: pl.DataFrame, labels: np.ndarray, names: dict[int, str], keys: list[str]) -> pl.DataFrame:
    frame = raw.with_columns(pl.Series(CLUSTER, labels))
    total_customers, total_spend = frame.height, exact_total(frame["monetary"])
    extra = [pl.col(key).mean().alias(f"mean_{key}") for key in keys if key not in BASE_KEYS]
    return (
        frame.group_by(CLUSTER)
        .agg(
            pl.len().cast(pl.Int64).alias("customers"),
            exact_sum(pl.col("monetary")).alias("spend"),
            pl.col("recency").mean().alias("mean_recency_days"),
            pl.col("frequency").mean().alias("mean_orders"),
            (exact_sum(pl.col("monetary")) / pl.col("monetary").count()).alias("mean_spend"),
            (exact_sum(pl.col("monetary")) / pl.col("frequency").sum()).alias("aov"),
            *extra,
        )
        .with_columns(
            pl.col(CLUSTER).replace_strict(names, return_dtype=pl.String).alias(CLUSTER_NAME),
            (pl.col("customers") / total_customers).alias("customer_share"),
            (pl.col("spend") / total_spend if total_spend else pl.lit(None, pl.Float64)).alias("spend_share"),
            pl.col("aov").fill_nan(None),
        )
        .sort(CLUSTER)
        .select(CLUSTER, CLUSTER_NAME, "customers", "customer_share", "spend", "spend_share",
                "mean_recency_days", "mean_orders", "mean_spend", "aov", *[e.meta.output_name() for e in extra])
    )


def axis_titles(components: np.ndarray, labels: list[str], top: int = 2) -> tuple[str, ...]:
    """Plain axis titles of the customer map: the features each direction mostly follows.

    ``components`` is PCA's (n_components, n_features) loading matrix; the sign of the
    largest loading is turned to positive so "more ... to the right / up" reads true.
    """
    titles = []
    for index, loading in enumerate(components):
        loading = loading if loading[np.argmax(np.abs(loading))] >= 0 else -loading
        order = np.argsort(-np.abs(loading))[:top]
        parts = [f"{'more' if loading[i] >= 0 else 'less'} {labels[i].lower()}" for i in order if abs(loading[i]) > 0.05]
        where = "right" if index == 0 else "up"
        titles.append(f"{' and '.join(parts) or 'mixed'} → {where}")
    return tuple(titles)


def _pca_view(X: np.ndarray, labels: np.ndarray, names: dict[int, str], settings: ClusterSettings,
              feature_labels: list[str]) -> tuple[pl.DataFrame, float, tuple[str, ...]]:
    from sklearn.decomposition import PCA

    components = min(2, X.shape[1])
    pca = PCA(n_components=components, random_state=settings.random_state).fit(X)
    rng = np.random.default_rng(settings.random_state)
    take = np.sort(rng.choice(X.shape[0], size=min(settings.pca_sample, X.shape[0]), replace=False))
    points = pca.transform(X[take])
    frame = pl.DataFrame({
        "pc1": points[:, 0],
        "pc2": points[:, 1] if components > 1 else np.zeros(len(take)),
        CLUSTER: labels[take],
    }).with_columns(pl.col(CLUSTER).replace_strict(names, return_dtype=pl.String).alias(CLUSTER_NAME))
    return frame, float(pca.explained_variance_ratio_.sum()), axis_titles(pca.components_, feature_labels)


@dataclass(frozen=True)
class ClusterFit:
    """The expensive part: features and the k curve (any k is then cheap to describe)."""

    features: FeatureMatrix
    fits: CurveFit
    best_k: int
    method: str

    @property
    def curve(self) -> pl.DataFrame:
        return self.fits.curve

    @property
    def k_values(self) -> list[int]:
        return list(self.fits.centres)


def fit_clusters(summary: pl.DataFrame, settings: ClusterSettings = ClusterSettings()) -> ClusterFit:
    """Build the features and fit the k curve (``settings.k`` is ignored here).

    Raises
    ------
    ClusterError
        Too few (distinct) customers, or an unavailable feature was asked for.
    """
    behaviour = default_behaviour(summary) if settings.behaviour is None else settings.behaviour
    features = build_features(summary, behaviour)
    fits = silhouette_curve(features.X, settings)
    return ClusterFit(features, fits, _best_k(fits.curve), _method_sentence(features.X.shape[0], settings))


def cluster_labels(fit: ClusterFit, k: int, settings: ClusterSettings = ClusterSettings()) -> np.ndarray:
    """Labels of every customer for ``k`` clusters.

    Without sampling these are the curve's own labels; otherwise k clusters are
    fitted on all customers starting from the sample's centres (K-means, or
    MiniBatchKMeans beyond ``large_threshold``).
    """
    if fit.fits.sample is None:
        return fit.fits.labels[k]
    from sklearn.cluster import KMeans, MiniBatchKMeans

    X, init = fit.features.X, fit.fits.centres[k]
    if X.shape[0] > settings.large_threshold:
        model = MiniBatchKMeans(n_clusters=k, init=init, n_init=1, batch_size=4096, random_state=settings.random_state)
    else:
        model = KMeans(n_clusters=k, init=init, n_init=1, random_state=settings.random_state)
    return model.fit_predict(X)


def describe_clusters(fit: ClusterFit, k: int | None = None, settings: ClusterSettings = ClusterSettings()) -> ClusterResult:
    """Name, profile and map the clusters of ``fit`` for ``k`` (``None`` or out of range: the best k)."""
    features = fit.features
    k = k if k in fit.fits.centres else fit.best_k
    labels = _rank_by_value(cluster_labels(fit, k, settings), features.raw)
    names = cluster_names(features.X, features.keys, labels)
    feature_labels = [_BY_KEY[key].label for key in features.keys]
    pca, explained, axes = _pca_view(features.X, labels, names, settings, feature_labels)
    assignments = pl.DataFrame({C.CUSTOMER_ID: features.customer_ids, CLUSTER: labels}).with_columns(
        pl.col(CLUSTER).replace_strict(names, return_dtype=pl.String).alias(CLUSTER_NAME)
    )
    return ClusterResult(
        assignments=assignments,
        curve=fit.curve,
        best_k=fit.best_k,
        k=k,
        method=fit.method,
        profile=_profile(features.raw, labels, names, features.keys),
        pca=pca,
        pca_explained=explained,
        feature_labels=feature_labels,
        pca_axes=axes,
    )


def cluster_customers(summary: pl.DataFrame, settings: ClusterSettings = ClusterSettings()) -> ClusterResult:
    """Cluster the customers of a summary (see module doc): :func:`fit_clusters` then :func:`describe_clusters`."""
    return describe_clusters(fit_clusters(summary, settings), settings.k, settings)


def cluster_titles(result: ClusterResult) -> dict[int, str]:
    """Cluster number -> plain-language name, most valuable cluster first."""
    return dict(result.profile.select(CLUSTER, CLUSTER_NAME).iter_rows())


def cluster_members(summary: pl.DataFrame, result: ClusterResult, cluster: int) -> pl.DataFrame:
    """Customers of one cluster with their summary figures, biggest spenders first."""
    columns = [c for c in ("recency_days", "orders", "revenue", "aov", "first_date", "last_date",
                           "categories", "channels", "tenure_days", "returns") if c in summary.columns]
    return (
        result.assignments.filter(pl.col(CLUSTER) == cluster)
        .join(summary.select(C.CUSTOMER_ID, *columns), on=C.CUSTOMER_ID, how="left")
        .sort(["revenue", C.CUSTOMER_ID], descending=[True, False])
    )


def _method_sentence(n: int, settings: ClusterSettings) -> str:
    curve_n = min(settings.curve_sample, n)
    silhouette_n = min(settings.silhouette_sample, curve_n)
    if n > settings.large_threshold:
        engine = (f"{n:,} customers is more than {settings.large_threshold:,}, so the faster MiniBatch K-means "
                  "was used (results can differ slightly from full K-means)")
    else:
        engine = f"K-means on all {n:,} customers"
    if curve_n < n:
        return (f"{engine}. To stay fast, the number of groups was chosen on a random sample of {curve_n:,} "
                f"customers (silhouette scores on {silhouette_n:,} of them).")
    return f"{engine}; silhouette scores use a sample of {silhouette_n:,} customers."


def silhouette_quality(score: float) -> str:
    if score != score:  # NaN
        return "not measurable"
    if score >= 0.5:
        return "clearly separated groups"
    if score >= 0.25:
        return "moderately separated groups"
    return "weakly separated groups (treat them as rough)"


def curve_takeaway(result: ClusterResult, *, style: NumberStyle = PLAIN) -> str:
    scores = dict(result.curve.iter_rows())
    best = scores[result.best_k]
    sentence = (f"{result.best_k} groups separate customers best (silhouette {style.number(best, 2)}: "
                f"{silhouette_quality(best)})")
    if result.k != result.best_k:
        sentence += f"; you chose {result.k} (silhouette {style.number(scores[result.k], 2)})"
    return sentence + "."


def profile_takeaway(result: ClusterResult, *, style: NumberStyle = PLAIN) -> str:
    top = result.profile.row(0, named=True)
    share = style.share(top["spend_share"], 0) if top["spend_share"] is not None else "none"
    return (
        f"The most valuable group, '{top[CLUSTER_NAME]}', is {style.share(top['customer_share'], 0)} of customers "
        f"and brings {share} of revenue (mean {style.money(top['mean_spend'])} per customer)."
    )


def pca_takeaway(result: ClusterResult, *, style: NumberStyle = PLAIN) -> str:
    return (
        f"This flat view keeps {style.share(result.pca_explained, 0)} of the differences between customers; "
        "colours that form separate clouds are distinct groups, overlapping colours are not."
    )
