"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005), time in weeks."""
from __future__ import annotations

import numpy as np

from crm_core.clv.fitting import (
    ArrayLike,
    Compressed,
    Likelihood,
    hyp2f1_threaded,
    softplus_and_sigmoid,
    value_codes,
)
from crm_core.clv.purchase_model import PurchaseModel, Theta, log_nbd_pmf_steps, run_sums
from crm_core.clv.special import betainc, digamma, gammaln, hyp2f1, trigamma


class BetaGeoModel(PurchaseModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005), time in weeks.

    While active a customer buys at rate lambda ~ Gamma(r, alpha); after each
    repeat purchase they leave for good with probability p ~ Beta(a, b).

    Examples
    --------
    >>> model = BetaGeoModel().fit(frequency, recency, T)   # doctest: +SKIP
    >>> model.params_                                       # doctest: +SKIP
    {'r': 0.2426, 'alpha': 4.4136, 'a': 0.7929, 'b': 2.4259}
    """

    PARAMS = ("r", "alpha", "a", "b")
    NAME = "bg-nbd"
    LABEL = "BG/NBD"
    SHIFT = 0  # MBG/NBD: 1 (may also leave right after the first purchase)

    def _likelihood(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, counts: np.ndarray,
                    coded: Compressed | None) -> BGNBDLikelihood:
        return BGNBDLikelihood(x, t_x, age, counts, coded=coded, shift=self.SHIFT)

    def _own_starts(self, x: np.ndarray, age: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
        return bgnbd_starts(x, age, counts)

    def log_dropout_odds(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray,
                         theta: Theta | None = None) -> np.ndarray:
        """ln(a / (b + x - 1)) + (r + x) ln((alpha + T) / (alpha + t_x)); -inf (always active) at x = 0."""
        r, alpha, a, b = self.theta() if theta is None else theta
        if self.SHIFT:
            b_x = b + x
        else:
            b_x = np.where(x > 0, b + x - 1.0, 1.0)
        log_odds = np.log(a) - np.log(b_x) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
        return log_odds if self.SHIFT else np.where(x > 0, log_odds, -np.inf)

    def _posterior_b(self, b: float | np.ndarray, x: np.ndarray) -> np.ndarray:
        """Second shape of p's posterior for an active customer: Beta(a, b + x) (MBG/NBD: b + x + 1)."""
        return b + x + self.SHIFT

    def purchases_if_alive(self, t: float | np.ndarray, x: np.ndarray, age: np.ndarray,
                           theta: Theta | None = None) -> np.ndarray:
        """E[(1 - exp(-lambda p t)) / p] over the posterior of an active customer (FHL 2005 eq. 10)."""
        r, alpha, a, b = self.theta() if theta is None else theta
        t = np.asarray(t, dtype=float)
        b_post = self._posterior_b(b, x)
        c = a + b_post - 1.0
        z = t / (alpha + age + t)
        # ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b_post; c; z) after Euler's transformation
        # (1-z)^(c-a'-b') 2F1(c-a', c-b'; c; z): the first two arguments no longer grow with x, so
        # neither factor overflows for heavy buyers (the plain form is 0 * inf there).
        with np.errstate(all="ignore"):  # a degenerate fit (a = 1) gives NaN, reported as unreliable
            decay = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1_threaded(c - r - x, a - 1.0, c, z)
            return c / (a - 1.0) * (1.0 - decay)

    def purchase_survival_if_alive(self, k: np.ndarray, t: float, x: np.ndarray, age: np.ndarray,
                                   theta: Theta | None = None) -> np.ndarray:
        """P(min(N, K) >= k) = P(N >= k) E[(1 - p)^(k-1)] with N ~ NBD(r + x, (alpha+T)/(alpha+T+t))
        and K ~ Geometric(p), p ~ Beta(a, b_post): the purchase after which the customer leaves."""
        r, alpha, a, b = self.theta() if theta is None else theta
        b_post = self._posterior_b(b, x)
        stays = np.exp(gammaln(b_post + k - 1.0) - gammaln(b_post) + gammaln(a + b_post) - gammaln(a + b_post + k - 1.0))
        return stays * betainc(k, r + x, t / (alpha + age + t))

    def purchase_survival_grid(self, k: np.ndarray, starts: np.ndarray, t: float, x: np.ndarray, age: np.ndarray,
                               theta: Theta) -> np.ndarray:
        """The same on runs k = 1, 2, ...: P(N >= k) as 1 minus the running sum of the NBD's
        probabilities and E[(1 - p)^(k-1)] as a running product, both summed in logs along the run
        (B(a, b' + n) / B(a, b') = prod over j < n of (b' + j) / (a + b' + j)): no incomplete beta
        function and no log-gamma, several times faster."""
        r, alpha, a, b = theta
        b_post = self._posterior_b(b, x)
        shape, n = r + x, k - 1.0  # P(N = n)
        with np.errstate(divide="ignore", invalid="ignore"):
            stay_steps = np.where(n > 0, np.log((b_post + n - 1.0) / (a + b_post + n - 1.0)), 0.0)
        log_stays, log_coefficients = run_sums(np.stack([stay_steps, log_nbd_pmf_steps(shape, n)]), starts)
        log_total = np.log(alpha + age + t)
        log_p0 = np.log(alpha + age) - log_total
        log_q0 = np.log(t) - log_total
        below = run_sums(np.exp(log_coefficients + shape * log_p0 + n * log_q0), starts)
        return np.exp(log_stays) * np.clip(1.0 - below, 0.0, 1.0)

    def expected_number_of_purchases_up_to_time(self, t: float | ArrayLike) -> np.ndarray:
        """Expected repeat purchases in (0, t] for a new customer (FHL 2005 eq. 9)."""
        r, alpha, a, b = self.theta()
        t = np.asarray(t, dtype=float)
        ratio = np.exp(r * (np.log(alpha) - np.log(alpha + t)))
        if self.SHIFT:  # MBG/NBD: leaves at once with probability a / (a + b)
            return b / (a - 1.0) * (1.0 - ratio * hyp2f1(r, b + 1.0, a + b, t / (alpha + t)))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - ratio * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)))


#: Repeat rows summed at once by a BG/NBD likelihood evaluation (see :meth:`BGNBDLikelihood._repeat_terms`); the
#: 1M-order file has about 100,000 customers: one chunk, as before.
REPEAT_CHUNK_ROWS = 250_000


class BGNBDLikelihood(Likelihood):
    """Negative log-likelihood of BG/NBD, its gradient and Hessian in log-parameters (weighted rows).

    Per customer (FHL 2005, eq. 6): ``LL = A1 + A2 + log(exp(A3) + [x>0] exp(A4))`` with
    A1 = lnG(r+x) - lnG(r) + r ln(alpha), A2 = lnG(a+b) + lnG(b+x) - lnG(b) - lnG(a+b+x),
    A3 = -(r+x) ln(alpha+T), A4 = ln(a) - ln(b+x-1) - (r+x) ln(alpha+t_x).

    For repeat customers ``log(exp(A3) + exp(A4)) = A3 + softplus(d)`` with
    d = A4 - A3; s = sigmoid(d) is the weight of the "left after t_x" branch,
    and the second derivatives are ``s (1 - s) d' d'^T + s d'' + A3''``.

    For speed, terms that depend on x alone are evaluated once per distinct x
    and weighted by the rows having it; ln(alpha + T) and ln(alpha + t_x) once
    per distinct T and t_x; sums of (r + x) * v are split into r * sum(w v) +
    sum(w x v); customers without repeat purchases (A4 absent, t_x = 0) only
    need their T.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, w: np.ndarray,
                 coded: Compressed | None = None, shift: int = 0) -> None:
        """``coded``: the rows as :func:`compress_rows` gave them, to reuse its value codes.

        ``shift=1`` gives MBG/NBD (Batislam, Denizel & Filiztekin 2007): a customer may also
        drop out right after the first purchase, so b + x - 1 becomes b + x, the x-terms move
        by one (lnG(b+x+1) - lnG(a+b+x+1)) and customers without repeat purchases have the
        "left after t_x" branch too.
        """
        self.shift = shift
        x, t_x, age, w = (np.ascontiguousarray(v, dtype=float) for v in (x, t_x, age, w))
        if coded is None:  # rows as given: code each column by its distinct values
            (self.distinct_x, x_code), (distinct_tx, tx_code), (distinct_T, T_code) = (value_codes(v) for v in (x, t_x, age))
        else:
            (self.distinct_x, distinct_tx, distinct_T), (x_code, tx_code, T_code) = coded.distinct, coded.codes
        self.weight_by_x = np.bincount(x_code, weights=w, minlength=len(self.distinct_x))
        zero = (x == 0) if shift == 0 else np.zeros(len(x), dtype=bool)
        self.age0, self.w0 = age[zero], w[zero]
        repeat = ~zero
        self.xr, self.wr = x[repeat], w[repeat]
        self.wx = self.wr * self.xr
        self.xr_code = x_code[repeat]
        self.distinct_T, self.T_code = distinct_T, T_code[repeat]
        self.distinct_tx, self.tx_code = distinct_tx, tx_code[repeat]
        self.n = float(w.sum())

    def _evaluate(self, log_params: np.ndarray, hessian: bool):
        r, alpha, a, b = theta = np.exp(log_params)
        n, dx, wx_, k = self.n, self.distinct_x, self.weight_by_x, self.shift
        # Terms in x alone, summed over rows through their weight per distinct x.
        ll = wx_ @ (gammaln(r + dx) + gammaln(b + dx + k) - gammaln(a + b + dx + k))
        ll += n * (-gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b))
        psi_abx = digamma(a + b + dx + k)
        g = np.array([
            wx_ @ digamma(r + dx) + n * (np.log(alpha) - digamma(r)),
            n * r / alpha,
            n * digamma(a + b) - wx_ @ psi_abx,
            wx_ @ (digamma(b + dx + k) - psi_abx) + n * (digamma(a + b) - digamma(b)),
        ])
        h = np.zeros((4, 4))
        if hessian:
            tri_abx = trigamma(a + b + dx + k)
            h_ab = n * trigamma(a + b) - wx_ @ tri_abx
            h[0, 0] = wx_ @ trigamma(r + dx) - n * trigamma(r)
            h[0, 1] = n / alpha
            h[1, 1] = -n * r / alpha**2
            h[2, 2] = h[2, 3] = h_ab
            h[3, 3] = h_ab + wx_ @ trigamma(b + dx + k) - n * trigamma(b)
        # No repeat purchase: LL adds -r ln(alpha + T).
        log_alpha_T0 = np.log(alpha + self.age0)
        inv_T0 = 1.0 / (alpha + self.age0)
        ll -= r * (self.w0 @ log_alpha_T0)
        g[0] -= self.w0 @ log_alpha_T0
        g[1] -= r * (self.w0 @ inv_T0)
        if hessian:
            h[0, 1] -= self.w0 @ inv_T0
            h[1, 1] += r * (self.w0 @ inv_T0**2)
        if len(self.xr):
            ll += self._repeat_terms(r, alpha, a, b, g, h if hessian else None)
        return (-float(ll), *self._to_log_parameters(theta, g, h if hessian else None))

    def _repeat_terms(self, r, alpha, a, b, g: np.ndarray, h: np.ndarray | None) -> float:
        """LL of repeat customers (the mixture of "alive at T" and "left after t_x"); adds
        their gradient into ``g`` and, when given, their Hessian into ``h`` (upper triangle).

        Over more than :data:`REPEAT_CHUNK_ROWS` rows the terms are summed chunk by chunk of rows: a Hessian
        evaluation holds some twenty arrays of the rows it sums (about 150 MB for a million distinct rows, the
        30M-order file's), two of them at once while Pareto/NBD's start fits beside. Up to that many rows: one
        chunk, the same arithmetic as one pass."""
        rows = len(self.xr)
        if rows <= REPEAT_CHUNK_ROWS:
            return self._repeat_chunk(r, alpha, a, b, g, h, slice(None))
        return sum(self._repeat_chunk(r, alpha, a, b, g, h, slice(start, start + REPEAT_CHUNK_ROWS))
                   for start in range(0, rows, REPEAT_CHUNK_ROWS))

    def _repeat_chunk(self, r, alpha, a, b, g: np.ndarray, h: np.ndarray | None, rows: slice) -> float:
        """:meth:`_repeat_terms` of the repeat rows ``rows``."""
        wr, wx, xr = self.wr[rows], self.wx[rows], self.xr[rows]
        log_T = np.log(alpha + self.distinct_T)[self.T_code[rows]]
        log_tx = np.log(alpha + self.distinct_tx)[self.tx_code[rows]]
        inv_T = (1.0 / (alpha + self.distinct_T))[self.T_code[rows]]
        inv_tx = (1.0 / (alpha + self.distinct_tx))[self.tx_code[rows]]
        b_x1 = b + self.distinct_x if self.shift else np.where(self.distinct_x > 0, b + self.distinct_x - 1.0, 1.0)
        xr_code = self.xr_code[rows]
        log_b_x1, inv_b_x1 = np.log(b_x1)[xr_code], (1.0 / b_x1)[xr_code]
        log_ratio = log_tx - log_T  # ln((alpha + t_x) / (alpha + T)) <= 0
        rx = r + xr
        softplus, left = softplus_and_sigmoid(np.log(a) - log_b_x1 - rx * log_ratio)
        ll = wr @ softplus - r * (wr @ log_T) - wx @ log_T
        inv_gap = inv_tx - inv_T
        inv_mix = inv_T + left * inv_gap
        g[0] -= wr @ (log_T + left * log_ratio)
        g[1] -= r * (wr @ inv_mix) + wx @ inv_mix
        g[2] += (wr @ left) / a
        g[3] -= wr @ (left * inv_b_x1)
        if h is not None:
            # d' = (-log_ratio, -(r+x) inv_gap, 1/a, -inv_b_x1); curvature weight s (1 - s).
            curv = wr * left * (1.0 - left)
            d_alpha = rx * inv_gap
            curv_L, curv_A, curv_B = curv * log_ratio, curv * d_alpha, curv * inv_b_x1
            h[0, 0] += curv_L @ log_ratio
            h[0, 1] += curv_L @ d_alpha - wr @ (left * inv_gap) - wr @ inv_T
            h[0, 2] -= curv_L.sum() / a
            h[0, 3] += curv_L @ inv_b_x1
            h[1, 1] += curv_A @ d_alpha + (wr * rx) @ (left * (inv_tx**2 - inv_T**2) + inv_T**2)
            h[1, 2] -= curv_A.sum() / a
            h[1, 3] += curv_A @ inv_b_x1
            h[2, 2] += (curv.sum() - wr @ left) / a**2
            h[2, 3] -= curv_B.sum() / a
            h[3, 3] += curv_B @ inv_b_x1 + (wr * left) @ inv_b_x1**2
        return ll



def bgnbd_starts(x: np.ndarray, age: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """Moment-based start, then the conventional all-ones start as fallback."""
    rate = max(float(w @ x) / max(float(w @ age), 1e-9), 1e-6)  # repeat purchases per week
    repeat_share = float(w @ (x > 0)) / float(w.sum())
    r0 = 0.5
    alpha0 = r0 / (rate / max(repeat_share, 0.05))  # rate among the active
    a0, b0 = 1.0, 1.0 / max(repeat_share, 0.05)
    return [np.log([r0, alpha0, a0, b0]), np.zeros(4), np.log([1.0, 10.0, 0.5, 5.0])]

