"""Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987), time in weeks.

While active a customer buys at rate lambda ~ Gamma(r, alpha) and stays active for
an exponential time with rate mu ~ Gamma(s, beta). Per customer (Fader & Hardie 2005,
"A note on deriving the Pareto/NBD model and related expressions", eq. 18 written as
an integral over the moment of dropping out):

    L = G(r+x) alpha^r beta^s / G(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s * I ],
    I = integral over tau in (t_x, T) of (alpha+tau)^-(r+x) (beta+tau)^-(s+1).

The usual closed form writes I as a difference of two Gauss hypergeometric
functions, which cancels catastrophically when t_x is close to T (lifetimes'
likelihood turns NaN at its optimum on a full CDNOW cohort) and has no closed-form
derivatives in r and s. Here I is computed directly by Gauss-Legendre quadrature
on fixed nodes in tau, in log space relative to the integrand at t_x: the
likelihood, its gradient and its exact Hessian are then sums of elementary
functions at the nodes, finite for every history. The nodes are placed in
y = ln(m + tau) with m = min(alpha, beta) at reference parameters, in panels
short enough that the integrand changes by at most e^12 over each, and cut where
it has fallen by e^-40; after a fit they are rebuilt at the estimate and the fit
repeated from there (one or two Newton steps).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crm_core.clv.fitting import (
    ArrayLike,
    Compressed,
    LOG_BOUND,
    Fit,
    Likelihood,
    maximise,
    softplus_and_sigmoid,
    value_codes,
)
from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.purchase_model import PurchaseModel, Theta, log_nbd_pmf_steps, run_sums
from crm_core.clv.special import digamma, gammaln, trigamma

NODES_PER_PANEL = 8
COARSE_NODES = 4  # the first fit, from the start values, only has to get near the optimum (~1e-4)
COARSE_GTOL = 1e-5  # gradient per customer where that first fit stops: its terms are no more accurate
MAX_LOG_CHANGE_PER_PANEL = 12.0  # Gauss-Legendre with 8 nodes integrates exp over such a panel to ~1e-10
CUT_LOG_DROP = 40.0  # beyond this drop (e^-40 = 4e-18) the integrand no longer adds to the sum
MAX_PANELS = 64
#: numpy.polynomial.legendre.leggauss(n) for the rules used, written out to the last bit (a test checks
#: them against numpy): importing numpy.polynomial costs the CLI a fiftieth of a second.
_GAUSS_LEGENDRE = {
    3: ([-0.7745966692414834, 0.0, 0.7745966692414834], [0.5555555555555557, 0.8888888888888888, 0.5555555555555557]),
    4: ([-0.8611363115940526, -0.33998104358485626, 0.33998104358485626, 0.8611363115940526],
        [0.34785484513745357, 0.6521451548625464, 0.6521451548625464, 0.34785484513745357]),
    6: ([-0.9324695142031519, -0.6612093864662645, -0.2386191860831969, 0.2386191860831969, 0.6612093864662645,
         0.9324695142031519],
        [0.17132449237917027, 0.3607615730481387, 0.46791393457269104, 0.46791393457269104, 0.3607615730481387,
         0.17132449237917027]),
    8: ([-0.9602898564975362, -0.7966664774136267, -0.525532409916329, -0.18343464249564978, 0.18343464249564978,
         0.525532409916329, 0.7966664774136267, 0.9602898564975362],
        [0.10122853629037706, 0.22238103445337443, 0.3137066458778869, 0.36268378337836166, 0.36268378337836166,
         0.3137066458778869, 0.22238103445337443, 0.10122853629037706]),
}


def gauss_legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``nodes``-point Gauss-Legendre rule on [-1, 1] (numpy's ``leggauss``)."""
    if nodes in _GAUSS_LEGENDRE:
        return tuple(np.array(values) for values in _GAUSS_LEGENDRE[nodes])  # type: ignore[return-value]
    from numpy.polynomial.legendre import leggauss

    return leggauss(nodes)


_GL_U, _GL_W = gauss_legendre(NODES_PER_PANEL)


@dataclass(frozen=True)
class _Nodes:
    """Quadrature nodes of I for each row: flattened, with the row each node belongs to."""

    row: np.ndarray  # row index per node
    tau: np.ndarray  # time of dropping out (weeks since first purchase)
    weight: np.ndarray  # quadrature weight (Jacobian included)
    has_integral: np.ndarray  # per row: t_x < T (otherwise I = 0)


def _panels(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, theta: Theta,
            per_panel: int = NODES_PER_PANEL) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where :func:`_nodes` puts each row's panels: (m, y0, panels, panel length, nodes per panel, has_integral),
    per row. All panels of a row have the same length, hence the same number of nodes."""
    r, alpha, s, beta = (float(v) for v in theta)
    m = min(alpha, beta)
    y0, y1 = np.log(m + t_x), np.log(m + age)
    span = y1 - y0
    has_integral = span > 1e-12
    # The log integrand (with the Jacobian m + tau) changes in y at rate -(r+x) rho_a - (s+1) rho_b + 1,
    # rho = (m + tau) / (alpha|beta + tau) in (0, 1], increasing in tau.
    rho_a, rho_b = (m + t_x) / (alpha + t_x), (m + t_x) / (beta + t_x)
    slowest = (r + x) * rho_a + (s + 1.0) * rho_b - 1.0
    fastest = r + x + s + 1.0
    cut = np.where(slowest > 0, CUT_LOG_DROP / np.maximum(slowest, 1e-300), np.inf)
    length = np.where(has_integral, np.minimum(span, cut), 0.0)
    panels = np.clip(np.ceil(fastest * length / MAX_LOG_CHANGE_PER_PANEL), 1, MAX_PANELS).astype(np.int64)
    panels = np.where(has_integral, panels, 0)
    panel_length = length / np.maximum(panels, 1)
    change = fastest * panel_length
    count = np.minimum(np.select([change <= 0.5, change <= 2.0, change <= 5.0], [3, 4, 6], per_panel), per_panel)
    return m, y0, panels, panel_length, count, has_integral


def node_counts(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, theta: Theta,
                per_panel: int = NODES_PER_PANEL) -> np.ndarray:
    """Quadrature nodes :func:`_nodes` gives each row (what sizes the chunks of rows)."""
    with np.errstate(invalid="ignore"):  # a degenerate theta (NaN) gives no nodes, as in _nodes
        _, _, panels, _, count, _ = _panels(x, t_x, age, theta, per_panel)
    return panels * count


def _nodes(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, theta: Theta, per_panel: int = NODES_PER_PANEL) -> _Nodes:
    """Gauss-Legendre panels over y = ln(m + tau), tau in (t_x, T), placed for parameters ``theta``.

    A panel over which the integrand changes little needs fewer nodes: 3 up to a change of e^0.5,
    4 up to e^2, 6 up to e^5 (each ~1e-10 relative error), ``per_panel`` beyond.
    """
    m, y0, panels, row_panel_length, row_count, has_integral = _panels(x, t_x, age, theta, per_panel)
    panel_row = np.repeat(np.arange(len(x)), panels)
    panel_index = np.arange(len(panel_row)) - np.repeat(np.cumsum(panels) - panels, panels)
    panel_length = row_panel_length[panel_row]
    start = y0[panel_row] + panel_index * panel_length
    count = row_count[panel_row]
    rows, taus, weights = [], [], []
    for nodes in np.unique(count):
        chosen = count == nodes
        gl_u, gl_w = gauss_legendre(int(nodes))
        half = panel_length[chosen] / 2.0
        y = start[chosen][:, None] + (gl_u[None, :] + 1.0) * half[:, None]
        owner = panel_row[chosen]
        tau = np.maximum(np.exp(y) - m, t_x[owner][:, None])  # rounding must not put a node before t_x
        rows.append(np.repeat(owner, int(nodes)))
        taus.append(tau.ravel())
        weights.append(((gl_w[None, :] * half[:, None]) * (m + tau)).ravel())
    if not rows:
        empty = np.zeros(0)
        return _Nodes(empty.astype(np.int64), empty, empty, has_integral)
    return _Nodes(np.concatenate(rows), np.concatenate(taus), np.concatenate(weights), has_integral)


class _RowTerms:
    """Per-row pieces of the likelihood at one parameter point (shared by fit and prediction)."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, nodes: _Nodes, theta: Theta,
                 derivatives: bool = False) -> None:
        r, alpha, s, beta = theta
        n_rows = len(x)
        self.first = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)  # A: alive at T
        offset = -(r + x) * np.log(alpha + t_x) - (s + 1.0) * np.log(beta + t_x)  # log integrand at t_x
        row = nodes.row
        alpha_tau, beta_tau = alpha + nodes.tau, beta + nodes.tau
        log_a, log_b = np.log(alpha_tau), np.log(beta_tau)
        rx_node = r + x[row]
        scaled = nodes.weight * np.exp(-rx_node * log_a - (s + 1.0) * log_b - offset[row])
        integral = np.bincount(row, scaled, minlength=n_rows).astype(float)  # float even without nodes
        with np.errstate(divide="ignore"):
            log_integral = np.where(nodes.has_integral, np.log(integral), -np.inf)
        self.second = np.log(s) + offset + log_integral  # B: left between t_x and T
        if not derivatives:
            return
        safe = np.where(integral > 0, integral, 1.0)
        self.node_share = scaled / safe[row]  # normalised weights u_k within each row
        inv_a, inv_b = np.reciprocal(alpha_tau), np.reciprocal(beta_tau)
        # g' at the nodes, one contiguous row per parameter (column slices of a (nodes, 4) array
        # are strided, several times slower): d/d(r, alpha, s, beta) of the log integrand.
        grad = np.empty((4, len(row)))
        np.negative(log_a, out=grad[0])
        np.multiply(rx_node, inv_a, out=grad[1])
        np.negative(grad[1], out=grad[1])
        np.negative(log_b, out=grad[2])
        np.multiply(-(s + 1.0), inv_b, out=grad[3])
        self.node_grad = grad
        # g'' is -1/(alpha+tau) (r-alpha), -1/(beta+tau) (s-beta) and g'_alpha / -(alpha+tau) (alpha-alpha),
        # g'_beta / -(beta+tau) (beta-beta): the likelihood's Hessian needs only these reciprocals.
        self.inv_a, self.inv_b = inv_a, inv_b
        self.mean_grad = np.stack([np.bincount(row, self.node_share * grad[j], minlength=n_rows)
                                   for j in range(4)], axis=1).astype(float)


class ParetoNBDLikelihood(Likelihood):
    """Negative log-likelihood of Pareto/NBD on weighted rows, gradient and exact Hessian in log-parameters.

    Per row ``LL = A1 + A + softplus(B - A)`` with A1 = lnG(r+x) - lnG(r) + r ln alpha + s ln beta,
    A = -(r+x) ln(alpha+T) - s ln(beta+T) and B = ln s + ln I. With pi = sigmoid(B - A) and E, Cov
    taken over the quadrature nodes weighted by their share of I:
    grad = A1' + (1-pi) A' + pi B', B' = E[g'] (+ 1/s), and
    Hess = A1'' + (1-pi) A'' + pi (E[g''] + Cov[g'] - 1/s^2) + pi (1-pi) (B'-A')(B'-A')^T.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, w: np.ndarray, reference: Theta,
                 per_panel: int = NODES_PER_PANEL) -> None:
        self.x, self.t_x, self.age, self.w = x, t_x, age, w
        # Gamma-function terms depend on x alone: evaluated once per distinct x, weighted by its rows.
        self.distinct_x, x_code = value_codes(x)
        self.weight_by_x = np.bincount(x_code, weights=w, minlength=len(self.distinct_x))
        # The node arrays hold 4-500 nodes per row and a dozen values per node: a million distinct
        # histories (30M orders) would need gigabytes at once, so rows are taken in chunks of at most
        # CHUNK_ROWS rows and CHUNK_NODES nodes (one chunk for a small fit: the same arithmetic in the
        # same order as without chunks). The nodes of the first STORED_NODES are kept between
        # evaluations; the rest are placed again at each one (the same nodes, in less memory).
        self.reference, self.per_panel = reference, per_panel
        self.chunks: list[tuple[slice, _Nodes | None]] = []
        stored = 0
        for rows in row_chunks(node_counts(x, t_x, age, reference, per_panel)):
            nodes = _nodes(x[rows], t_x[rows], age[rows], reference, per_panel) if stored < STORED_NODES else None
            stored += 0 if nodes is None else len(nodes.row)
            self.chunks.append((rows, nodes))

    def _evaluate(self, log_params: np.ndarray, hessian: bool):
        r, alpha, s, beta = theta = np.exp(log_params)
        n = float(self.w.sum())
        dx, wx_ = self.distinct_x, self.weight_by_x
        ll = wx_ @ gammaln(r + dx) + n * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))
        h = None
        if hessian:
            h = np.zeros((4, 4))
            h[0, 0] = wx_ @ trigamma(r + dx) - n * trigamma(r)
            h[0, 1] = h[1, 0] = n / alpha
            h[1, 1] = -n * r / alpha**2
            h[2, 3] = h[3, 2] = n / beta
            h[3, 3] = -n * s / beta**2
        g = np.zeros(4)
        for rows, nodes in self.chunks:
            if nodes is None:
                nodes = _nodes(self.x[rows], self.t_x[rows], self.age[rows], self.reference, self.per_panel)
            chunk_ll, chunk_g = self._add_rows(rows, nodes, tuple(theta), h)
            ll += chunk_ll
            g += chunk_g
        g += np.array([wx_ @ digamma(r + dx) - n * digamma(r) + n * np.log(alpha), n * r / alpha, n * np.log(beta), n * s / beta])
        if h is not None:
            h[1, 0], h[3, 2] = h[0, 1], h[2, 3]
            h = np.triu(h)
        return (-float(ll), *self._to_log_parameters(theta, g, h))

    def _add_rows(self, rows: slice, nodes: _Nodes, theta: Theta, h: np.ndarray | None) -> tuple[float, np.ndarray]:
        """The rows' log-likelihood and gradient; their Hessian terms are added to ``h`` (when given)."""
        r, alpha, s, beta = theta
        x, age, w = self.x[rows], self.age[rows], self.w[rows]
        terms = _RowTerms(x, self.t_x[rows], age, nodes, theta, derivatives=True)
        softplus, pi = softplus_and_sigmoid(terms.second - terms.first)
        ll = float(w @ (terms.first + softplus))
        inv_aT, inv_bT = 1.0 / (alpha + age), 1.0 / (beta + age)
        d_first = np.column_stack([-np.log(alpha + age), -(r + x) * inv_aT, -np.log(beta + age), -s * inv_bT])
        d_second = terms.mean_grad.astype(np.float64)  # a copy; bincount of no nodes gives integers
        d_second[:, 2] += 1.0 / s
        d_mix = (1.0 - pi)[:, None] * d_first + pi[:, None] * d_second
        g = w @ d_mix
        if h is None:
            return ll, g
        alive = w * (1.0 - pi)  # A'': r-alpha, alpha-alpha, s-beta, beta-beta
        h[0, 1] -= alive @ inv_aT
        h[1, 1] += alive @ ((r + x) * inv_aT**2)
        h[2, 3] -= alive @ inv_bT
        h[3, 3] += alive @ (s * inv_bT**2)
        left = w * pi
        node_weight = left[nodes.row] * terms.node_share
        grad_nodes = terms.node_grad
        weighted = grad_nodes * node_weight
        h[0, 1] -= node_weight @ terms.inv_a  # E[g''] (see _RowTerms)
        h[1, 1] -= weighted[1] @ terms.inv_a
        h[2, 3] -= node_weight @ terms.inv_b
        h[3, 3] -= weighted[3] @ terms.inv_b
        h[2, 2] -= left.sum() / s**2
        h += weighted @ grad_nodes.T  # E[g' g'^T]
        h -= (terms.mean_grad * left[:, None]).T @ terms.mean_grad  # - E[g'] E[g']^T
        gap = d_second - d_first
        h += (gap * (w * pi * (1.0 - pi))[:, None]).T @ gap
        return ll, g


#: Rows of (x, t_x, T) and quadrature nodes taken at once: the derivatives need about 20 values per node
#: (about 160 MB for a chunk at the node limit).
CHUNK_ROWS = 50_000
CHUNK_NODES = 1_000_000
#: Nodes a likelihood keeps between evaluations (24 bytes each); beyond, they are placed again each time.
STORED_NODES = 4_000_000


def row_chunks(nodes_per_row: np.ndarray) -> list[slice]:
    """Consecutive slices of at most CHUNK_ROWS rows and, unless one row has more, CHUNK_NODES nodes
    (one slice, possibly empty, for a small fit)."""
    rows = len(nodes_per_row)
    if rows <= CHUNK_ROWS and int(nodes_per_row.sum()) <= CHUNK_NODES:
        return [slice(0, max(rows, 1))]
    chunks, start, cumulative = [], 0, np.cumsum(nodes_per_row)
    while start < rows:
        before = int(cumulative[start - 1]) if start else 0
        end = int(np.searchsorted(cumulative, before + CHUNK_NODES, side="right"))  # rows that fit the nodes
        end = min(max(end, start + 1), start + CHUNK_ROWS, rows)
        chunks.append(slice(start, end))
        start = end
    return chunks


def _pareto_starts(x: np.ndarray, age: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """A moment-based start (purchase rate of the repeaters, lifetimes of about the history), then others."""
    rate = max(float(w @ x) / max(float(w @ age), 1e-9), 1e-6)
    repeat_share = max(float(w @ (x > 0)) / float(w.sum()), 0.05)
    r0 = 0.5
    alpha0 = r0 * repeat_share / rate
    beta0 = max(float(w @ age) / float(w.sum()), 1.0)
    return [np.log([r0, alpha0, 0.5, beta0]), np.zeros(4), np.log([1.0, 10.0, 1.0, 10.0])]


def start_from_bgnbd(params: dict[str, float]) -> dict[str, float] | None:
    """Pareto/NBD start values from a BG/NBD fit on the same customers (None when they make no sense).

    The purchase rates are the same Gamma(r, alpha). A BG/NBD customer leaves after each purchase with
    probability p ~ Beta(a, b), so drops out at about the rate mu = lambda p; Pareto/NBD's
    mu ~ Gamma(s, beta) is matched on that rate's mean and squared coefficient of variation
    (1 + 1/r)(1 + CV(p)^2) - 1, CV(p)^2 = b / (a (a + b + 1)). On data where hardly anyone leaves
    the likelihood has a long flat ridge in (s, beta), and starting here keeps Newton off it.
    """
    r, alpha, a, b = (np.float64(params[name]) for name in ("r", "alpha", "a", "b"))
    with np.errstate(all="ignore"):
        mean_rate = r / alpha * a / (a + b)
        shape = 1.0 / ((1.0 + 1.0 / r) * (1.0 + b / (a * (a + b + 1.0))) - 1.0)
        values = {"r": r, "alpha": alpha, "s": shape, "beta": shape / mean_rate}
    ok = all(np.isfinite(v) and 0.0 < v and abs(np.log(v)) < LOG_BOUND for v in values.values())
    return {k: float(v) for k, v in values.items()} if ok else None


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD: parameters r, alpha (purchase rates), s, beta (drop-out rates), time in weeks."""

    PARAMS = ("r", "alpha", "s", "beta")
    NAME = "pareto-nbd"
    LABEL = "Pareto/NBD"
    MAX_REFITS = 3
    SETTLED = 0.05  # log-parameter move below which nodes placed at the reference are as good as any

    def _own_starts(self, x: np.ndarray, age: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
        return _pareto_starts(x, age, counts)

    def _maximise(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, counts: np.ndarray,
                  coded: Compressed | None) -> Fit:
        starts = self._starts(x, age, counts)
        if self._start is None:  # BG/NBD fits in a few cheap steps and tells where to start
            bgnbd = BetaGeoModel()._fit_rows(x, t_x, age, counts, coded, None)
            mapped = start_from_bgnbd(bgnbd.params_) if bgnbd.converged_ else None
            starts = starts if mapped is None else [np.log([mapped[name] for name in self.PARAMS]), *starts]
        scale = counts.sum()
        # Near the optimum first on a coarse rule (its terms are good to ~1e-4, and so is its optimum),
        # then Newton on the accurate nodes from there: two or three more steps.
        coarse = maximise(ParetoNBDLikelihood(x, t_x, age, counts, tuple(np.exp(starts[0])), COARSE_NODES),
                          starts, scale, gtol=COARSE_GTOL)
        if not np.all(np.isfinite(coarse.params)):
            reference = tuple(np.exp(starts[0]))
        elif coarse.converged:
            reference, starts = tuple(coarse.params), [np.log(coarse.params), *starts]
        else:  # no interior optimum (e.g. nobody drops out: s -> 0): only settle where the coarse fit ended
            reference, starts = tuple(coarse.params), [np.log(coarse.params)]
        fit = coarse
        for _ in range(self.MAX_REFITS):
            fit = maximise(ParetoNBDLikelihood(x, t_x, age, counts, reference), starts, scale)
            moved = np.max(np.abs(np.log(fit.params) - np.log(reference)))
            if not moved >= self.SETTLED:  # nodes placed this close to the estimate integrate as well as any
                break
            reference, starts = tuple(fit.params), [np.log(fit.params), *starts]
        return fit

    def log_dropout_odds(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray,
                         theta: Theta | None = None) -> np.ndarray:
        """B - A: log of P(left between t_x and T) over P(active at T)."""
        theta = self.theta() if theta is None else theta
        x, t_x, age = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, age))
        x, t_x, age = np.broadcast_arrays(x, t_x, age)
        odds = []
        for rows in row_chunks(node_counts(x, t_x, age, theta)):  # each row's odds on its own nodes: any chunks
            terms = _RowTerms(x[rows], t_x[rows], age[rows], _nodes(x[rows], t_x[rows], age[rows], theta), theta)
            odds.append(terms.second - terms.first)
        return np.concatenate(odds)

    def log_dropout_odds_and_gradient(self, x: np.ndarray, t_x: np.ndarray,
                                      age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """B - A and its exact gradient in log-parameters, from the likelihood's own terms (one pass)."""
        theta = self.theta()
        x, t_x, age = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, t_x, age)))
        parts = [_odds_and_gradient(x[rows], t_x[rows], age[rows], theta)
                 for rows in row_chunks(node_counts(x, t_x, age, theta))]  # each row on its own nodes: any chunks
        return np.concatenate([odds for odds, _ in parts]), np.concatenate([gradient for _, gradient in parts], axis=1)

    def purchases_if_alive(self, t: float | np.ndarray, x: np.ndarray, age: np.ndarray,
                           theta: Theta | None = None) -> np.ndarray:
        """(r+x)/(alpha+T) * E[time active in (T, T+t]] = (r+x)(beta+T)/((alpha+T)(s-1)) (1 - ((beta+T)/(beta+T+t))^(s-1))."""
        r, alpha, s, beta = self.theta() if theta is None else theta
        t = np.asarray(t, dtype=float)
        return (r + x) / (alpha + age) * _expected_active_time(t, s, beta + age)

    def purchase_survival_if_alive(self, k: np.ndarray, t: float, x: np.ndarray, age: np.ndarray,
                                   theta: Theta | None = None) -> np.ndarray:
        """P(N >= k) with N ~ Poisson(lambda min(L, t)), lambda ~ Gamma(r+x, alpha+T) and the remaining
        lifetime L with P(L > u) = ((beta+T)/(beta+T+u))^s: Gauss-Legendre over the moment L < t."""
        from crm_core.clv.special import betainc

        r, alpha, s, beta = self.theta() if theta is None else theta
        k, x, age = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, x, age)))
        u = (_GL_U + 1.0) * t / 2.0  # moments of dropping out within the horizon
        weight = _GL_W * t / 2.0
        scale = beta + age
        density = (s / scale)[..., None] * (scale[..., None] / (scale[..., None] + u)) ** (s + 1.0)
        stays = (scale / (scale + t)) ** s
        within = betainc(k[..., None], (r + x)[..., None], u / (alpha + age[..., None] + u))
        return stays * betainc(k, r + x, t / (alpha + age + t)) + (within * density) @ weight

    def purchase_survival_grid(self, k: np.ndarray, starts: np.ndarray, t: float, x: np.ndarray, age: np.ndarray,
                               theta: Theta) -> np.ndarray:
        """The same on runs k = 1, 2, ...: for each moment of leaving, P(N >= k) as 1 minus the running
        sum of the NBD's probabilities (their coefficients summed in logs along the run once, then one
        exponential per moment)."""
        r, alpha, s, beta = theta
        u = (_GL_U + 1.0) * t / 2.0
        scale = beta + age
        moments = [(t, (scale / (scale + t)) ** s)]  # stays active through the horizon
        moments += [(u_j, w_j * t / 2.0 * s / scale * (scale / (scale + u_j)) ** (s + 1.0)) for u_j, w_j in zip(u, _GL_W)]
        shape, n = r + x, k - 1.0  # P(N = k - 1)
        log_coefficients = run_sums(log_nbd_pmf_steps(shape, n), starts)
        log_rate_scale = np.log(alpha + age)
        survival = np.zeros(len(k))
        for horizon, weight in moments:
            log_total = np.log(alpha + age + horizon)
            log_pmf = log_coefficients + shape * (log_rate_scale - log_total) + n * (np.log(horizon) - log_total)
            below = run_sums(np.exp(log_pmf), starts)
            survival += weight * np.clip(1.0 - below, 0.0, 1.0)
        return survival

    def expected_number_of_purchases_up_to_time(self, t: float | ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (0, t] for a new customer: r/alpha * E[time active in (0, t]]."""
        r, alpha, s, beta = self.theta()
        return r / alpha * _expected_active_time(np.asarray(t, dtype=float), s, beta)


def _odds_and_gradient(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, theta: Theta) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`ParetoNBDModel.log_dropout_odds_and_gradient` on some rows."""
    r, alpha, s, beta = theta
    terms = _RowTerms(x, t_x, age, _nodes(x, t_x, age, theta), theta, derivatives=True)
    d_first = np.stack([-np.log(alpha + age), -(r + x) / (alpha + age), -np.log(beta + age), -s / (beta + age)])
    d_second = terms.mean_grad.T.astype(float)
    d_second[2] += 1.0 / s
    odds = terms.second - terms.first
    gradient = (d_second - d_first) * np.array(theta, dtype=float)[:, None]
    return odds, np.where(np.isfinite(odds), gradient, 0.0)


def _expected_active_time(t: np.ndarray, s, scale) -> np.ndarray:
    """E[min(L, t)] for P(L > u) = (scale/(scale+u))^s: scale (1 - (scale/(scale+t))^(s-1)) / (s-1)
    (scale ln(1 + t/scale) at s = 1), written with expm1/log1p so it is exact near s = 1."""
    log_ratio = np.log1p(t / scale)
    s_1 = s - 1.0
    near_one = np.abs(s_1) < 1e-8
    safe = np.where(near_one, 1.0, s_1)
    return scale * np.where(near_one, log_ratio, -np.expm1(-s_1 * log_ratio) / safe)
