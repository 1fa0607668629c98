"""Which test inputs a run scores, in words: the record's ``training.eval_inputs`` and the
board caption line that says whether every row of a board scored the same inputs.

``Protocol.eval_inputs`` decides (see its docstring): under "model", models with a Bernoulli
likelihood score one fixed Bernoulli draw of the pixels and the others the pixels; under
"pixels", every row scores the pixels.
"""

from __future__ import annotations

from typing import Any

from aebench.protocol import Protocol

__all__ = ["binarized_eval", "describe", "eval_inputs_note"]


def binarized_eval(proto: Protocol, binary: bool) -> bool:
    """Whether a model (``binary``: trained on dynamic binarisation) is evaluated on the
    protocol's fixed Bernoulli draw rather than on the pixels."""
    return binary and proto.eval_inputs == "model"


def describe(proto: Protocol, binary: bool) -> str:
    """The record's ``training.eval_inputs``: what this run was evaluated on."""
    if proto.eval_inputs == "pixels":
        return "pixels (every row)"
    if binarized_eval(proto, binary):
        return f"one Bernoulli draw of the pixels (seed {proto.test_binarization_seed})"
    return "pixels" if proto.binarization == "dynamic" else "inputs as given (no binarisation)"


def eval_inputs_note(record: dict[str, Any]) -> str:
    """A board caption line saying which test inputs its rows scored, from one of its records
    (records made before ``eval_inputs`` existed ran under its default, "model")."""
    p = record["protocol"]
    if p.get("eval_inputs", "model") == "pixels":
        return (
            "Inputs: every row scores the test pixels (eval_inputs='pixels'); a Bernoulli "
            "likelihood of them is the soft-target cross-entropy, the expected NLL over "
            "Bernoulli draws of the pixels for a fixed decoder output."
        )
    if p.get("binarization") != "dynamic":
        return "Inputs: every row scores the test inputs as given (no binarisation)."
    return (
        "Inputs: rows with a Bernoulli likelihood score one fixed Bernoulli draw of the test "
        f"pixels (seed {p.get('test_binarization_seed', 0)}), the other rows the pixels "
        "(eval_inputs='model'): rows of this board do not score the same inputs."
    )
