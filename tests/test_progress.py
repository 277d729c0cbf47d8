"""Progress bars on long work: shown when asked, silent when not, and after a delay by default.

Every entry point with ``progress=`` shares :func:`lmeformula.fitting.progress.progress_bar`;
each is run here on a small model with the three settings (tqdm writes its text bar to stderr).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import lmeformula as lmf
import lmeformula.fitting.progress
from lmeformula.errors import ArgumentTypeError


@pytest.fixture(scope="module")
def dyestuff_fit() -> lmf.LmerResult:
    return lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))


def _bootstrap(fit: lmf.LmerResult, progress: Any) -> Any:
    return fit.bootstrap(3, seed=1, progress=progress)


def _profile(fit: lmf.LmerResult, progress: Any) -> Any:
    # A fresh copy of the fit each time: profiles are cached on the fit.
    fresh = lmf.lmer(fit.formula, lmf.datasets.load("dyestuff"))
    return fresh.profile(which=".sig01", progress=progress)


def _confint_profile(fit: lmf.LmerResult, progress: Any) -> Any:
    fresh = lmf.lmer(fit.formula, lmf.datasets.load("dyestuff"))
    return fresh.confint(parm=".sigma", progress=progress)


def _confint_boot(fit: lmf.LmerResult, progress: Any) -> Any:
    return fit.confint(method="boot", nsim=3, seed=1, progress=progress)


def _select_covariance(fit: lmf.LmerResult, progress: Any) -> Any:
    orth = lmf.datasets.load("orthodont")
    return lmf.select_covariance(
        "distance ~ age",
        orth,
        subject="Subject",
        time="age",
        candidates=("CS", "AR1"),
        progress=progress,
    )


def _select_random(fit: lmf.LmerResult, progress: Any) -> Any:
    sleep = lmf.datasets.load("sleepstudy")
    return lmf.select_random(
        "Reaction ~ Days",
        sleep,
        ["(1 | Subject)", "(Days | Subject)"],
        progress=progress,
    )


# (id, call, the bar's description)
CALLS: list[tuple[str, Callable[[lmf.LmerResult, Any], Any], str]] = [
    ("bootstrap", _bootstrap, "bootstrap"),
    ("profile", _profile, "profile"),
    ("confint-profile", _confint_profile, "profile"),
    ("confint-boot", _confint_boot, "bootstrap"),
    ("select_covariance", _select_covariance, "select_covariance"),
    ("select_random", _select_random, "select_random"),
]
IDS = [c[0] for c in CALLS]


@pytest.mark.parametrize(("name", "call", "desc"), CALLS, ids=IDS)
def test_progress_true_shows_the_bar(
    name: str, call: Callable[..., Any], desc: str, dyestuff_fit: lmf.LmerResult, capsys: Any
) -> None:
    call(dyestuff_fit, True)
    err = capsys.readouterr().err
    assert f"{desc}: 100%" in err, err


@pytest.mark.parametrize(("name", "call", "desc"), CALLS, ids=IDS)
def test_progress_false_and_quick_default_print_nothing(
    name: str, call: Callable[..., Any], desc: str, dyestuff_fit: lmf.LmerResult, capsys: Any
) -> None:
    call(dyestuff_fit, False)
    assert capsys.readouterr().err == ""
    # The default waits AUTO_DELAY (2 s) before showing anything; these calls take less.
    call(dyestuff_fit, None)
    assert desc not in capsys.readouterr().err


@pytest.mark.parametrize(("name", "call", "desc"), CALLS, ids=IDS)
def test_default_shows_the_bar_once_the_delay_has_passed(
    name: str,
    call: Callable[..., Any],
    desc: str,
    dyestuff_fit: lmf.LmerResult,
    capsys: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(lmeformula.fitting.progress, "AUTO_DELAY", 0.0)
    call(dyestuff_fit, None)
    assert f"{desc}: 100%" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "call", "desc"), CALLS, ids=IDS)
@pytest.mark.parametrize("bad", ["yes", 1, 0.5])
def test_progress_must_be_true_false_or_none(
    name: str, call: Callable[..., Any], desc: str, bad: Any, dyestuff_fit: lmf.LmerResult
) -> None:
    with pytest.raises(ArgumentTypeError, match="progress must be True, False or None"):
        call(dyestuff_fit, bad)
