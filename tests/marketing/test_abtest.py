"""A/B analysis against textbook values computed by hand, and the exact CLI contract."""

from __future__ import annotations

import json
import math
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from smelend.errors import InvalidInput
from smelend.marketing.abtest import Arm, analyse, parse_arm, sample_size_per_arm


def by_hand(n0: int, x0: int, n1: int, x1: int, alpha: float) -> dict[str, float]:
    p0, p1 = x0 / n0, x1 / n1
    pooled = (x0 + x1) / (n0 + n1)
    z = (p1 - p0) / math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    se = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    q = norm.ppf(1 - alpha / 2)
    return {"control_rate": p0, "treatment_rate": p1, "lift": p1 - p0, "p_value": 2 * norm.sf(abs(z)), "ci_low": p1 - p0 - q * se, "ci_high": p1 - p0 + q * se}


def test_textbook_example() -> None:
    # 100 of 1,000 against 130 of 1,000: pooled p = 0.115, se = sqrt(0.115 * 0.885 * 0.002) = 0.014267,
    # z = 0.03 / 0.014267 = 2.1027, two-sided p = 0.0355; Wald se = sqrt(0.09/1000 + 0.1131/1000) = 0.014251,
    # 95% interval 0.03 -/+ 1.95996 x 0.014251 = [0.00207, 0.05793].
    r = analyse(Arm(1000, 100), Arm(1000, 130))
    assert (r.control_rate, r.treatment_rate) == (0.1, 0.13)
    assert r.lift == pytest.approx(0.03, abs=1e-15)
    assert r.p_value == pytest.approx(0.0355, abs=5e-5)
    assert r.ci_low == pytest.approx(0.00207, abs=5e-6) and r.ci_high == pytest.approx(0.05793, abs=5e-6)


@given(st.integers(20, 100_000), st.integers(20, 100_000), st.floats(0.01, 0.99), st.floats(0.01, 0.99), st.sampled_from([0.01, 0.05, 0.1]))
def test_matches_the_formulas(n0: int, n1: int, r0: float, r1: float, alpha: float) -> None:
    x0, x1 = int(n0 * r0), int(n1 * r1)
    if x0 + x1 in (0, n0 + n1):
        return
    got = analyse(Arm(n0, x0), Arm(n1, x1), alpha)
    expected = by_hand(n0, x0, n1, x1, alpha)
    for key, value in expected.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_sample_size_for_a_three_point_lift() -> None:
    # Cohen's h = 2 asin(sqrt(0.13)) - 2 asin(sqrt(0.10)) = 0.09422; each arm's transformed rate has variance 1/n,
    # the difference 2/n, so n = 2 ((1.95996 + 0.84162) / h)^2 = 1768.1 -> 1769 per arm
    h = 2 * math.asin(math.sqrt(0.13)) - 2 * math.asin(math.sqrt(0.10))
    assert sample_size_per_arm(0.10, 0.03) == math.ceil(2 * ((norm.ppf(0.975) + norm.ppf(0.8)) / h) ** 2) == 1769


@pytest.mark.parametrize("text, reason", [("10:11", "cannot exceed"), ("10:-1", "must not be negative"), ("ten:1", "whole numbers"), ("0:0", "N must be positive"), ("10", "N:CONVERSIONS")])
def test_bad_arms_are_refused_naming_the_field(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_arm(text, "control")
    assert caught.value.errors[0].field == "control" and reason in caught.value.errors[0].reason


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``smelend marketing abtest ...`` through its entry point in this process (no fresh interpreter per call)."""
    from tests.marketing.test_store_cli import cli

    return cli("abtest", *args)


def test_cli_contract() -> None:
    done = run("--control", "1000:100", "--treatment", "1000:130", "--alpha", "0.05", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert list(document) == ["control_rate", "treatment_rate", "lift", "p_value", "ci_low", "ci_high"]
    for key, value in by_hand(1000, 100, 1000, 130, 0.05).items():
        assert document[key] == pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("control, treatment, option", [("100:101", "100:1", "--control"), ("100:1", "100:-3", "--treatment"), ("100:x", "100:1", "--control"), ("100:1", "abc", "--treatment")])
def test_cli_bad_counts_exit_2_with_one_line(control: str, treatment: str, option: str) -> None:
    done = run("--control", control, "--treatment", treatment, "--json")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0]


def test_sample_size_command() -> None:
    from tests.marketing.test_store_cli import cli

    done = cli("sample-size", "--control-rate", "0.1", "--lift", "0.03", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"per_arm": 1769}
    bad = cli("sample-size", "--control-rate", "0.1", "--lift", "0.95")
    assert bad.returncode == 2 and "--lift" in bad.stderr
