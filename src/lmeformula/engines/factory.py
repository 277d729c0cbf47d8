"""The one place engines are built (lme4's ``mkLmerDevfun``).

Which objective a model gets follows from the model alone:

- a family (``glmer``): lme4's Laplace deviance, or its adaptive quadrature, on PIRLS
  (:class:`~lmeformula.engines.laplace.LaplaceDeviance`); its first stage (nAGQ = 0)
  with ``fast``;
- a residual structure or variance function (nlme's models, ``gls``): the marginal,
  subject-by-subject engine (:class:`~lmeformula.engines.marginal.MarginalDeviance`);
- one random-effects term with blocks of at most 2 x 2, or with more random effects than a
  small dense system holds: the closed-form one-factor engine
  (:class:`~lmeformula.engines.onefactor.OneFactorPLS`; measured here per evaluation:
  sleepstudy 20 µs against 35, Exam's random slopes 22 against 107, but Machines' 3 x 3
  blocks 44 against the dense system's 24);
- otherwise lme4's profiled deviance by blocked Cholesky
  (:class:`~lmeformula.engines.blocked.BlockedPLS`).

Every caller (a fit, a refit, a profile, Satterthwaite's derivatives, ``fit_many``) comes
here, so the same model always gets the same objective, evaluated the same way.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lmeformula.engines.blocked import BlockedPLS
from lmeformula.engines.laplace import LaplaceDeviance
from lmeformula.engines.marginal import MarginalDeviance
from lmeformula.engines.onefactor import OneFactorPLS
from lmeformula.engines.pirls import GlmData
from lmeformula.engines.protocol import Engine
from lmeformula.engines.solution import PLSSolution
from lmeformula.model.model import Model

__all__ = ["make_engine"]


def make_engine(
    model: Model,
    *,
    reml: bool | None = None,
    fast: bool | None = None,
    warm: PLSSolution | None = None,
    share: Engine | None = None,
) -> Engine:
    """The objective of a model.

    Parameters
    ----------
    model
        The model to fit (:func:`lmeformula.fitting.stages.build_model`).
    reml
        The criterion, by default the model's own (a profile of a REML fit works on the ML
        deviance).
    fast
        A generalized model's first stage (lme4's nAGQ = 0: θ alone, β inside PIRLS); by
        default as the model's ``nagq`` says.
    warm
        A generalized model's solution to start from (β the layout's start, u every
        PIRLS's start): the first stage's, for the second.
    share
        An engine of the same model that will not be evaluated again (a generalized
        model's first stage): its factor is taken over instead of built anew, and its
        rows, start, deviance constant and row pattern where the model is the same.

    Returns
    -------
    Engine
        See :mod:`lmeformula.engines.protocol`.

    Examples
    --------
    >>> import lmeformula as lmf
    >>> fit = lmf.lmer("Yield ~ 1 + (1 | Batch)", lmf.datasets.load("dyestuff"))
    >>> engine = make_engine(fit.state.model)
    >>> abs(engine.deviance(fit.state.params) - fit.reml_criterion) < 1e-8
    True
    >>> engine.layout.names
    ('theta',)
    """
    if reml is not None and reml != model.reml:
        model = replace(model, reml=reml)
    if model.family is not None:
        assert model.trials is not None
        d = model.design
        shared = share if isinstance(share, LaplaceDeviance) else None
        if shared is not None and shared.design is d and shared.data.family is model.family:
            data = shared.data
        else:
            wt = d.weights if d.weights is not None else np.ones(d.y.size)
            data = GlmData(model.family, d.y, wt, model.trials, d.offset)
        return LaplaceDeviance(
            model.design,
            data,
            fast=model.nagq == 0 if fast is None else fast,
            nagq=max(model.nagq, 1),
            beta0=None if warm is None else warm.beta,
            u0=None if warm is None else warm.u,
            share=shared,
        )
    if model.residual is not None:
        return MarginalDeviance(model.design, model.reml, model.residual)
    if len(model.design.terms) == 1:
        return OneFactorPLS(model.design, model.reml)
    return BlockedPLS(model.design, model.reml)
