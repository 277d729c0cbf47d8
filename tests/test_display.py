"""Tests of lmeformula.results.display: lme4's summary layout from stand-in results.

The stand-ins carry lme4's own numbers from ``tests/reference/reference.json`` and only
the attributes ``format_summary`` is documented to use, so the layout is tested apart from
the fitting code. Expected blocks are lme4's printout of the same fits.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lmeformula.results.display import (
    _abbreviate,
    _format_pval,
    _format_real,
    format_summary,
    format_summary_html,
)

REFERENCE = Path(__file__).parent / "reference" / "reference.json"
CASES = {case["id"]: case for case in json.loads(REFERENCE.read_text())["cases"]}

# Residuals whose quantiles are exact in 4 decimals, so the expected line is known.
RESIDUALS = np.array([-3.8322, -0.6317, 0.0339, 0.6834, 3.4562])


def standin(
    case_id: str,
    *,
    n_dropped: int = 0,
    singular: bool | None = None,
    converged: bool = True,
    messages: tuple[str, ...] = (),
    data_name: str | None = "",
    residuals: np.ndarray = RESIDUALS,
) -> Any:
    """A results object built from one lme4 reference case."""
    case = CASES[case_id]
    names = list(case["fixef"])
    varcorr = pd.DataFrame(case["varcorr"])
    deviance = case["deviance_ml"] if case["deviance_ml"] is not None else -2 * case["loglik"]
    return types.SimpleNamespace(
        formula=case["call"]["formula"],
        data_name=case["dataset"] if data_name == "" else data_name,
        reml=case["call"]["reml"],
        nobs=case["nobs"] - n_dropped,
        n_dropped=n_dropped,
        ngroups=dict(case["ngroups"]),
        loglik=case["loglik"],
        aic=case["aic"],
        bic=case["bic"],
        deviance=deviance,
        reml_criterion=case["reml_criterion"],
        df_resid=case["nobs"] - case["npar"],
        npar=case["npar"],
        sigma=case["sigma"],
        fixef=pd.Series(case["fixef"]),
        fixef_se=pd.Series(case["fixef_se"]),
        vcov=pd.DataFrame(case["vcov_fixef"], index=names, columns=names),
        varcorr=lambda: varcorr.copy(),
        residuals=lambda type="pearson": residuals,
        singular=case["singular"] if singular is None else singular,
        optinfo=types.SimpleNamespace(
            optimizer="nloptwrap", converged=converged, messages=list(messages)
        ),
    )


def eol(text: str) -> str:
    """Expected text with each line's trailing spaces kept visible by a final ``$``."""
    return text.replace("$\n", "\n")


def block(text: str, start: str, nlines: int) -> str:
    lines = text.split("\n")
    i = lines.index(start)
    return "\n".join(lines[i : i + nlines])


# -- whole summaries -----------------------------------------------------------------------

EXAM_RS = eol("""\
Linear mixed model fit by REML ['lmerMod']
Formula: normexam ~ standLRT + (1 + standLRT | school)
   Data: exam

REML criterion at convergence: 9327.6

Scaled residuals: $
    Min      1Q  Median      3Q     Max $
-3.8322 -0.6317  0.0339  0.6834  3.4562 $

Random effects:
 Groups   Name        Variance Std.Dev. Corr
 school   (Intercept) 0.09212  0.3035       $
          standLRT    0.01497  0.1223   0.49
 Residual             0.55364  0.7441       $
Number of obs: 4059, groups:  school, 65

Fixed effects:
            Estimate Std. Error t value
(Intercept) -0.01165    0.04011   -0.29
standLRT     0.55653    0.02011   27.67

Correlation of Fixed Effects:
         (Intr)
standLRT 0.365 $
""")


def test_reml_one_group_with_correlation() -> None:
    assert format_summary(standin("exam_rs")) == EXAM_RS


SLEEP_ML = eol("""\
Linear mixed model fit by maximum likelihood  ['lmerMod']
Formula: Reaction ~ Days + (Days | Subject)
   Data: sleepstudy

     AIC      BIC   logLik deviance df.resid $
  1763.9   1783.1   -876.0   1751.9      174 $

Scaled residuals: $
    Min      1Q  Median      3Q     Max $
-3.8322 -0.6317  0.0339  0.6834  3.4562 $

Random effects:
 Groups   Name        Variance Std.Dev. Corr
 Subject  (Intercept) 565.48   23.780       $
          Days         32.68    5.717   0.08
 Residual             654.95   25.592       $
Number of obs: 180, groups:  Subject, 18

Fixed effects:
            Estimate Std. Error t value
(Intercept)  251.405      6.632  37.907
Days          10.467      1.502   6.968

Correlation of Fixed Effects:
     (Intr)
Days -0.138
""")


def test_ml_fit_prints_the_information_criteria_table() -> None:
    assert format_summary(standin("sleep_rs_ml")) == SLEEP_ML


def test_nested_groups_and_single_fixed_effect() -> None:
    text = format_summary(standin("pastes_nested"))
    assert "REML criterion at convergence: 247\n" in text
    assert block(text, "Random effects:", 6) == (
        "Random effects:\n"
        " Groups     Name        Variance Std.Dev.\n"
        " cask:batch (Intercept) 8.434    2.9041  \n"
        " batch      (Intercept) 1.657    1.2874  \n"
        " Residual               0.678    0.8234  \n"
        "Number of obs: 60, groups:  cask:batch, 30; batch, 10"
    )
    assert block(text, "Fixed effects:", 3) == (
        "Fixed effects:\n"
        "            Estimate Std. Error t value\n"
        "(Intercept)  60.0533     0.6769   88.72"
    )
    # One fixed effect: no correlation block at all.
    assert "Correlation" not in text
    assert text.endswith("88.72\n")


def test_crossed_groups() -> None:
    text = format_summary(standin("penicillin_crossed"))
    assert "Number of obs: 144, groups:  plate, 24; sample, 6\n" in text
    assert " plate    (Intercept) 0.7169   0.8467  " in text
    assert " sample   (Intercept) 3.7311   1.9316  " in text
    assert " Residual             0.3024   0.5499  " in text
    assert "REML criterion at convergence: 330.9\n" in text
    assert "(Intercept)  22.9722     0.8086   28.41\n" in text


def test_no_fixed_effects_correlation_for_intercept_only_model() -> None:
    text = format_summary(standin("dyestuff"))
    assert block(text, "Random effects:", 5) == (
        "Random effects:\n"
        " Groups   Name        Variance Std.Dev.\n"
        " Batch    (Intercept) 1764     42.00   \n"
        " Residual             2451     49.51   \n"
        "Number of obs: 30, groups:  Batch, 6"
    )
    assert "(Intercept)  1527.50      19.38    78.8\n" in text
    assert "Correlation of Fixed Effects" not in text


def test_three_correlated_random_effects_print_a_lower_triangle() -> None:
    text = format_summary(standin("machines_un"))
    assert block(text, "Random effects:", 6) == (
        "Random effects:\n"
        " Groups   Name     Variance Std.Dev. Corr     \n"
        " Worker   MachineA 16.6401  4.0792            \n"
        "          MachineB 74.3948  8.6252   0.80     \n"
        "          MachineC 19.2703  4.3898   0.62 0.77\n"
        " Residual           0.9246  0.9616            "
    )


def test_fixed_effects_correlation_abbreviates_names() -> None:
    text = format_summary(standin("orthodont_rs"))
    assert block(text, "Correlation of Fixed Effects:", 5) == (
        "Correlation of Fixed Effects:\n"
        "            (Intr) age    SexMal\n"
        "age         -0.880              \n"
        "SexMale     -0.770  0.678       \n"
        "age:SexMale  0.678 -0.770 -0.880"
    )
    assert " Subject  (Intercept) 5.77449  2.4030        \n" in text
    assert "          age         0.03245  0.1801   -0.67\n" in text


def test_duplicate_abbreviations_get_longer() -> None:
    text = format_summary(standin("exam_factors"))
    header = block(text, "Correlation of Fixed Effects:", 2).split("\n")[1]
    assert header.split() == ["(Intr)", "stnLRT", "sexM", "schgndg"]
    assert "schgendgrls -0.831" in text
    assert "schgendmixd -0.873" in text


def test_missing_rows_are_reported() -> None:
    text = format_summary(standin("exam_rs", n_dropped=2))
    assert (
        "Number of obs: 4057, groups:  school, 65\n  (2 observations deleted due to missingness)\n"
    ) in text
    one = format_summary(standin("exam_rs", n_dropped=1))
    assert "  (1 observation deleted due to missingness)\n" in one
    assert "deleted" not in format_summary(standin("exam_rs"))


def test_singular_fit_ends_with_lme4_message() -> None:
    text = format_summary(standin("exam_rs", singular=True))
    assert text.endswith(
        "standLRT 0.365 \n"
        "optimizer (nloptwrap) convergence code: 0 (OK)\n"
        "boundary (singular) fit: see help('isSingular')\n"
    )


def test_convergence_messages_are_printed_once() -> None:
    msg = "Model failed to converge with max|grad| = 0.00438 (tol = 0.002, component 1)"
    text = format_summary(standin("exam_rs", messages=(msg,)))
    assert text.endswith(f"optimizer (nloptwrap) convergence code: 0 (OK)\n{msg}\n")
    singular = "boundary (singular) fit: see help('isSingular')"
    text = format_summary(standin("exam_rs", singular=True, messages=(singular,)))
    assert text.count("singular") == 1
    failed = format_summary(standin("exam_rs", converged=False))
    assert "optimizer (nloptwrap) convergence code: 1" in failed
    assert "optimizer" not in format_summary(standin("exam_rs"))


def test_data_line_is_omitted_without_a_name() -> None:
    text = format_summary(standin("exam_rs", data_name=None))
    assert "Data:" not in text
    assert text.startswith(
        "Linear mixed model fit by REML ['lmerMod']\n"
        "Formula: normexam ~ standLRT + (1 + standLRT | school)\n\n"
    )


def test_diagonal_structure_without_covariance_rows_has_no_corr_column() -> None:
    result = standin("exam_rs")
    vc = pd.DataFrame(CASES["exam_rs"]["varcorr"])
    result.varcorr = lambda: vc[vc["var2"] == ""].reset_index(drop=True)
    text = format_summary(result)
    assert " Groups   Name        Variance Std.Dev.\n" in text
    assert "          standLRT    0.01497  0.1223  \n" in text


def test_many_fixed_effects_hide_the_correlation() -> None:
    names = [f"x{i}" for i in range(13)]
    result = standin("exam_rs")
    result.fixef = pd.Series(np.linspace(0.1, 1.3, 13), index=names)
    result.fixef_se = pd.Series(np.full(13, 0.05), index=names)
    result.vcov = pd.DataFrame(np.eye(13) * 0.0025, index=names, columns=names)
    text = format_summary(result)
    assert "Correlation of Fixed Effects" not in text
    assert "Correlation matrix not shown by default, as p = 13 > 12." in text
    shown = format_summary(result, correlation=True)
    assert "Correlation of Fixed Effects:" in shown
    # 12 columns of 6 do not fit in 80 characters: R prints them in two blocks.
    assert max(len(line) for line in shown.split("\n")) <= 80


def test_residual_quantiles_use_r_type_7_and_zapsmall() -> None:
    res = np.arange(1.0, 12.0) / 7.0 - 0.5
    text = format_summary(standin("exam_rs", residuals=res))
    q = np.quantile(res, [0, 0.25, 0.5, 0.75, 1])
    # zapsmall turns the first quartile's rounding noise into 0, printed without a sign as R does.
    assert 0 < abs(q[1]) < 1e-12
    expected = "-0.3571  0.0000  0.3571  0.7143  1.0714 "
    assert block(text, "Scaled residuals: ", 3).split("\n")[2] == expected


# -- R's formatting helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "digits", "nsmall", "expected"),
    [
        ([1, 10, 100], 7, 0, ["  1", " 10", "100"]),
        ([-1.5, 2.25], 7, 0, ["-1.50", " 2.25"]),
        ([0.1 + 0.2], 7, 0, ["0.3"]),
        ([1 / 3], 3, 0, ["0.333"]),
        ([0.000012345], 4, 0, ["1.234e-05"]),
        ([1e10], 7, 0, ["1e+10"]),
        ([123456789], 7, 0, ["123456789"]),
        ([612.0898, 35.07171, 654.941], 4, 0, ["612.09", " 35.07", "654.94"]),
        ([1.0, 0.49], 7, 2, ["1.00", "0.49"]),
        ([float("nan"), 1.5], 7, 0, ["NaN", "1.5"]),
    ],
)
def test_format_real_matches_r_format(
    values: list[float], digits: int, nsmall: int, expected: list[str]
) -> None:
    assert _format_real(values, digits, nsmall) == expected


@pytest.mark.parametrize(
    ("values", "digits", "expected"),
    [
        # R 4.2.2: format.pval(c(6.4e-07, 0.021695, 0.000277), digits = 3)
        ([6.4e-07, 0.021695, 0.000277], 3, ["6.4e-07", "0.021695", "0.000277"]),
        # format.pval(c(0.000277, 0.5), digits = 1)
        ([0.000277, 0.5], 1, ["3e-04", "0.5"]),
        # format.pval(c(1e-20, 3.26e-06), digits = 3)
        ([1e-20, 3.26e-06], 3, ["< 2e-16", "3.26e-06"]),
    ],
)
def test_format_pval_matches_r(values: list[float], digits: int, expected: list[str]) -> None:
    assert _format_pval(values, digits) == expected


@pytest.mark.parametrize(
    ("names", "minlength", "expected"),
    [
        (["(Intercept)", "standLRT"], 6, ["(Intr)", "stnLRT"]),
        (["SexMale", "age:SexMale", "age"], 6, ["SexMal", "ag:SxM", "age"]),
        (["Alabama", "Alaska", "Arizona", "Arkansas", "California"], 4,
         ["Albm", "Alsk", "Arzn", "Arkn", "Clfr"]),
        (["age:SexMale"], 11, ["age:SexMale"]),
        (["schgendgirls", "schgendmixed"], 6, ["schgndg", "schgndm"]),
    ],
)  # fmt: skip
def test_abbreviate_matches_r(names: list[str], minlength: int, expected: list[str]) -> None:
    assert _abbreviate(names, minlength) == expected


# -- HTML ----------------------------------------------------------------------------------


def test_html_has_the_same_blocks() -> None:
    out = format_summary_html(standin("exam_rs", n_dropped=2, singular=True))
    assert out.startswith('<div class="lmeformula-summary">')
    assert out.endswith("</div>")
    assert "Linear mixed model fit by REML [&#x27;lmerMod&#x27;]" in out
    assert "REML criterion at convergence: 9327.6" in out
    assert out.count("<table") == 4  # residuals, random, fixed, correlation
    assert "<th>Std. Error</th>" in out
    assert "<td>0.55653</td>" in out
    assert "<th>(Intercept)</th>" in out
    assert "2 observations deleted due to missingness" in out
    assert "boundary (singular) fit" in out


def test_html_without_fixed_correlation() -> None:
    out = format_summary_html(standin("dyestuff"))
    assert out.count("<table") == 3
    assert "Correlation" not in out
