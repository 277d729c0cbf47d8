"""Every result object a user meets in a notebook shows as readable HTML (``_repr_html_``):
well-formed, with its tables as tables and its headings and notes as text beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from html.parser import HTMLParser
from typing import Any

import pytest

import lmeformula as lmf
from lmeformula.results.noted import NotedFrame

VOID = {"br", "hr", "img", "meta", "input", "col"}


class _Checker(HTMLParser):
    """Collects the text and checks that every tag is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(markup: str) -> _Checker:
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert not checker.problems, checker.problems
    assert not checker.stack, f"unclosed tags: {checker.stack}"
    return checker


@cache
def _fits() -> dict[str, Any]:
    sleep = lmf.datasets.load("sleepstudy")
    ri = lmf.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    rs = lmf.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    return {"sleep": sleep, "ri": ri, "rs": rs}


@cache
def _cbpp() -> Any:
    cbpp = lmf.datasets.load("cbpp")
    return lmf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)


@cache
def _cbpp_null() -> Any:
    cbpp = lmf.datasets.load("cbpp")
    return lmf.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp)


def _anova_pair() -> Any:
    f = _fits()
    return lmf.anova(f["ri"], f["rs"])


def _selection() -> Any:
    orth = lmf.datasets.load("orthodont")
    return lmf.select_covariance(
        "distance ~ age", orth, subject="Subject", time="age", candidates=("CS", "AR1")
    )


# (id, the object, texts its HTML must show, its number of tables)
CASES: list[tuple[str, Callable[[], Any], list[str], int]] = [
    (
        "fit",
        lambda: _fits()["rs"],
        ["Linear mixed model fit by REML", "Random effects:", "Fixed effects:", "251.405"],
        4,
    ),
    (
        "summary-satterthwaite",
        lambda: _fits()["rs"].summary(ddf="satterthwaite"),
        ["Satterthwaite", "Pr(>|t|)", "Signif. codes"],
        4,
    ),
    (
        "anova-of-two-fits",
        _anova_pair,
        ["Models:", "Pr(>Chisq) mixture", "read Pr(>Chisq) mixture"],
        1,
    ),
    (
        "type-3-anova",
        lambda: _fits()["rs"].anova(),
        ["Type III Analysis of Variance Table with Satterthwaite's method", "Days"],
        1,
    ),
    (
        "ranova",
        lambda: _fits()["rs"].ranova(),
        ["ANOVA-like table for random-effects", "p_value_mixture", "Where p_value_mixture"],
        1,
    ),
    (
        "compare",
        lambda: lmf.compare(_fits()["ri"], _fits()["rs"], names=["ri", "rs"]),
        ["rs has the lowest AIC", "delta_aic", "weight"],
        1,
    ),
    ("selection", _selection, ["has the lowest AIC", "All candidates share the mean model"], 1),
    (
        "glmer-fit",
        _cbpp,
        [
            "Generalized linear mixed model fit by maximum likelihood (Laplace",
            "Family: binomial  ( logit )",
            "Pr(>|z|)",
            "period4",
        ],
        4,
    ),
    (
        "glmer-anova",
        lambda: lmf.anova(_cbpp_null(), _cbpp()),
        ["Models:", "Pr(>Chisq)"],
        1,
    ),
    (
        "bootstrap",
        lambda: _fits()["ri"].bootstrap(4, seed=1, progress=False),
        ["Parametric bootstrap: 4 replicates", "std_error", ".sig01"],
        1,
    ),
]


@pytest.mark.parametrize(("name", "make", "texts", "n_tables"), CASES, ids=[c[0] for c in CASES])
def test_result_objects_show_as_html(
    name: str, make: Callable[[], Any], texts: list[str], n_tables: int
) -> None:
    obj = make()
    markup = obj._repr_html_()
    assert isinstance(markup, str)
    checker = _parse(markup)
    assert checker.tags.count("table") == n_tables
    text = "".join(checker.text)
    for piece in texts:
        assert piece in text, f"{piece!r} not in the HTML text of {name}"


def test_a_fit_shows_as_its_summary() -> None:
    fit = _fits()["rs"]
    assert fit._repr_html_() == fit.summary()._repr_html_()


def test_notes_are_escaped() -> None:
    table = NotedFrame({"x": [1.0]})
    table.attrs["heading"] = "a < b"
    table.attrs["note"] = "c & <d>"
    markup = table._repr_html_()
    assert "a &lt; b" in markup and "c &amp; &lt;d&gt;" in markup
    _parse(markup)


def test_numbers_in_noted_tables_show_six_significant_digits() -> None:
    table = NotedFrame({"aic": [9328.870965, 9696.162381], "weight": [0.9578614, 1.678746e-80]})
    markup = table._repr_html_()
    for text in ("9328.87", "9696.16", "0.957861", "1.67875e-80"):
        assert f">{text}<" in markup, markup
    assert "9.578614e-01" not in markup
