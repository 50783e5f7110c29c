"""Segment figures: R x F heatmap, treemaps, migration Sankeys, cluster views, mix heatmaps.

Builders take the frames computed in :mod:`crm_core.rfm`, :mod:`crm_core.clusters`
and :mod:`crm_core.needs` and only draw. Segment, category and channel names are
user text: they pass through :func:`~crm_core.charts.text.safe_label` so Plotly
never reads them as markup.
"""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from crm_core.charts.text import safe_label, safe_labels, safe_wrapped
from crm_core.charts.theme import NEUTRAL, PALETTE, SEQUENTIAL, money_axis, styled
from crm_core.clusters import CLUSTER, CLUSTER_NAME, ClusterResult
from crm_core.format import PLAIN, NumberStyle
from crm_core.rfm import NEW_CUSTOMER, SEGMENT

#: Eleven distinguishable colours: Okabe-Ito (black left out) then muted extras.
SEGMENT_COLOURS = [c for c in PALETTE if c != "#000000"] + ["#999999", "#8C6D31", "#117733", "#882255"]


def segment_colour(index: int) -> str:
    return SEGMENT_COLOURS[index % len(SEGMENT_COLOURS)]


def _scale() -> list[list]:
    return [[i / (len(SEQUENTIAL) - 1), colour] for i, colour in enumerate(SEQUENTIAL)]


def rf_heatmap(grid: pl.DataFrame, bins: int, value: str = "customers", f_label: str = "F",
               style: NumberStyle = PLAIN) -> go.Figure:
    """R (rows, most recent on top) x F (columns) grid; colour = customers or mean monetary.

    Each cell shows its value and the segment its rule assigns.
    """
    column = "customers" if value == "customers" else "mean_monetary"
    f_label = safe_label(f_label)
    rs = list(range(bins, 0, -1))
    fs = list(range(1, bins + 1))
    cells = {(r, f): (number, segment) for r, f, number, segment in grid.select("r", "f", column, SEGMENT).iter_rows()}
    z, text = [], []
    for r in rs:
        z.append([cells.get((r, f), (None, ""))[0] for f in fs])
        row_text = []
        for f in fs:
            number, segment = cells.get((r, f), (None, ""))
            shown = style.count(number) if column == "customers" else style.money(number, 0)  # None -> "–"
            row_text.append(f"{shown}<br>{safe_label(segment)}")
        text.append(row_text)
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(f) for f in fs], y=[str(r) for r in rs], text=text, texttemplate="%{text}",
        textfont=dict(size=11), colorscale=_scale(), xgap=2, ygap=2,
        colorbar=dict(title="Customers" if column == "customers" else "Revenue per<br>customer"),
        hovertemplate=f"R=%{{y}}, {f_label}=%{{x}}<br>%{{text}}<extra></extra>",
    ))
    fig.update_xaxes(title_text=f"{f_label} score (5 = most orders)" if bins == 5 else f"{f_label} score", showgrid=False)
    fig.update_yaxes(title_text="R score (top = most recent)", showgrid=False)
    title = "Customers per R x F cell" if column == "customers" else "Mean revenue per customer, per R x F cell"
    return styled(fig, title, height=520)


def segment_treemap(profile: pl.DataFrame, by: str = "customers") -> go.Figure:
    """Segments sized by customers or by revenue (negative revenue counts as zero)."""
    values = profile["customers"] if by == "customers" else profile["revenue"].clip(lower_bound=0)
    colours = [segment_colour(i) for i in range(profile.height)]
    keep = [i for i, v in enumerate(values.to_list()) if v and v > 0]
    labels = safe_labels(profile[SEGMENT])
    share = profile["customer_share" if by == "customers" else "revenue_share"].fill_null(0).to_list()
    fig = go.Figure(go.Treemap(
        labels=[labels[i] for i in keep], parents=[""] * len(keep), values=[values[i] for i in keep],
        marker=dict(colors=[colours[i] for i in keep]),
        customdata=[share[i] for i in keep],
        texttemplate="%{label}<br>%{customdata:.0%}",
        hovertemplate="%{label}<br>%{value:,.0f}<br>%{customdata:.1%}<extra></extra>",
        sort=False,
    ))
    title = "Segments by number of customers" if by == "customers" else "Segments by revenue"
    return styled(fig, title, height=460)


def _sankey(flows: pl.DataFrame, source: str, target: str, title: str, order: list[str] | None = None,
            coloured: list[str] | None = None) -> go.Figure:
    """Two-column Sankey: ``source`` values on the left, ``target`` on the right.

    Nodes are listed in ``order`` (else alphabetically); the names in
    ``coloured`` (default: the order) take :func:`segment_colour` by position,
    so a segment has the same colour here as in the treemap; others are grey.
    """
    def ordered(values: list[str]) -> list[str]:
        present = list(dict.fromkeys(values))
        if order is None:
            return sorted(present)
        return [v for v in order if v in present] + sorted(v for v in present if v not in order)

    left = ordered(flows[source].to_list())
    right = ordered(flows[target].to_list())
    index_left = {name: i for i, name in enumerate(left)}
    index_right = {name: len(left) + i for i, name in enumerate(right)}
    palette_index = {name: i for i, name in enumerate(coloured or order or sorted(set(left) | set(right)))}

    def colour(name: str) -> str:
        return NEUTRAL if name not in palette_index else segment_colour(palette_index[name])

    fig = go.Figure(go.Sankey(
        arrangement="snap",
        # pad: room for a label between two small nodes (labels overlapped at 14 px)
        node=dict(label=safe_labels(left + right), color=[colour(n) for n in left + right], pad=24, thickness=16),
        link=dict(
            source=[index_left[v] for v in flows[source].to_list()],
            target=[index_right[v] for v in flows[target].to_list()],
            value=flows["customers"].to_list(),
            color="rgba(127,140,153,0.25)",
            hovertemplate="%{source.label} → %{target.label}: %{value:,} customers<extra></extra>",
        ),
    ))
    return styled(fig, title, height=620)


def migration_sankey(flows: pl.DataFrame, from_label: str, to_label: str, order: list[str]) -> go.Figure:
    """Customers from each segment on the first date to each segment on the second."""
    return _sankey(flows, "from_segment", "to_segment",
                   f"Segment moves: {from_label} (left) → {to_label} (right)", [NEW_CUSTOMER, *order], list(order))


def silhouette_figure(result: ClusterResult) -> go.Figure:
    """Silhouette score per number of clusters; the best and the chosen k marked."""
    curve = result.curve
    fig = go.Figure(go.Scatter(
        x=curve["k"].to_list(), y=curve["silhouette"].to_list(), mode="lines+markers",
        line=dict(color=PALETTE[0], width=3), marker=dict(size=9), name="Silhouette",
        hovertemplate="%{x} groups: %{y:.3f}<extra></extra>",
    ))
    scores = dict(curve.iter_rows())
    fig.add_trace(go.Scatter(x=[result.best_k], y=[scores[result.best_k]], mode="markers+text",
                             marker=dict(size=16, color=PALETTE[1], symbol="star"), text=["best"],
                             textposition="top center", name="Best", hoverinfo="skip"))
    if result.k != result.best_k:
        fig.add_trace(go.Scatter(x=[result.k], y=[scores[result.k]], mode="markers+text",
                                 marker=dict(size=14, color=PALETTE[3]), text=["chosen"],
                                 textposition="bottom center", name="Chosen", hoverinfo="skip"))
    fig.update_xaxes(title_text="Number of groups (k)", dtick=1)
    fig.update_yaxes(title_text="Silhouette (higher = better separated)")
    return styled(fig, "How well customers separate into k groups", height=380)


#: Characters per line of the customer map's axis titles: the y title runs along the plot's ~400 px height (15 px font).
PCA_TITLE_CHARS = {"x": 90, "y": 50}


def pca_figure(result: ClusterResult, style: NumberStyle = PLAIN) -> go.Figure:
    """2-D view of a sample of customers, coloured by cluster."""
    fig = go.Figure()
    for cluster, name in result.profile.select(CLUSTER, CLUSTER_NAME).iter_rows():
        points = result.pca.filter(pl.col(CLUSTER) == cluster)
        fig.add_trace(go.Scattergl(
            x=points["pc1"].to_list(), y=points["pc2"].to_list(), mode="markers",
            marker=dict(size=5, color=segment_colour(cluster - 1), opacity=0.6),
            name=safe_label(f"{cluster}. {name}"), hoverinfo="name",
        ))
    axes = (*result.pca_axes, "", "")
    # The titles name up to two features each ("more days since last purchase and more days since first purchase"):
    # one line ran past the map's height (cut at both ends, over the chart's title); broken to fit it.
    fig.update_xaxes(title_text=safe_wrapped(f"Main difference: {axes[0]}" if axes[0] else "Main difference between customers",
                                             PCA_TITLE_CHARS["x"]), showticklabels=False, zeroline=False)
    fig.update_yaxes(title_text=safe_wrapped(f"Second difference: {axes[1]}" if axes[1] else "Second difference",
                                             PCA_TITLE_CHARS["y"]), showticklabels=False, zeroline=False)
    return styled(fig, f"Customer map (sample of {style.count(result.pca.height)})", height=520)


def mix_heatmap(mix: pl.DataFrame, column: str, group_column: str, order: list[str] | None = None,
                title: str = "", style: NumberStyle = PLAIN) -> go.Figure:
    """Rows = groups, columns = ``column`` values, colour = share of the group's revenue."""
    groups = [g for g in (order or sorted(mix[group_column].unique().to_list())) if g in set(mix[group_column].to_list())]
    values = sorted(mix[column].unique().to_list())
    cells = {(g, v): s for g, v, s in mix.select(group_column, column, "share").iter_rows()}
    z = [[cells.get((g, v)) for v in values] for g in groups]
    text = [[style.share(s, 0) if s is not None else "" for s in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=safe_labels(values), y=safe_labels(groups), text=text, texttemplate="%{text}", colorscale=_scale(),
        xgap=2, ygap=2, colorbar=dict(title="Share", tickformat=".0%"),
        hovertemplate="%{y} · %{x}: %{z:.1%} of revenue<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False)
    return styled(fig, title or f"Share of revenue by {column}", height=max(360, 40 * len(groups) + 140))


def cross_sell_figure(pairs: pl.DataFrame, top: int = 10, style: NumberStyle = PLAIN) -> go.Figure:
    """Lift of the top category pairs; bars grow from the chance line (lift 1).

    Lifts cluster near 1 (1.1, 1.2, 1.5); bars from 0 made them look alike.
    Pairs bought together less often than chance point left.
    """
    shown = pairs.head(top).reverse()
    labels = [f"{a} + {b}" for a, b in shown.select("category_a", "category_b").iter_rows()]
    lifts = shown["lift"].to_list()
    fig = go.Figure(go.Bar(
        x=[lift - 1 for lift in lifts], base=1, y=safe_labels(labels), orientation="h",
        marker_color=[PALETTE[2] if lift >= 1 else NEUTRAL for lift in lifts],
        text=[f"{style.number(lift, 2)}×" for lift in lifts], textposition="outside", cliponaxis=False,
        customdata=list(zip(lifts, shown["support"].to_list())),
        hovertemplate="%{y}<br>lift %{customdata[0]:.2f}<br>%{customdata[1]:.1%} of customers buy both<extra></extra>",
    ))
    fig.add_vline(x=1, line=dict(color=NEUTRAL, dash="dot", width=2))
    low, high = min([1.0, *lifts]), max([1.0, *lifts])
    margin = max(0.05, 0.15 * (high - low))
    fig.update_xaxes(title_text="Lift: how many times more often than chance (1 = chance)",
                     range=[max(0.0, low - margin), high + margin])
    return styled(fig, "Categories bought by the same customers", height=max(320, 36 * shown.height + 140))


def channel_value_figure(value: pl.DataFrame, style: NumberStyle = PLAIN) -> go.Figure:
    """Mean revenue per customer by number of channels used."""
    fig = go.Figure(go.Bar(
        x=safe_labels(value["channel_use"]), y=value["mean_revenue"].to_list(), marker_color=PALETTE[0],
        text=[f"{style.count(c)} customers" for c in value["customers"].to_list()], textposition="outside",
        hovertemplate="%{x}: %{y:,.2f} per customer<extra></extra>",
    ))
    money_axis(fig, "y", title_text="Revenue per customer (mean)", rangemode="tozero")
    return styled(fig, "Single- vs multichannel customers", height=400)


def channel_sankey(flows: pl.DataFrame) -> go.Figure:
    """First channel (left) → latest channel (right) of repeat customers."""
    return _sankey(flows, "first_channel", "latest_channel", "Channel moves: first purchase → latest purchase")
