"""The purchase models by name (the CLI's --model values and the page's choices)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from crm_core import parallel

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
    Pareto/NBD, by far the slowest fit, runs on a worker thread while the others fit here (numpy
    releases the GIL in the arithmetic over the rows): the same fits, at the same starts, in less time.
    """
    fitted = {} if fitted is None else fitted
    starts = starts or {}
    order = list(dict.fromkeys(names))
    if BetaGeoModel.NAME in order:  # first: Pareto/NBD may start from it
        fitted[BetaGeoModel.NAME] = make_model(BetaGeoModel.NAME).fit_compressed(
            coded, start=starts.get(BetaGeoModel.NAME))
    bgnbd = fitted.get(BetaGeoModel.NAME)
    pareto = None
    if ParetoNBDModel.NAME in order:
        start = starts.get(ParetoNBDModel.NAME) or (
            start_from_bgnbd(bgnbd.params_) if bgnbd is not None and bgnbd.converged_ else None)
        pareto = parallel.submit(make_model(ParetoNBDModel.NAME).fit_compressed, coded, start)
    done = {name: make_model(name).fit_compressed(coded, start=starts.get(name))
            for name in order if name not in (BetaGeoModel.NAME, ParetoNBDModel.NAME)}
    if pareto is not None:
        done[ParetoNBDModel.NAME] = pareto.result()
    for name in order:  # in the order named (the CLI lists them so)
        fitted[name] = fitted[name] if name == BetaGeoModel.NAME else done[name]
    return fitted
