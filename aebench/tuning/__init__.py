"""Tuning: an equal budget of training samples for every model, spent by successive halving
and chosen at the protocol's budget on validation data only.

A model plugin declares its search space with the ranges here (no Optuna needed to declare
one); ``aebench tune`` (``aebench.cli.tune``) runs the studies and the tuned board.
"""

from __future__ import annotations

from aebench.tuning.space import Choice, Float, Int, Param, check_space

__all__ = ["Choice", "Float", "Int", "Param", "check_space"]
