"""lme4's ``summary(merMod)`` printout, as text and as HTML.

The text follows ``lme4:::print.summary.merMod`` and the helpers it calls (``.prt.methTit``,
``.prt.call``, ``.prt.aictab``, ``.prt.resids``, ``.prt.VC``/``formatVC``, ``.prt.grps``,
``printCoefmat``, ``.prt.warn``), with R's number formatting (``format``, ``formatReal``,
``zapsmall``, ``abbreviate``) re-implemented below, so that a summary printed here can be
laid next to R's and compared line by line.

Only the documented attributes of a results object are used: ``formula``, ``data_name``,
``reml``, ``nobs``, ``n_dropped``, ``ngroups``, ``loglik``, ``aic``, ``bic``,
``deviance``, ``reml_criterion``, ``df_resid``, ``sigma``, ``fixef``, ``fixef_se``,
``vcov``, ``varcorr()``, ``residuals(type)``, ``singular`` and ``optinfo``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["format_summary", "format_summary_html"]

#: R's ``getOption("width")``: matrices wider than this are printed in column chunks.
R_WIDTH = 80
#: ``getOption("lme4.summary.cor.max")``: no fixed-effects correlation beyond this many.
COR_MAX = 12
#: lme4's message for a singular fit, stored among the convergence messages.
SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"


# -- R's number formatting -----------------------------------------------------------------


def _scientific(x: float, digits: int) -> tuple[bool, int, int, bool]:
    """R's ``scientific()`` (format.c): sign, decimal exponent, significant digits needed.

    ``nsig`` is how many of the ``digits`` significant digits are needed once trailing
    zeros are dropped; ``rounding_widens`` flags values such as 99999.7 that rounding to
    ``digits`` digits pushes to the next power of ten although fixed notation would not.
    """
    if x == 0:
        return False, 0, 1, False
    neg = x < 0
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    kpower = int(exponent)
    sig = mantissa.replace(".", "").rstrip("0")
    nsig = max(1, len(sig))
    widens = 0 < kpower <= 22 and abs(x) < 10.0**kpower
    return neg, kpower, nsig, widens


def _format_real(values: Sequence[float], digits: int = 7, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` of a numeric vector.

    One common layout for all elements (R's ``formatReal``): fixed notation with as many
    decimals as the element needing most of them, unless scientific notation is narrower;
    every string right-justified to the common width.
    """
    vals = [float(v) for v in values]
    finite = [v for v in vals if math.isfinite(v)]
    width, dec, sci = 0, 0, False
    if finite:
        neg = rgt = 0
        mxsl = mxns = mxl = -(10**9)
        mnl = 10**9
        for v in finite:
            neg_i, kpower, nsig, widens = _scientific(v, digits)
            left = kpower + 1 - (1 if widens else 0)
            sleft = int(neg_i) + (1 if left <= 0 else left)
            rgt = max(rgt, nsig - left)
            mxl, mnl = max(mxl, left), min(mnl, left)
            mxsl, mxns = max(mxsl, sleft), max(mxns, nsig)
            neg = neg or neg_i
        if mxl < 0:
            mxsl = 1 + int(neg)
        rgt = max(rgt, 0)
        width_fixed = mxsl + rgt + (rgt != 0)
        e = 2 if (mxl > 100 or mnl <= -99) else 1
        dec_sci = mxns - 1
        width_sci = int(neg) + (dec_sci > 0) + dec_sci + 4 + e
        if width_fixed <= width_sci:  # R's scipen = 0
            rgt = max(rgt, nsmall)
            width, dec = mxsl + rgt + (rgt != 0), rgt
        else:
            width, dec, sci = width_sci, dec_sci, True
    out = []
    for v in vals:
        if math.isnan(v):
            text = "NaN"
        elif math.isinf(v):
            text = "Inf" if v > 0 else "-Inf"
        elif sci:
            text = f"{v:.{dec}e}"
        else:
            text = f"{v:.{dec}f}"
            if text.startswith("-") and float(text) == 0:
                text = text[1:]  # R prints round(-0.0001, 2) as 0.00, not -0.00
        out.append(text)
    width = max([width, *(len(t) for t in out)])
    return [t.rjust(width) for t in out]


def _format_one(x: float, digits: int = 7) -> str:
    """How ``cat()`` and ``format()`` show a single number (7 significant digits)."""
    return _format_real([x], digits)[0].strip()


def _round(x: float, ndigits: int) -> float:
    return round(float(x), ndigits) if math.isfinite(x) else float(x)


def _zapsmall(values: Sequence[float], digits: int) -> list[float]:
    """R's ``zapsmall``: round so that values tiny next to the largest become 0.

    As R 4.2 (the reference R): ``round(x, digits - log10(mx))``, where ``round`` takes the
    nearest whole number of decimals (Penicillin's scaled residuals print 0.06292).
    """
    finite = [abs(v) for v in values if math.isfinite(v)]
    mx = max(finite, default=0.0)
    if mx <= 0:
        return [float(v) for v in values]
    ndig = max(0, math.floor(digits - math.log10(mx) + 0.5))
    return [_round(v, ndig) for v in values]


def _abbreviate_one(name: str, minlength: int) -> str:
    """R's C routine ``stripchars`` (``abbreviate(use.classes = TRUE)``) for one string.

    Drops, from the right, lower-case vowels ending a word, then lower-case vowels not
    starting a word, then lower-case letters ending a word, then lower-case letters not
    starting a word, then any character not starting a word, stopping as soon as the
    string (spaces not counted) is ``minlength`` long.
    """
    b = list(name.lstrip())

    def space(i: int) -> bool:
        return 0 <= i < len(b) and b[i].isspace()

    def first_char(i: int) -> bool:
        return space(i - 1)

    def last_char(i: int) -> bool:
        return not space(i - 1) and (i + 1 >= len(b) or space(i + 1))

    def vowel(i: int) -> bool:
        return i < len(b) and b[i] in "aeiou"

    def lower(i: int) -> bool:
        return i < len(b) and b[i].islower()

    nspace = 0

    def short_enough() -> bool:
        return len(b) - nspace <= minlength

    def finish() -> str:
        if len(b) > minlength:
            return "".join(c for k, c in enumerate(b) if k == 0 or not c.isspace())
        return "".join(b)

    if len(b) < minlength:
        return finish()
    trailing = True
    for i in range(len(b) - 1, 0, -1):
        if b[i].isspace():
            if trailing:
                del b[i]
            else:
                nspace += 1
        else:
            trailing = False
        if short_enough():
            return finish()

    rules = [
        lambda i: vowel(i) and last_char(i),
        lambda i: vowel(i) and not first_char(i),
        lambda i: lower(i) and last_char(i),
        lambda i: lower(i) and not first_char(i),
        # Brute force when the letter classes did not get there.
        lambda i: i < len(b) and not first_char(i) and not space(i),
    ]
    for rule in rules:
        for i in range(len(b) - 1, 0, -1):
            if rule(i):
                del b[i]
            if short_enough():
                return finish()
    return finish()


def _abbreviate(names: Sequence[str], minlength: int) -> list[str]:
    """R's ``abbreviate(names, minlength)``: raise ``minlength`` until abbreviations differ."""
    stripped = [str(n).strip(" ") for n in names]
    unique = list(dict.fromkeys(stripped))
    abbr = [""] * len(unique)
    todo = list(range(len(unique)))
    minl = minlength
    while True:
        for i in todo:
            abbr[i] = _abbreviate_one(unique[i], minl)
        seen: set[str] = set()
        dups = set()
        for a in abbr:
            if a in seen:
                dups.add(a)
            seen.add(a)
        if not dups:
            break
        minl += 1
        todo = [i for i, a in enumerate(abbr) if a in dups]
    lookup = dict(zip(unique, abbr, strict=True))
    return [lookup[n] for n in stripped]


# -- R's print() of vectors and matrices ---------------------------------------------------


def _print_named_vector(names: Sequence[str], values: Sequence[str]) -> list[str]:
    """``print()`` of a named vector: right-justified names over values, a common width."""
    width = max([*(len(n) for n in names), *(len(v) for v in values)])
    per_line = max(1, R_WIDTH // (width + 1))
    lines = []
    for start in range(0, len(values), per_line):
        chunk = slice(start, start + per_line)
        lines.append("".join(f"{n:>{width}} " for n in names[chunk]))
        lines.append("".join(f"{v:>{width}} " for v in values[chunk]))
    return lines


def _print_matrix(
    rownames: Sequence[str],
    colnames: Sequence[str],
    cells: Sequence[Sequence[str]],
    *,
    right: bool,
) -> list[str]:
    """``print(m, quote = FALSE, right = right)`` of a character matrix.

    Row names are left-justified; cells and column names are justified as ``right`` says;
    columns that do not fit in 80 characters go to a further block, as R does.
    """
    ncol = len(colnames)
    rlabw = max((len(r) for r in rownames), default=0)
    widths = [max([len(colnames[j]), *(len(row[j]) for row in cells)]) for j in range(ncol)]

    def just(text: str, w: int) -> str:
        return text.rjust(w) if right else text.ljust(w)

    lines: list[str] = []
    jmin = 0
    while jmin < ncol:
        width = rlabw
        jmax = jmin
        while True:
            width += widths[jmax] + 1
            jmax += 1
            if not (jmax < ncol and width + widths[jmax] + 1 < R_WIDTH):
                break
        cols = range(jmin, jmax)
        lines.append(" " * rlabw + "".join(" " + just(colnames[j], widths[j]) for j in cols))
        for rn, row in zip(rownames, cells, strict=True):
            lines.append(rn.ljust(rlabw) + "".join(" " + just(row[j], widths[j]) for j in cols))
        jmin = jmax
    return lines


# -- the blocks of lme4's summary ----------------------------------------------------------


@dataclass
class _Table:
    rownames: list[str]
    colnames: list[str]
    cells: list[list[str]]
    right: bool

    def text(self) -> list[str]:
        return _print_matrix(self.rownames, self.colnames, self.cells, right=self.right)


@dataclass
class _Blocks:
    header: list[str]
    criterion: list[str]
    resid_names: list[str]
    resid_values: list[str]
    random: _Table
    groups: list[str]
    fixed: _Table | None
    correlation: _Table | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)


_DDF_NAMES = {
    "satterthwaite": "Satterthwaite's method",
    "kenward-roger": "Kenward-Roger's method",
    "wald": "the normal distribution",
}


def _lmertest_title(title: str, width: int = 80) -> list[str]:
    """lmerTest's title: R's ``strwrap(title, exdent = 2)`` then ``cat(" [", class, "]",
    fill = TRUE)``, which breaks before the class when the line would pass the width."""
    import textwrap

    lines = textwrap.wrap(title, width=width - 1, subsequent_indent="  ")
    last = f"{lines[-1]} ["
    if len(last) + len("lmerModLmerTest]") > width:
        return [*lines[:-1], last, "lmerModLmerTest]"]
    return [*lines[:-1], f"{last}lmerModLmerTest]"]


def _glmer_header(result: Any) -> list[str]:
    """lme4's heading of a glmer fit: the method wrapped as R's ``strwrap`` at 80, the
    family and link."""
    import textwrap

    nagq = int(result.nagq)
    method = (
        "Laplace Approximation"
        if nagq == 1
        else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {nagq}"
    )
    title = f"Generalized linear mixed model fit by maximum likelihood ({method}) [glmerMod]"
    lines = textwrap.wrap(title, width=79, subsequent_indent="  ", break_on_hyphens=False)
    family = result.family
    lines.append(f" Family: {family.name}  ( {family.link.name} )")
    lines.append(f"Formula: {result.formula}")
    if result.data_name is not None:
        lines.append(f"   Data: {result.data_name}")
    return lines


def _header(result: Any, ddf: str | None = None) -> list[str]:
    if getattr(result, "family", None) is not None:
        return _glmer_header(result)
    if getattr(result, "is_gls", False):
        method = "REML" if result.reml else "maximum likelihood"
        lines = [f"Generalized least squares fit by {method}", f"Model: {result.formula}"]
        if result.data_name is not None:
            lines.append(f"  Data: {result.data_name}")
        return lines
    if result.reml:
        title = "Linear mixed model fit by REML"
    else:
        # R pastes an empty GLMM qualifier after "maximum likelihood", hence the 2 spaces.
        title = "Linear mixed model fit by maximum likelihood "
    if ddf is not None:
        lines = _lmertest_title(f"{title}. t-tests use {_DDF_NAMES[ddf]}")
    else:
        lines = [f"{title} ['lmerMod']"]
    lines.append(f"Formula: {result.formula}")
    if result.data_name is not None:
        lines.append(f"   Data: {result.data_name}")
    return lines


def _criterion(result: Any) -> list[str]:
    if result.reml:
        crit = result.reml_criterion
        if crit is None:
            crit = -2.0 * float(result.loglik)
        return [f"REML criterion at convergence: {_format_one(_round(crit, 1))}"]
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    # A glmer fit's "deviance" here is -2 logLik (its deviance() is another number).
    deviance = getattr(result, "minus2loglik", result.deviance)
    stats = [result.aic, result.bic, result.loglik, deviance, result.df_resid]
    rounded = [_round(v, 1) for v in stats]
    shown = _format_real(rounded)
    # lme4 formats df.resid on its own so that it prints as an integer.
    shown[-1] = _format_one(rounded[-1])
    return _print_named_vector(names, shown)


def _residual_quantiles(result: Any, digits: int) -> tuple[list[str], list[str]]:
    # lme4: residuals(m, "pearson", scaled = TRUE), divided by σ (a glmer fit's Pearson
    # residuals are not, unless asked).
    scaled = getattr(result, "scaled_residuals", None)
    res = np.asarray(scaled() if scaled else result.residuals("pearson"), dtype=float)
    res = res[~np.isnan(res)]
    names = ["Min", "1Q", "Median", "3Q", "Max"]
    if res.size == 0:
        return names, ["NA"] * 5
    # numpy's default "linear" quantile is R's type 7, quantile()'s default.
    q = np.quantile(res, [0.0, 0.25, 0.5, 0.75, 1.0])
    return names, _format_real(_zapsmall(q.tolist(), digits + 1), digits)


def _random_effects(result: Any, digits: int) -> _Table:
    """lme4's ``formatVC``: Groups, Name, Variance, Std.Dev. and lower-triangular Corr."""
    vc = result.varcorr()
    groups: list[tuple[str, list[str], list[float], list[float], dict]] = []
    index: dict[str, int] = {}
    for row in vc.itertuples(index=False):
        if math.isnan(float(row.vcov)):
            continue  # a residual structure's parameter: printed in its own block
        grp, var1, var2 = str(row.grp), _blank(row.var1), _blank(row.var2)
        if grp not in index:
            index[grp] = len(groups)
            groups.append((grp, [], [], [], {}))
        _, names, variances, sds, corr = groups[index[grp]]
        if var2 == "":
            names.append(var1)
            variances.append(float(row.vcov))
            sds.append(float(row.sdcor))
        else:
            corr[(var1, var2)] = float(row.sdcor)
    variances = [v for g in groups for v in g[2]]
    sds = [s for g in groups for s in g[3]]
    var_text = _format_real(variances, digits)
    sd_text = _format_real(sds, digits)

    # Correlations: per group, R formats the whole matrix (diagonal of 1s included) to
    # 2 decimals, keeps the lower triangle and drops the last, always empty, column.
    has_corr = any(g[4] for g in groups)
    maxlen = max((len(g[1]) for g in groups if g[4]), default=0)
    ncorr = max(maxlen - 1, 0)
    dig = max(2, digits - 2)
    rows: list[list[str]] = []
    k = 0
    for grp, names, _, _, corr in groups:
        p = len(names)
        corr_cells = [[""] * ncorr for _ in range(p)]
        if corr:
            mat = np.eye(p)
            for (a, b), r in corr.items():
                if a in names and b in names:
                    i, j = names.index(a), names.index(b)
                    mat[i, j] = mat[j, i] = r
            flat = _format_real([_round(v, dig) for v in mat.ravel()], nsmall=dig)
            for i in range(p):
                for j in range(min(i, ncorr)):
                    corr_cells[i][j] = flat[i * p + j]
        for i, name in enumerate(names):
            label = grp if i == 0 else ""
            # lme4 leaves the residual's Name empty.
            rows.append([label, name, var_text[k], sd_text[k], *corr_cells[i]])
            k += 1
    colnames = ["Groups", "Name", "Variance", "Std.Dev."]
    if has_corr:
        colnames += ["Corr"] + [""] * (ncorr - 1)
    return _Table([""] * len(rows), colnames, rows, right=False)


def _blank(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _structure(result: Any, digits: int) -> list[str]:
    """nlme's "Correlation Structure" / "Variance function" blocks, in one."""
    params: dict[str, float] = getattr(result, "residual_params", dict)()
    if not params:
        return []
    names = list(params)
    values = _format_real([float(v) for v in params.values()], digits)
    return [
        f"Residual structure: {result.residual_description}",
        " Parameter estimate(s):",
        *_print_named_vector(names, values),
    ]


def _groups_line(result: Any) -> list[str]:
    groups = "; ".join(f"{name}, {n}" for name, n in result.ngroups.items())
    if not groups:
        return [f"Number of obs: {int(result.nobs)}"]
    lines = [f"Number of obs: {int(result.nobs)}, groups:  {groups}"]
    dropped = int(getattr(result, "n_dropped", 0) or 0)
    if dropped > 0:
        # R's naprint(na.omit) text, indented as summary.lm prints it.
        noun = "observation" if dropped == 1 else "observations"
        lines.append(f"  ({dropped} {noun} deleted due to missingness)")
    return lines


SIGNIF_LEGEND = "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


def _format_pval(pv: Sequence[float], digits: int) -> list[str]:
    """R's ``format.pval(pv, digits, eps = .Machine$double.eps)``."""
    eps = 2.220446049250313e-16
    small = [v < eps for v in pv]
    rest = [v for v, s in zip(pv, small, strict=True) if not s]
    # R 4.2: fixed notation down to 1e-4 when more than one digit is asked for.
    expo = [math.floor(math.log10(v if v > 0 else 1e-50)) for v in rest]
    is_fixed = [e >= -3 or (e == -4 and digits > 1) for e in expo]
    fixp = [v for v, f in zip(rest, is_fixed, strict=True) if f]
    sci = [v for v, f in zip(rest, is_fixed, strict=True) if not f]
    fixed_text = dict(zip(fixp, _format_real(fixp, digits), strict=True)) if fixp else {}
    sci_text = dict(zip(sci, _format_real(sci, digits), strict=True)) if sci else {}
    texts = [fixed_text.get(v, sci_text.get(v, "")) for v in rest]
    out: list[str] = []
    it = iter(texts)
    if any(small):
        d = max(1, digits - 2)
        sep = " "
        if rest:
            nc = max(len(t) for t in texts)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        elif d == 1:
            sep = ""
        small_text = f"<{sep}{_format_real([eps], d)[0]}"
    for _v, s_ in zip(pv, small, strict=True):
        out.append(small_text if s_ else next(it))
    return out


def _stars(p: float) -> str:
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return mark
    return ""


def _coefficients(result: Any, digits: int, ddf: str | None = None) -> _Table | None:
    """``printCoefmat`` of Estimate, Std. Error and t value, as lme4 calls it; with
    ``ddf``, lmerTest's df and Pr(>|t|) columns and significance stars."""
    names = [str(n) for n in result.fixef.index]
    if not names:
        return None
    est = np.asarray(result.fixef, dtype=float)
    se = np.asarray(result.fixef_se.reindex(result.fixef.index), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = est / se
    p = len(names)
    wald_z = getattr(result, "family", None) is not None
    if wald_z:
        # glmer: Wald z tests, as lme4 prints them with their p-values and stars.
        tests = result.coef_table().rename(
            columns={"Std. Error": "std_error", "z value": "statistic", "Pr(>|z|)": "p_value"}
        )
    else:
        tests = result.contrast(np.eye(p), ddf=ddf) if ddf is not None else None
    if tests is not None:
        # Kenward-Roger's tests use its adjusted standard errors, as lmerTest prints them.
        se, tval = tests["std_error"].to_numpy(), tests["statistic"].to_numpy()
    # printCoefmat formats every column before the test statistic together (lmerTest's
    # df joins Estimate and Std. Error there).
    blocks = [est, se] if tests is None or wald_z else [est, se, tests["df"].to_numpy()]
    cs = np.concatenate(blocks)
    cs_text = ["NA"] * cs.size
    acs = np.abs(cs[np.isfinite(cs)])
    if acs.size:
        nonzero = acs[acs != 0]
        if nonzero.size:
            digmin = 1 + np.floor(np.log10([nonzero.min(), nonzero.max()]))
        else:
            digmin = np.array([1.0, 1.0])
        # R takes max() over both ends of the range: the smallest value decides.
        ndig = int(max(1, digits - digmin.min()))
        cs_text = _format_real([_round(v, ndig) for v in cs], digits)
        # Where rounding turned a non-zero into 0, show it with one digit less instead.
        fix = [
            i
            for i, (v, t) in enumerate(zip(cs, cs_text, strict=True))
            if math.isfinite(v) and (v == 0) != (float(t) == 0)
        ]
        if fix:
            redone = _format_real([cs[i] for i in fix], max(1, digits - 1))
            for i, t in zip(fix, redone, strict=True):
                cs_text[i] = t
    dig_tst = max(1, min(5, digits - 1))
    t_text = _format_real([_round(v, dig_tst) for v in tval], digits)
    ncs = len(blocks)
    cells = []
    for i in range(p):
        row = [cs_text[k * p + i] for k in range(ncs)] + [t_text[i]]
        values = [b[i] for b in blocks] + [tval[i]]
        cells.append(["NA" if math.isnan(v) else c for c, v in zip(row, values, strict=True)])
    colnames = ["Estimate", "Std. Error", "t value"]
    if tests is not None:
        pv = tests["p_value"].to_numpy()
        p_text = _format_pval(list(pv), dig_tst)
        stars = [_stars(v) for v in pv]
        width = max(len(x) for x in stars)
        for i in range(p):
            cells[i] += [p_text[i], stars[i].ljust(width)]
        colnames = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)", ""]
        if wald_z:
            # lme4 heads the statistic "t value" where the family has a dispersion.
            stat = "t value" if result.family.has_dispersion else "z value"
            colnames = ["Estimate", "Std. Error", stat, "Pr(>|z|)", ""]
    return _Table(names, colnames, cells, right=True)


def _fixef_correlation(result: Any, correlation: bool | None) -> tuple[_Table | None, list[str]]:
    names = [str(n) for n in result.fixef.index]
    p = len(names)
    if correlation is None:
        correlation = p <= COR_MAX
        if not correlation:
            note = [
                "",
                f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                "Use format_summary(fit, correlation=True)  or",
                "    fit.vcov        if you need it",
            ]
            return None, note
    if not correlation or p < 2:
        return None, []
    cov = result.vcov.loc[result.fixef.index, result.fixef.index].to_numpy(dtype=float)
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    flat = _format_real([_round(v, 3) for v in corr.ravel()], nsmall=3)
    rows = _abbreviate(names, 11)
    cols = _abbreviate(names, 6)
    cells = [[flat[i * p + j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    return _Table(rows[1:], cols[:-1], cells, right=False), []


def _warnings(result: Any) -> list[str]:
    """lme4's ``.prt.warn``: the optimizer's code, then each convergence message."""
    optinfo = getattr(result, "optinfo", None)
    messages = [str(m) for m in (getattr(optinfo, "messages", None) or [])]
    if getattr(result, "singular", False) and not any("singular" in m for m in messages):
        messages.append(SINGULAR_MESSAGE)
    converged = bool(getattr(optinfo, "converged", True))
    if converged and not messages:
        return []
    optimizer = getattr(optinfo, "optimizer", "unknown")
    code = "0 (OK)" if converged else "1 (failed to converge)"
    return [f"optimizer ({optimizer}) convergence code: {code}", *messages]


def _blocks(result: Any, digits: int, correlation: bool | None, ddf: str | None = None) -> _Blocks:
    resid_names, resid_values = _residual_quantiles(result, digits)
    corr_table: Any = None
    notes: list[str] = []
    fixed = _coefficients(result, digits, ddf)
    if fixed is not None:
        corr_table, notes = _fixef_correlation(result, correlation)
    return _Blocks(
        header=_header(result, ddf),
        criterion=_criterion(result),
        resid_names=resid_names,
        resid_values=resid_values,
        random=_random_effects(result, digits),
        groups=_groups_line(result),
        fixed=fixed,
        correlation=corr_table,
        notes=notes,
        warnings=_warnings(result),
        structure=_structure(result, digits),
    )


# -- public --------------------------------------------------------------------------------


def format_summary(
    result: Any, *, digits: int = 4, correlation: bool | None = None, ddf: str | None = None
) -> str:
    """Format a fitted model as lme4's ``print(summary(m))``.

    Parameters
    ----------
    result
        A fitted model (``lmeformula.LmerResult``) or any object with the same attributes:
        ``formula``, ``data_name``, ``reml``, ``nobs``, ``n_dropped``, ``ngroups``,
        ``loglik``, ``aic``, ``bic``, ``deviance``, ``reml_criterion``, ``df_resid``,
        ``sigma``, ``fixef``, ``fixef_se``, ``vcov``, ``varcorr()``,
        ``residuals(type)``, ``singular`` and ``optinfo``.
    digits
        Significant digits, R's ``max(3, getOption("digits") - 3)`` by default.
    correlation
        Show the correlation of the fixed effects; by default when there are at most 12
        of them, as lme4.
    ddf
        ``"satterthwaite"`` prints lmerTest's summary (df, p-values, significance stars);
        None prints lme4's.

    Returns
    -------
    str
        The summary, lines separated by newlines, ending with a newline.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> from lmeformula.results.display import format_summary
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)",
    ...                data=lmf.datasets.load("sleepstudy"))  # doctest: +SKIP
    >>> print(format_summary(fit))  # doctest: +SKIP
    Linear mixed model fit by REML ['lmerMod']
    Formula: Reaction ~ Days + (Days | Subject)
       Data: sleepstudy
    <BLANKLINE>
    REML criterion at convergence: 1743.6
    ...
    """
    b = _blocks(result, digits, correlation, ddf)
    lines = [*b.header, "", *b.criterion, "", "Scaled residuals: "]
    lines += _print_named_vector(b.resid_names, b.resid_values)
    lines += ["", "Random effects:", *b.random.text(), *b.groups]
    if b.structure:
        lines += ["", *b.structure]
    if b.fixed is not None:
        lines += ["", "Fixed effects:", *b.fixed.text()]
        if ddf is not None or getattr(result, "family", None) is not None:
            lines += ["---", SIGNIF_LEGEND]
        if b.correlation is not None:
            lines += ["", "Correlation of Fixed Effects:", *b.correlation.text()]
        lines += b.notes
    lines += b.warnings
    return "\n".join(lines) + "\n"


def _html_table(table: _Table, *, first_header: str = "") -> str:
    has_rownames = any(table.rownames)
    head = [f"<th>{html.escape(first_header)}</th>"] if has_rownames else []
    head += [f"<th>{html.escape(c)}</th>" for c in table.colnames]
    body = []
    for rn, row in zip(table.rownames, table.cells, strict=True):
        cells = [f"<th>{html.escape(rn)}</th>"] if has_rownames else []
        cells += [f"<td>{html.escape(c.strip())}</td>" for c in row]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="lmeformula-table"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _pre(lines: Sequence[str]) -> str:
    return f"<pre>{html.escape(chr(10).join(lines))}</pre>"


def format_summary_html(
    result: Any, *, digits: int = 4, correlation: bool | None = None, ddf: str | None = None
) -> str:
    """Format a fitted model's summary as HTML, for Jupyter's rich display.

    The same blocks as :func:`format_summary`: the header and fit criterion in ``<pre>``,
    the residual quantiles, random effects, fixed effects and their correlation as
    ``<table>`` elements, and any convergence messages.

    Parameters
    ----------
    result
        A fitted model, as for :func:`format_summary`.
    digits
        Significant digits, as for :func:`format_summary`.
    correlation
        Show the correlation of the fixed effects, as for :func:`format_summary`.
    ddf
        lmerTest's df and p-values, as for :func:`format_summary`.

    Returns
    -------
    str
        An HTML fragment (a ``<div class="lmeformula-summary">``).

    Examples
    --------
    >>> import lmeformula as lmf
    >>> from lmeformula.results.display import format_summary_html
    >>> fit = lmf.lmer("Reaction ~ Days + (Days | Subject)",
    ...                data=lmf.datasets.load("sleepstudy"))  # doctest: +SKIP
    >>> format_summary_html(fit).startswith('<div class="lmeformula-summary">')  # doctest: +SKIP
    True
    """
    b = _blocks(result, digits, correlation, ddf)
    resid = _Table([""], b.resid_names, [[v.strip() for v in b.resid_values]], right=True)
    parts = [
        '<div class="lmeformula-summary">',
        _pre([*b.header, "", *b.criterion]),
        "<p><b>Scaled residuals:</b></p>",
        _html_table(resid),
        "<p><b>Random effects:</b></p>",
        _html_table(b.random),
        _pre(b.groups),
    ]
    if b.structure:
        parts.append(_pre(b.structure))
    if b.fixed is not None:
        parts += ["<p><b>Fixed effects:</b></p>", _html_table(b.fixed)]
        if ddf is not None or getattr(result, "family", None) is not None:
            parts.append(_pre([SIGNIF_LEGEND]))
        if b.correlation is not None:
            parts += ["<p><b>Correlation of Fixed Effects:</b></p>", _html_table(b.correlation)]
        if b.notes:
            parts.append(_pre([n for n in b.notes if n]))
    if b.warnings:
        parts.append(_pre(b.warnings))
    parts.append("</div>")
    return "\n".join(parts)
