"""Arrhenius fits of diffusivities with their uncertainties: D(T) = D0 exp(-Ea / kB T).

A weighted least-squares fit of ln D against 1/(kB T) (:func:`scipy.optimize.curve_fit` with
``absolute_sigma=True``): each temperature's weight comes from its own standard error (sigma of ln D = SE(D)/D), so
the standard errors of Ea and log10 D0 are the propagated measurement errors and exist even for two temperatures.
With three or more temperatures the fit's chi-square tells whether the points scatter more than their errors allow
(``p_value``: the probability of a chi-square at least as large for a true Arrhenius law); a small p-value or a
negative Ea means the data are not Arrhenius, which callers report as a typed outcome rather than a value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from ase import units

#: below this chi-square p-value the scatter of ln D exceeds its errors: the points are not on one Arrhenius line
NON_ARRHENIUS_P_VALUE = 0.01


@dataclass(frozen=True)
class ArrheniusFit:
    activation_energy_ev: float
    activation_energy_stderr_ev: float
    log10_prefactor_cm2_s: float
    log10_prefactor_stderr: float
    chi2: float
    dof: int
    p_value: float  # NaN when dof = 0

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    def non_arrhenius_reason(self, max_p_value: float = NON_ARRHENIUS_P_VALUE) -> str | None:
        """Why the fit is not a usable Arrhenius law (negative Ea, or residuals beyond the errors), else None."""
        if not self.activation_energy_ev > 0:
            return f"negative activation energy {self.activation_energy_ev:.3f} eV"
        if self.dof > 0 and self.p_value < max_p_value:
            return (
                f"residuals exceed their errors: chi2 = {self.chi2:.1f} for {self.dof} degree(s) of freedom "
                f"(p = {self.p_value:.2g} < {max_p_value:g})"
            )
        return None

    def diffusivity_cm2_s(self, temperature_k: float | np.ndarray) -> np.ndarray:
        """D of the fitted line at ``temperature_k``."""
        t = np.asarray(temperature_k, dtype=float)
        return 10.0**self.log10_prefactor_cm2_s * np.exp(-self.activation_energy_ev / (units.kB * t))


def _line(inv_kt: np.ndarray, ln_d0: float, ea: float) -> np.ndarray:
    return ln_d0 - ea * inv_kt


def arrhenius_fit(
    temperatures_k: np.ndarray, diffusivities_cm2_s: np.ndarray, stderr_cm2_s: np.ndarray | None = None
) -> ArrheniusFit:
    """Fit D = D0 exp(-Ea/kB T) (see the module docstring). Without ``stderr_cm2_s`` the fit is unweighted and
    the standard errors come from the residuals (NaN for two points)."""
    t = np.asarray(temperatures_k, dtype=float)
    d = np.asarray(diffusivities_cm2_s, dtype=float)
    if len(t) < 2 or len(t) != len(d) or np.any(d <= 0) or np.any(t <= 0):
        raise ValueError("an Arrhenius fit needs >= 2 temperatures with positive diffusivities")
    from scipy.optimize import curve_fit  # slow to import: only when a fit is made (a suite lists this module)

    inv_kt = 1.0 / (units.kB * t)
    dof = len(t) - 2
    start = np.polyfit(inv_kt, np.log(d), 1)
    p0 = (start[1], -start[0])
    if stderr_cm2_s is None:
        params, _ = curve_fit(_line, inv_kt, np.log(d), p0=p0)
        if dof == 0:
            cov = np.full((2, 2), math.nan)
        else:
            _, cov = curve_fit(_line, inv_kt, np.log(d), p0=p0)
        sigma = None
    else:
        sigma = np.asarray(stderr_cm2_s, dtype=float) / d
        if np.any(~(sigma > 0)):
            raise ValueError("standard errors of D must be positive")
        params, cov = curve_fit(_line, inv_kt, np.log(d), p0=p0, sigma=sigma, absolute_sigma=True)
    residuals = np.log(d) - _line(inv_kt, *params)
    chi_square = float(np.sum((residuals / sigma) ** 2)) if sigma is not None else math.nan
    from scipy.stats import chi2 as chi2_distribution  # slow to import: only when a fit is made

    p_value = float(chi2_distribution.sf(chi_square, dof)) if dof > 0 and sigma is not None else math.nan
    return ArrheniusFit(
        activation_energy_ev=float(params[1]),
        activation_energy_stderr_ev=float(math.sqrt(cov[1, 1])),
        log10_prefactor_cm2_s=float(params[0] / math.log(10.0)),
        log10_prefactor_stderr=float(math.sqrt(cov[0, 0]) / math.log(10.0)),
        chi2=chi_square,
        dof=dof,
        p_value=p_value,
    )
