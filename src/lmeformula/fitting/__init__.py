"""Fitting: the stages of a fit as public functions, the optimizer, refits and many fits."""
