"""Activation gates: what a trained model must pass before ``--activate auto`` puts it in service.

Each gate compares the model with something that needs no skill, over the out-of-sample folds:

- ``fold_classes``: every training fold held every class (a fold without one is refused, see
  evaluation.walk_forward), so neither the model nor the prior was scored on a class it never saw;
- ``class_prior``: pooled log loss below the Laplace-smoothed training class frequencies;
- ``direction_blind``: pooled log loss below the same booster fitted on the volatility and activity
  features alone — it knows how likely a move is, never its direction, so beating it is the part
  of the score that is about direction;
- ``economic`` (when evaluated): the universe blend with the model, traded through the backtest
  engine with the configured costs, beats the same blend without the model in net return.

The result is a plain dict recorded with the run (``metrics["gates"]``) and served by ``/ai/runs``
and ``/ai/model-info``; a model activated although a gate failed is *forced*, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # for the annotations only: the predictor reads failed_gates(), and importing the evaluation
    # would load scikit-learn's metrics (about half a second) into every process that scores
    from ai_engine.evaluation import EvaluationReport

GATE_ORDER = ("fold_classes", "class_prior", "direction_blind", "economic")


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    reason: str
    model: float | None = None
    baseline: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "passed": self.passed, "reason": self.reason}
        if self.model is not None:
            out["model"] = self.model
        if self.baseline is not None:
            out["baseline"] = self.baseline
        if self.details:
            out["details"] = self.details
        return out


def _log_loss_gate(name: str, label: str, model: float, baseline: float) -> Gate:
    passed = model < baseline
    verb = "beats" if passed else "does not beat"
    return Gate(name, passed, f"out-of-sample log loss {model:.4f} {verb} the {label} {baseline:.4f}", model, baseline)


def statistical_gates(report: EvaluationReport) -> list[Gate]:
    """The gates that need only the walk-forward report."""
    refused = report.refused_folds
    if refused:
        folds = ", ".join(f"fold {f['fold']} (no {'/'.join(f.get('missing_classes') or [])})" for f in refused)
        coverage = Gate(
            "fold_classes",
            False,
            f"{len(refused)} of {len(report.folds)} folds refused, a class missing from training: {folds}",
            details={"refused_folds": [f["fold"] for f in refused]},
        )
    else:
        coverage = Gate("fold_classes", True, f"every class in every one of the {len(report.folds)} training folds")
    return [
        coverage,
        _log_loss_gate("class_prior", "class prior (Laplace-smoothed)", report.model_log_loss, report.prior_log_loss),
        _log_loss_gate("direction_blind", "direction-blind baseline", report.model_log_loss, report.blind_log_loss),
    ]


def gate_report(gates: list[Gate], skipped: dict[str, str] | None = None) -> dict[str, Any]:
    """The recorded form: every gate, which failed, which were not evaluated (and why), whether all passed."""
    ordered = sorted(gates, key=lambda g: GATE_ORDER.index(g.name) if g.name in GATE_ORDER else len(GATE_ORDER))
    failed = [g.name for g in ordered if not g.passed]
    return {"passed": not failed, "failed": failed, "gates": [g.as_dict() for g in ordered], "skipped": skipped or {}}


def failed_gates(metrics: dict[str, Any] | None) -> list[str] | None:
    """The names of the gates a recorded run failed; None when the run recorded no gates."""
    gates = (metrics or {}).get("gates")
    if not isinstance(gates, dict):
        return None
    return list(gates.get("failed") or [])


@dataclass(frozen=True)
class Activation:
    activated: bool
    forced: bool  # activated although a gate failed
    reason: str
    failed: list[str]

    def as_dict(self, policy: str) -> dict[str, Any]:
        return {
            "policy": policy,
            "activated": self.activated,
            "forced": self.forced,
            "failed_gates": self.failed,
            "reason": self.reason,
        }


def decide(policy: str, gates: dict[str, Any]) -> Activation:
    """auto: activate only when every gate passed; never: never; force: activate and record the failures."""
    failed = list(gates["failed"])
    reasons = "; ".join(g["reason"] for g in gates["gates"] if not g["passed"])
    if policy == "never":
        return Activation(False, False, "not activated: --activate never", failed)
    if policy == "force":
        if failed:
            return Activation(True, True, f"activated (forced) although gates failed: {reasons}", failed)
        return Activation(True, False, "activated (forced; every gate passed anyway)", failed)
    if failed:
        return Activation(False, False, f"not activated: {reasons}", failed)
    passed = "; ".join(g["reason"] for g in gates["gates"])
    return Activation(True, False, f"activated: every gate passed ({passed})", failed)
