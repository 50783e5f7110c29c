"""MBG/NBD model (Batislam, Denizel & Filiztekin 2007), time in weeks.

BG/NBD where a customer may also leave right after the first purchase (the
drop-out coin is tossed at every purchase, the first included). It fits CDNOW
better than BG/NBD and never gives P(alive) = 1 to a one-time buyer. The
likelihood, its exact Hessian and the formulas are BG/NBD's with the shift
described in :class:`crm_core.clv.bg_nbd.BGNBDLikelihood`.
"""
from __future__ import annotations

from crm_core.clv.bg_nbd import BetaGeoModel


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD: parameters r, alpha (purchase rates), a, b (drop-out at each purchase, the first included)."""

    NAME = "mbg-nbd"
    LABEL = "MBG/NBD"
    SHIFT = 1
