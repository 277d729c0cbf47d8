"""Engines: each turns a design into estimates (θ, and with them β and σ), never results."""
