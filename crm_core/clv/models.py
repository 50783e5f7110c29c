"""The purchase models by name (the CLI's --model values and the page's choices)."""
from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from typing import Literal

import numpy as np

from crm_core import parallel
from crm_core import worker
from crm_core.worker import Pending

from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.mbg_nbd import ModifiedBetaGeoModel
from crm_core.clv.fitting import Compressed
from crm_core.clv.pareto_nbd import ParetoNBDModel, start_from_bgnbd
from crm_core.clv.purchase_model import PurchaseModel

ModelName = Literal["bg-nbd", "pareto-nbd", "mbg-nbd"]
ModelChoice = Literal["auto", "bg-nbd", "pareto-nbd", "mbg-nbd"]
AUTO = "auto"
MODELS: dict[str, type[PurchaseModel]] = {cls.NAME: cls for cls in (BetaGeoModel, ParetoNBDModel, ModifiedBetaGeoModel)}
MODEL_CHOICES: tuple[str, ...] = (AUTO, *MODELS)


def make_model(name: str) -> PurchaseModel:
    """A new, unfitted model; ValueError naming the choices for an unknown name."""
    try:
        return MODELS[name]()
    except KeyError:
        raise ValueError(f"Unknown model '{name}': use one of {', '.join(MODEL_CHOICES)}.") from None


def model_label(name: str) -> str:
    return "Automatic (best on the holdout)" if name == AUTO else MODELS[name].LABEL


def fit_models(names: list[str], coded: Compressed, fitted: dict[str, PurchaseModel] | None = None,
               starts: Mapping[str, Mapping[str, float] | None] | None = None) -> dict[str, PurchaseModel]:
    """The named purchase models fitted on the same customers, compressed once by
    :func:`~crm_core.clv.fitting.compress_rows`; added to ``fitted`` (a new dict by default) in the order named.

    ``starts``: parameters to start each model from (e.g. its fit on more of the data). Without one,
    Pareto/NBD starts from BG/NBD's estimate when BG/NBD is fitted already (:func:`start_from_bgnbd`).
    """
    return start_fits(names, coded, fitted, starts).result()


class PendingFits:
    """Purchase models being fitted: those fitted already (:attr:`done`), :meth:`model`, :meth:`fit_rest` and
    :meth:`result`."""

    def __init__(self, names: list[str], coded: Compressed, fitted: dict[str, PurchaseModel],
                 done: dict[str, PurchaseModel], pareto: Future[PurchaseModel] | Pending[PurchaseModel] | None,
                 starts: Mapping[str, Mapping[str, float] | None],
                 elsewhere: dict[str, Pending[PurchaseModel]] | None = None) -> None:
        self._names, self._coded, self._fitted, self.done = names, coded, fitted, done
        self._pareto, self._starts = pareto, starts
        self._elsewhere = elsewhere or {}  # quick models fitting in the worker process (BG/NBD before Pareto/NBD)

    def model(self, name: str) -> PurchaseModel | None:
        """``name`` fitted, once its fit has ended when it runs in the worker; None when it is not fitted (yet)."""
        if name in self._elsewhere:
            self.done[name] = self._elsewhere.pop(name).result()
        return self.done.get(name)

    @classmethod
    def of(cls, fitted: Mapping[str, PurchaseModel]) -> PendingFits:
        """Models fitted already, as pending fits that are done."""
        return cls(list(fitted), Compressed([], [], np.zeros(0), None), {}, dict(fitted), None, {})

    def fit_rest(self, starts: Mapping[str, Mapping[str, float] | None] | None = None) -> None:
        """Fit the quick models not fitted yet (``starts``, when given, replaces :func:`start_fits`' for them)."""
        starts = self._starts if starts is None else starts
        for name in self._names:
            if name not in self.done and name not in self._elsewhere and name != ParetoNBDModel.NAME:
                self.done[name] = make_model(name).fit_compressed(self._coded, start=starts.get(name))

    def result(self) -> dict[str, PurchaseModel]:
        """Every model, once Pareto/NBD's fit has ended, added to ``fitted`` in the order named."""
        self.fit_rest()
        for name in list(self._elsewhere):
            self.model(name)
        if self._pareto is not None:
            self.done[ParetoNBDModel.NAME] = self._pareto.result()
            self._pareto = None
        for name in self._names:  # in the order named (the CLI lists them so)
            self._fitted[name] = self.done[name]
        return self._fitted


def start_fits(names: list[str], coded: Compressed, fitted: dict[str, PurchaseModel] | None = None,
               starts: Mapping[str, Mapping[str, float] | None] | None = None,
               rest_later: bool = False) -> PendingFits:
    """:func:`fit_models`, returning while Pareto/NBD still fits.

    Pareto/NBD, by far the slowest fit, runs beside the others (:func:`crm_core.worker.submit`: in the worker
    process when the program has one, else on a worker thread): the same
    fits, at the same starts, in less time. BG/NBD is fitted first (Pareto/NBD may start from it), the
    other quick models next, or with ``rest_later`` only when :meth:`PendingFits.fit_rest` or
    :meth:`PendingFits.result` asks: the caller can start more work beside Pareto/NBD first.
    """
    fitted = {} if fitted is None else fitted
    starts = starts or {}
    order = list(dict.fromkeys(names))
    done: dict[str, PurchaseModel] = {}
    chain = None
    if (BetaGeoModel.NAME in order and ParetoNBDModel.NAME in order and worker.idle()
            and len(coded.counts) <= worker.MAX_ROWS):
        # An idle worker process fits BG/NBD and then Pareto/NBD from its estimate (no round trip through this
        # process), while this one fits the other models: the fits' share of the command's time balanced over
        # the two processes. The same fits, at the same starts, as below.
        chain = worker.submit_chain(make_model(BetaGeoModel.NAME).fit_compressed,
                                    (coded, starts.get(BetaGeoModel.NAME)),
                                    pareto_after_bgnbd, (coded, starts.get(ParetoNBDModel.NAME)))
    if chain is not None:
        pending = PendingFits(order, coded, fitted, done, chain[1], starts, elsewhere={BetaGeoModel.NAME: chain[0]})
        if not rest_later:
            pending.fit_rest()
        return pending
    if BetaGeoModel.NAME in order:  # first: Pareto/NBD may start from it
        done[BetaGeoModel.NAME] = make_model(BetaGeoModel.NAME).fit_compressed(coded, start=starts.get(BetaGeoModel.NAME))
    bgnbd = done.get(BetaGeoModel.NAME) or fitted.get(BetaGeoModel.NAME)
    pareto = None
    if ParetoNBDModel.NAME in order:
        start = starts.get(ParetoNBDModel.NAME) or (
            start_from_bgnbd(bgnbd.params_) if bgnbd is not None and bgnbd.converged_ else None)
        fit = make_model(ParetoNBDModel.NAME).fit_compressed
        # Large fits stay in this process, under the reader's memory limit (crm_core.worker).
        pareto = (worker.submit(fit, coded, start) if len(coded.counts) <= worker.MAX_ROWS
                  else parallel.submit(fit, coded, start))
    pending = PendingFits(order, coded, fitted, done, pareto, starts)
    if not rest_later:
        pending.fit_rest()
    return pending


def pareto_after_bgnbd(bgnbd: PurchaseModel, coded: Compressed, start: Mapping[str, float] | None) -> PurchaseModel:
    """Pareto/NBD fitted on ``coded`` from ``start``, else from ``bgnbd``'s estimate when it converged
    (:func:`start_from_bgnbd`), as :func:`start_fits` starts it."""
    start = start or (start_from_bgnbd(bgnbd.params_) if bgnbd.converged_ else None)
    return make_model(ParetoNBDModel.NAME).fit_compressed(coded, start)
