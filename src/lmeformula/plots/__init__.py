"""Diagnostic plots of a fit and their data (matplotlib is imported on first use only)."""

from lmeformula.plots.figures import (
    acf,
    acf_data,
    binned_residuals,
    caterpillar,
    qq,
    ranef_qq,
    residuals_vs_fitted,
    trajectories,
    variogram,
    variogram_data,
)

__all__ = [
    "acf",
    "acf_data",
    "binned_residuals",
    "caterpillar",
    "qq",
    "ranef_qq",
    "residuals_vs_fitted",
    "trajectories",
    "variogram",
    "variogram_data",
]
