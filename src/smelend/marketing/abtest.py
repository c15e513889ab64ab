"""A/B test analysis of two conversion rates (statsmodels), and the sample size a test needs.

``lift`` is the treatment rate minus the control rate. The p-value is the two-sided two-proportion
z-test with the *pooled* variance (under the null both arms share one rate); the confidence interval of
the difference uses the *unpooled* Wald variance (no null assumed). These are the textbook choices
and the issue's contract; statsmodels computes both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smelend.errors import Collector, InvalidInput

MAX_TRIALS = 10**12


@dataclass(frozen=True)
class Arm:
    trials: int
    conversions: int

    @property
    def rate(self) -> float:
        return self.conversions / self.trials


@dataclass(frozen=True)
class ABResult:
    control_rate: float
    treatment_rate: float
    lift: float
    p_value: float
    ci_low: float
    ci_high: float


def parse_arm(text: str, field: str) -> Arm:
    """``"N:CONVERSIONS"`` as an :class:`Arm`, or :class:`InvalidInput` naming ``field`` and the reason."""
    parts = str(text).strip().split(":")
    if len(parts) != 2:
        raise InvalidInput.one(field, f"expected N:CONVERSIONS (e.g. 1000:52), got {text!r}")
    try:
        trials, conversions = int(parts[0].strip()), int(parts[1].strip())
    except ValueError:
        raise InvalidInput.one(field, f"N and CONVERSIONS must be whole numbers, got {text!r}") from None
    return check_arm(Arm(trials, conversions), field)


def check_arm(arm: Arm, field: str) -> Arm:
    found = Collector()
    if arm.trials <= 0:
        found.add(field, f"N must be positive, got {arm.trials}")
    elif arm.trials > MAX_TRIALS:
        found.add(field, f"N must be at most {MAX_TRIALS}")
    elif arm.conversions < 0:
        found.add(field, f"CONVERSIONS must not be negative, got {arm.conversions}")
    elif arm.conversions > arm.trials:
        found.add(field, f"CONVERSIONS ({arm.conversions}) cannot exceed N ({arm.trials})")
    found.raise_if_any()
    return arm


def check_alpha(alpha: float) -> float:
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        raise InvalidInput.one("alpha", f"must be a fraction between 0 and 1 (exclusive), got {alpha}")
    return alpha


def analyse(control: Arm, treatment: Arm, alpha: float = 0.05) -> ABResult:
    """Difference in proportions: pooled two-sided z-test p-value and the unpooled Wald interval."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    check_arm(control, "control")
    check_arm(treatment, "treatment")
    check_alpha(alpha)
    p1, p0 = treatment.rate, control.rate
    pooled = (control.conversions + treatment.conversions) / (control.trials + treatment.trials)
    if pooled in (0.0, 1.0):
        p_value = 1.0  # both arms all-or-nothing alike: no evidence of a difference (statsmodels divides by zero)
    else:
        _, p = proportions_ztest([treatment.conversions, control.conversions], [treatment.trials, control.trials], alternative="two-sided", prop_var=False)
        p_value = float(p)
    low, high = confint_proportions_2indep(treatment.conversions, treatment.trials, control.conversions, control.trials, method="wald", compare="diff", alpha=alpha)
    return ABResult(p0, p1, p1 - p0, p_value, float(low), float(high))


def sample_size_per_arm(control_rate: float, lift: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Trials per arm to detect ``lift`` over ``control_rate`` (two-sided, Cohen's h with statsmodels)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    check_alpha(alpha)
    if not (0 < control_rate < 1 and 0 < control_rate + lift < 1 and lift != 0):
        raise InvalidInput.one("lift", "control rate and control rate + lift must be fractions in (0, 1), lift not 0")
    if not 0 < power < 1:
        raise InvalidInput.one("power", "must be a fraction between 0 and 1")
    h = proportion_effectsize(control_rate + lift, control_rate)
    return int(math.ceil(NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power, ratio=1.0, alternative="two-sided")))
