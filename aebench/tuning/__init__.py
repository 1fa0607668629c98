"""Tuning: an equal budget of trials for every model, chosen on validation data only.

A model plugin declares its search space with the ranges here (no Optuna needed to declare
one); ``aebench tune`` (``aebench.cli.tune``) runs the studies and the tuned board.
"""

from __future__ import annotations

from aebench.tuning.space import Choice, Float, Int, Param, check_space

__all__ = ["Choice", "Float", "Int", "Param", "check_space"]
