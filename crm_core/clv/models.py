"""The purchase models by name (the CLI's --model values and the page's choices)."""
from __future__ import annotations

from typing import Literal

from crm_core.clv.bg_nbd import BetaGeoModel
from crm_core.clv.mbg_nbd import ModifiedBetaGeoModel
from crm_core.clv.pareto_nbd import ParetoNBDModel
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
