"""The diagnostic plots: each draws the numbers it stands for, labels its axes, and its text
neither overlaps nor falls off the figure (a cheap legibility check on the rendered figure).

The numbers drawn are compared with the library's own tables (ranef_table, fitted, predict,
acf_data, variogram_data), which other tests compare with R; the plotted data must equal
them to floating-point precision (1e-12).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

import lmeformula as lmf
from lmeformula.errors import ArgumentTypeError, DataError

Z95 = stats.norm.ppf(0.975)  # lme4's qnorm(0.975), the "1.96" of the intervals


@pytest.fixture(scope="module")
def sleep() -> lmf.LmerResult:
    return lmf.lmer("Reaction ~ Days + (Days | Subject)", lmf.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def exam() -> lmf.LmerResult:
    return lmf.lmer("normexam ~ standLRT + (standLRT | school)", lmf.datasets.load("exam"))


@pytest.fixture(scope="module")
def bodyweight() -> lmf.LmerResult:
    return lmf.lmer(
        "weight ~ Time * Diet + (1 | Rat)",
        lmf.datasets.load("bodyweight"),
        residual=lmf.CAR1("Time | Rat"),
    )


@pytest.fixture(scope="module")
def ovary() -> lmf.LmerResult:
    return lmf.lmer(
        "follicles ~ sin(2*pi*Time) + cos(2*pi*Time) + (1 | Mare)",
        lmf.datasets.load("ovary"),
        residual=lmf.AR1("1 | Mare"),
    )


# -- legibility ------------------------------------------------------------------------------


def _visible_texts(fig: Figure) -> list[Any]:
    """Every piece of text drawn: titles, axis labels, tick labels in view, annotations,
    legend entries, figure-level titles."""
    texts = [
        t
        for t in (
            getattr(fig, "_suptitle", None),
            getattr(fig, "_supxlabel", None),
            getattr(fig, "_supylabel", None),
        )
        if t is not None
    ]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        texts += list(ax.texts)
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            eps = 1e-9 * (hi - lo)
            locs = axis.get_majorticklocs()
            labels = axis.get_ticklabels()
            texts += [
                lab for loc, lab in zip(locs, labels, strict=False) if lo - eps <= loc <= hi + eps
            ]
        legend = ax.get_legend()
        if legend is not None:
            texts += list(legend.get_texts())
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _check_legible(fig: Figure) -> None:
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _visible_texts(fig)
    boxes = [t.get_window_extent(renderer) for t in texts]
    page = fig.bbox
    for t, b in zip(texts, boxes, strict=True):
        inside = (
            b.x0 >= page.x0 - 1 and b.y0 >= page.y0 - 1 and b.x1 <= page.x1 + 1
        ) and b.y1 <= page.y1 + 1
        assert inside, f"text {t.get_text()!r} falls off the figure: {b} outside {page}"
    for (ta, a), (tb, b) in itertools.combinations(zip(texts, boxes, strict=True), 2):
        # Half a pixel of slack: touching boxes of adjacent labels do not overlap.
        a_in, b_in = a.padded(-0.5), b.padded(-0.5)
        assert not a_in.overlaps(b_in), f"{ta.get_text()!r} overlaps {tb.get_text()!r}"


def _gid(ax: Any, gid: str) -> Any:
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, f"{gid}: {len(found)} artists"
    return found[0]


def _labelled(ax: Any) -> None:
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


# -- caterpillar -----------------------------------------------------------------------------


@pytest.mark.parametrize("fit_name", ["sleep", "exam"])
def test_caterpillar_draws_modes_and_intervals(fit_name: str, request: Any) -> None:
    fit = request.getfixturevalue(fit_name)
    fig = fit.plot_caterpillar()
    assert isinstance(fig, Figure)
    table = fit.ranef_table()
    group = table["grpvar"].iloc[0]
    terms = list(dict.fromkeys(table["term"]))
    assert [ax.get_title() for ax in fig.axes] == [f"{group}: {t}" for t in terms]
    # lme4's order: by the first column's mode, shared by every panel.
    first = table[table["term"] == terms[0]].set_index("grp")["condval"]
    order = list(first.sort_values(kind="stable").index)
    _labelled(fig.axes[0])
    for ax, term in zip(fig.axes, terms, strict=True):
        assert ax.get_xlabel() == "Conditional mode ± 1.96 conditional SD"
        sub = table[table["term"] == term].set_index("grp").loc[order]
        modes = _gid(ax, "modes")
        np.testing.assert_allclose(modes.get_xdata(), sub["condval"], rtol=1e-12)
        np.testing.assert_array_equal(modes.get_ydata(), np.arange(len(order)))
        segments = np.array(_gid(ax, "intervals").get_segments())
        half = (segments[:, 1, 0] - segments[:, 0, 0]) / 2
        np.testing.assert_allclose(half, Z95 * sub["condsd"], rtol=1e-12)
        np.testing.assert_allclose(segments[:, 0, 0] + half, sub["condval"], rtol=1e-9)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == order
    _check_legible(fig)


def test_caterpillar_drops_labels_beyond_max_labels(exam: lmf.LmerResult) -> None:
    fig = exam.plot_caterpillar(max_labels=60)
    ax = fig.axes[0]
    assert list(ax.get_yticks()) == []
    assert [t.get_text() for t in ax.texts] == ["65 levels; labels omitted"]
    _check_legible(fig)


def test_caterpillar_drops_labels_in_a_short_panel(exam: lmf.LmerResult) -> None:
    # 65 labels in a 3-inch panel would need 3-point type. (The caller's figure, so the
    # caller's layout: constrained, lest the axis labels fall off.)
    fig = Figure(figsize=(8, 3), layout="constrained")
    exam.plot_caterpillar(axes=fig.subplots(1, 2))
    assert list(fig.axes[0].get_yticks()) == []
    _check_legible(fig)


def test_legibility_check_catches_crowded_labels() -> None:
    # The check above must be able to fail: 65 labels of 9-point type in a 3-inch panel.
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.set_yticks(range(65), labels=[str(i) for i in range(65)], fontsize=9)
    with pytest.raises(AssertionError, match="overlaps"):
        _check_legible(fig)
    fig = Figure(figsize=(4, 3))
    fig.add_subplot().set_title("a title far too long to fit a four-inch-wide figure " * 2)
    with pytest.raises(AssertionError, match="falls off"):
        _check_legible(fig)


def test_caterpillar_into_given_axes(sleep: lmf.LmerResult) -> None:
    fig = Figure(figsize=(8, 4))
    axes = fig.subplots(1, 2)
    assert sleep.plot_caterpillar(axes=axes, level=0.9) is fig
    half = np.diff(np.array(_gid(axes[1], "intervals").get_segments())[:, :, 0], axis=1)[:, 0]
    table = sleep.ranef_table()
    sd = table[table["term"] == "Days"]["condsd"].to_numpy()
    np.testing.assert_allclose(np.sort(half / 2), np.sort(stats.norm.ppf(0.95) * sd))


# -- residuals -------------------------------------------------------------------------------


@pytest.mark.parametrize("resid_type", ["pearson", "normalized", "response"])
def test_residuals_vs_fitted(bodyweight: lmf.LmerResult, resid_type: str) -> None:
    fig = lmf.plots.residuals_vs_fitted(bodyweight, resid_type=resid_type)
    (ax,) = fig.axes
    _labelled(ax)
    points = _gid(ax, "points")
    np.testing.assert_allclose(points.get_xdata(), bodyweight.fitted(), rtol=1e-12)
    np.testing.assert_allclose(points.get_ydata(), bodyweight.residuals(resid_type), rtol=1e-12)
    smooth = _gid(ax, "smooth")
    assert np.all(np.diff(smooth.get_xdata()) >= 0)
    _check_legible(fig)


def test_qq_of_residuals(sleep: lmf.LmerResult) -> None:
    fig = sleep.plot_qq()
    (ax,) = fig.axes
    _labelled(ax)
    r = np.sort(sleep.residuals("pearson"))
    points = _gid(ax, "points")
    # R's qqnorm: qnorm(ppoints(180)) = qnorm((1:180 - 0.5) / 180).
    np.testing.assert_allclose(points.get_xdata(), stats.norm.ppf((np.arange(180) + 0.5) / 180))
    np.testing.assert_allclose(points.get_ydata(), r, rtol=1e-12)
    # R's qqline: through the quartiles of the residuals at qnorm(0.25), qnorm(0.75).
    line = _gid(ax, "qqline")
    x, y = line.get_xdata(), line.get_ydata()
    slope = (y[1] - y[0]) / (x[1] - x[0])
    q = np.quantile(r, [0.25, 0.75])
    np.testing.assert_allclose(y[0] + slope * (stats.norm.ppf([0.25, 0.75]) - x[0]), q)
    _check_legible(fig)


def test_qq_of_random_effects(exam: lmf.LmerResult) -> None:
    fig = exam.plot_ranef_qq()
    assert [ax.get_title() for ax in fig.axes] == ["school: (Intercept)", "school: standLRT"]
    for ax, col in zip(fig.axes, ["(Intercept)", "standLRT"], strict=True):
        _labelled(ax)
        modes = np.sort(exam.ranef["school"][col].to_numpy())
        np.testing.assert_allclose(_gid(ax, "points").get_ydata(), modes, rtol=1e-12)
        # ppoints(65): (1:65 - 0.5) / 65.
        theo = stats.norm.ppf((np.arange(65) + 0.5) / 65)
        np.testing.assert_allclose(_gid(ax, "points").get_xdata(), theo)
    _check_legible(fig)


# -- trajectories ----------------------------------------------------------------------------


def test_trajectories_draw_observed_fitted_and_population(sleep: lmf.LmerResult) -> None:
    fig = sleep.plot_trajectories("Days")
    (ax,) = fig.axes
    _labelled(ax)
    frame = sleep.model_frame
    fitted, pop = sleep.fitted(), sleep.predict(re_form="~0")
    for subject in ["308", "335"]:
        rows = np.flatnonzero(frame["Subject"].to_numpy() == subject)
        obs = _gid(ax, f"observed:{subject}")
        np.testing.assert_array_equal(obs.get_ydata(), frame["Reaction"].to_numpy()[rows])
        line = _gid(ax, f"fitted:{subject}")
        np.testing.assert_array_equal(line.get_xdata(), frame["Days"].to_numpy()[rows])
        np.testing.assert_allclose(line.get_ydata(), fitted[rows], rtol=1e-12)
    # The fixed part depends on Days alone: one population line.
    population = _gid(ax, "population:0")
    np.testing.assert_array_equal(population.get_xdata(), np.arange(10))
    np.testing.assert_allclose(population.get_ydata(), pop[:10], rtol=1e-12)
    assert population.get_linewidth() > _gid(ax, "fitted:308").get_linewidth()
    _check_legible(fig)


def test_trajectories_one_population_line_per_diet(bodyweight: lmf.LmerResult) -> None:
    fig = bodyweight.plot_trajectories("Time")
    (ax,) = fig.axes
    lines = [a for a in ax.get_lines() if str(a.get_gid()).startswith("population:")]
    assert len(lines) == 3
    _check_legible(fig)


def test_trajectories_small_multiples(sleep: lmf.LmerResult) -> None:
    fig = sleep.plot_trajectories("Days", facet=True)
    assert len(fig.axes) == 18
    levels = sorted(sleep.ranef["Subject"].index)
    assert [ax.get_title() for ax in fig.axes] == levels
    assert fig._supxlabel.get_text() == "Days" and fig._supylabel.get_text() == "Reaction"
    ax = fig.axes[0]
    rows = np.flatnonzero(sleep.model_frame["Subject"].to_numpy() == levels[0])
    np.testing.assert_allclose(_gid(ax, f"fitted:{levels[0]}").get_ydata(), sleep.fitted()[rows])
    np.testing.assert_allclose(
        _gid(ax, f"population:{levels[0]}").get_ydata(), sleep.predict(re_form="~0")[rows]
    )
    _check_legible(fig)


def test_trajectories_many_subjects(exam: lmf.LmerResult) -> None:
    fig = exam.plot_trajectories("standLRT")
    (ax,) = fig.axes
    fitted = [a for a in ax.get_lines() if str(a.get_gid()).startswith("fitted:")]
    assert len(fitted) == 65
    _check_legible(fig)
    with pytest.raises(DataError, match="max_facets"):
        exam.plot_trajectories("standLRT", facet=True)
    fig = exam.plot_trajectories("standLRT", facet=True, subjects=["1", "2", "3"])
    assert [ax.get_title() for ax in fig.axes] == ["1", "2", "3"]


def test_trajectories_x_from_data() -> None:
    data = lmf.datasets.load("sleepstudy")
    data["Week"] = data["Days"] / 7
    fit = lmf.lmer("Reaction ~ Days + (1 | Subject)", data)
    with pytest.raises(DataError, match="data="):
        fit.plot_trajectories("Week")
    fig = fit.plot_trajectories("Week", data=data, subjects="308")
    np.testing.assert_allclose(_gid(fig.axes[0], "fitted:308").get_xdata(), np.arange(10) / 7)


# -- serial correlation ----------------------------------------------------------------------


def test_variogram_plot(bodyweight: lmf.LmerResult) -> None:
    fig = bodyweight.plot_variogram(time="Time")
    (ax,) = fig.axes
    _labelled(ax)
    table = lmf.plots.variogram_data(bodyweight, time="Time")
    points = _gid(ax, "points")
    np.testing.assert_array_equal(points.get_xdata(), table["dist"])
    np.testing.assert_array_equal(points.get_ydata(), table["variog"])
    assert list(_gid(ax, "independence").get_ydata()) == [1.0, 1.0]
    assert ax.get_ylim()[0] == 0.0
    _gid(ax, "smooth")
    _check_legible(fig)


def test_acf_plot(ovary: lmf.LmerResult) -> None:
    fig = ovary.plot_acf()
    (ax,) = fig.axes
    _labelled(ax)
    table = lmf.plots.acf_data(ovary)
    segments = np.array(_gid(ax, "acf").get_segments())
    np.testing.assert_array_equal(segments[:, 0, 0], table["lag"])
    np.testing.assert_array_equal(segments[:, 1, 1], table["acf"])
    # nlme's plot.ACF bands: qnorm(1 - alpha / 2) / sqrt(n.used).
    band = _gid(ax, "band_upper").get_ydata()
    np.testing.assert_allclose(band, Z95 / np.sqrt(table["n_used"]), rtol=1e-12)
    np.testing.assert_allclose(_gid(ax, "band_lower").get_ydata(), -band)
    _check_legible(fig)
    assert not [a for a in lmf.plots.acf(ovary, alpha=0).axes[0].lines if a.get_gid()]


def test_draws_into_given_axes(ovary: lmf.LmerResult) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert lmf.plots.variogram(ovary, time="Time", ax=ax) is fig
    sub = Figure().subfigures(1, 2)[0]
    ax = sub.add_subplot()
    assert lmf.plots.qq(ovary, ax=ax) is ax.figure.figure


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f: lmf.plots.qq(f, ax="left"), ArgumentTypeError, "Axes"),
        (lambda f: lmf.plots.caterpillar(f, axes=Figure().subplots(1, 2)), ArgumentTypeError, "1"),
        (lambda f: lmf.plots.caterpillar(f, group="Horse"), DataError, "Horse"),
        (lambda f: lmf.plots.caterpillar(f, level=95), ArgumentTypeError, "level"),
        (lambda f: lmf.plots.trajectories(f, x="Mare"), DataError, "numeric"),
        (lambda f: lmf.plots.trajectories(f, x="Time", subjects=["99"]), DataError, "99"),
        (lambda f: lmf.plots.acf(f, alpha=5), ArgumentTypeError, "alpha"),
    ],
    ids=["ax", "axes-count", "group", "level", "x-not-numeric", "subject", "alpha"],
)
def test_bad_arguments(ovary: lmf.LmerResult, call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call(ovary)


def test_gls_has_no_random_effects_to_plot() -> None:
    fit = lmf.gls(
        "distance ~ age", lmf.datasets.load("orthodont"), residual=lmf.AR1("age | Subject")
    )
    with pytest.raises(DataError, match="no random effects"):
        fit.plot_caterpillar()
    # Trajectories follow the residual structure's subjects.
    fig = fit.plot_trajectories("age")
    assert fig.axes[0].get_title() == "distance by Subject: observed and fitted"


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, lmeformula; print('matplotlib' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"
