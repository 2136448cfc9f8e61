"""Matching detections to ground truth or human labels, and the metrics that follow."""

from fasciq.evaluate.matching import Matching, match_events
from fasciq.evaluate.metrics import EvaluationParams, evaluate, evaluate_outdir, evaluate_result
from fasciq.evaluate.truth import Truth, load_truth

__all__ = [
    "EvaluationParams",
    "Matching",
    "Truth",
    "evaluate",
    "evaluate_outdir",
    "evaluate_result",
    "load_truth",
    "match_events",
]
