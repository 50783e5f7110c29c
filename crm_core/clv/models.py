"""The purchase models by name (the CLI's --model values and the page's choices)."""
from __future__ import annotations

from typing import Literal

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


def fit_models(names: list[str], coded: Compressed, fitted: dict[str, PurchaseModel] | None = None
               ) -> dict[str, PurchaseModel]:
    """The named purchase models fitted on the same customers, compressed once by
    :func:`~crm_core.clv.fitting.compress_rows`; added to ``fitted`` (a new dict by default).
    Pareto/NBD starts from BG/NBD's estimate when BG/NBD is fitted already (:func:`start_from_bgnbd`)."""
    fitted = {} if fitted is None else fitted
    for name in dict.fromkeys(names):
        bgnbd = fitted.get(BetaGeoModel.NAME)
        start = start_from_bgnbd(bgnbd.params_) if name == ParetoNBDModel.NAME and bgnbd and bgnbd.converged_ else None
        fitted[name] = make_model(name).fit_compressed(coded, start=start)
    return fitted
