"""Inference on a fit: small-sample tests, marginal means, profiles, intervals, bootstrap."""

from lmeformula.inference.satterthwaite import Satterthwaite, satterthwaite, t_tests

__all__ = ["Satterthwaite", "satterthwaite", "t_tests"]
