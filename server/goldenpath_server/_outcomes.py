"""Ground truth for a progressive rollout: outcomes (labels, values) sent later for earlier
predictions by their request id (the X-Request-Id of each answer), scored per variant, so a
champion/challenger experiment can end on the real metric (accuracy, AUC, RMSE), not only on
agreement with the champion.

The router remembers what each variant answered, by request id, while the rollout routes
traffic (the latest 100,000 requests). Outcomes are declared by whoever sends them: each
batch is an audit event with its sender and covers the rollout row the decision reads.
"""

from __future__ import annotations

import math
from typing import Any

from goldenpath_api.errors import Conflict
from goldenpath_server import _audit
from goldenpath_server._access import Actor, as_principal
from goldenpath_server._db import RolloutRow
from goldenpath_server._strategies import ChallengerConfig

BINS = 100  # score histogram per class: AUC to within 1/BINS of the exact one
VARIANTS = ("stable", "candidate")
ACTIVE = ("starting", "progressing", "paused")


def empty() -> dict[str, Any]:
    return {"outcomes": 0, "labels": 0, "correct": 0, "numbers": 0, "sq": 0.0, "abs": 0.0,
            "pos": [0] * BINS, "neg": [0] * BINS}


def add(acc: dict[str, Any], predicted: Any, truth: Any) -> None:
    """Count one (prediction, outcome) pair into `acc`."""
    truth = int(truth) if isinstance(truth, bool) else truth
    acc["outcomes"] += 1
    if _number(predicted) and _number(truth) and isinstance(predicted, float):
        acc["numbers"] += 1
        acc["sq"] += (predicted - truth) ** 2
        acc["abs"] += abs(predicted - truth)
        if 0.0 <= predicted <= 1.0 and truth in (0, 1):  # a score for a binary outcome
            acc["pos" if truth == 1 else "neg"][min(BINS - 1, int(predicted * BINS))] += 1
        return
    acc["labels"] += 1
    acc["correct"] += _same(predicted, truth)


def metrics(acc: dict[str, Any] | None) -> dict[str, Any]:
    """accuracy (labels), rmse and mae (numbers), auc (scores of a binary outcome)."""
    acc = acc or empty()
    numbers = acc["numbers"]
    return {"outcomes": acc["outcomes"],
            "accuracy": acc["correct"] / acc["labels"] if acc["labels"] else None,
            "rmse": math.sqrt(acc["sq"] / numbers) if numbers else None,
            "mae": acc["abs"] / numbers if numbers else None,
            "auc": _auc(acc["pos"], acc["neg"])}


def decide(ground_truth: dict[str, Any] | None, config: ChallengerConfig
           ) -> tuple[str, str]:
    """At the end of an experiment: ("switch" | "abort" | "ask", why), on config.decide_on."""
    metric = config.decide_on
    if metric == "person":
        return "ask", "the experiment ended: compare the variants and promote or abort"
    champion, challenger = (metrics((ground_truth or {}).get(v)) for v in VARIANTS)
    short = [f"{name} has {m['outcomes']}" for name, m in
             (("the champion", champion), ("the challenger", challenger))
             if m["outcomes"] < config.min_outcomes]
    if short or champion[metric] is None or challenger[metric] is None:
        return "ask", (f"the experiment ended without enough outcomes to decide on {metric} "
                       f"({', '.join(short) or 'no ' + metric + ' could be computed'}; "
                       f"{config.min_outcomes} needed each): send them, or promote or abort")
    lower_is_better = metric == "rmse"
    gain = (champion[metric] - challenger[metric]) if lower_is_better else \
        (challenger[metric] - champion[metric])
    told = f"{metric} {challenger[metric]:.4g} against the champion's {champion[metric]:.4g}"
    if gain >= config.min_improvement:
        return "switch", f"the challenger won the experiment: {told}"
    return "abort", (f"the challenger did not beat the champion by {config.min_improvement:g}"
                     f": {told}")


class Outcomes:
    """Record outcomes for the running progressive rollout of a service in an environment."""

    def __init__(self, store: Any, environments: Any) -> None:
        self.store = store
        self.environments = environments

    def record(self, service: str, environment: str, outcomes: list[tuple[str, Any]], *,
               actor: Actor) -> dict[str, Any]:
        who = as_principal(actor)
        with self.store.read() as db:
            svc = self.store.service(db, service)
            dep = self.store.deployment(db, svc, environment)
            who.require("submitter", svc.team,
                        f"send outcomes for {service} in {environment}")
            row = db.get(RolloutRow, dep.rollout_id) if dep.rollout_id else None
            if row is None or row.status != "running" or \
                    (row.progress or {}).get("state") not in ACTIVE:
                raise Conflict(f"{service} has no progressive rollout running in "
                               f"{environment} to score outcomes for",
                               "send outcomes while a champion-challenger (or canary, shadow) "
                               "rollout routes traffic; the answers are remembered only then")
            rollout_id = row.id
        target = self.environments.target(environment)
        answered = target.answers(f"{service}.{environment}", [rid for rid, _ in outcomes]) \
            if hasattr(target, "answers") else None
        if answered is None:
            raise Conflict(f"nothing remembers the answers of {service} in {environment} by "
                           "request id: its traffic is split by replicas or a Gateway",
                           "give the environment `traffic: router` (Kubernetes): the "
                           "goldenpath router remembers both variants' answers")
        added = {v: empty() for v in VARIANTS}
        for request_id, truth in outcomes:
            for variant, predictions in answered.get(request_id, {}).items():
                truths = truth if isinstance(truth, list) else [truth]
                for predicted, value in zip(predictions, truths, strict=False):
                    add(added[variant], predicted, value)
        matched = sum(1 for rid, _ in outcomes if rid in answered)
        with self.store.tx() as db:
            row = db.get(RolloutRow, rollout_id)
            known = (row.progress or {}).get("ground_truth") or {}
            merged = {v: _merge(known.get(v), added[v]) for v in VARIANTS}
            row.progress = {**row.progress, "ground_truth": merged}
            scored = {v: metrics(merged[v]) for v in VARIANTS}
            self.store.event(db, service, environment, row.release_id, "outcomes_recorded",
                             f"{matched} of {len(outcomes)} outcomes matched earlier answers "
                             f"of {service} in {environment} (declared by {who.name})",
                             {"rollout_id": rollout_id, "sent": len(outcomes),
                              "matched": matched, "ground_truth": scored}, actor=who.name)
            _audit.cover(db, row)
        return {"sent": len(outcomes), "matched": matched,
                "unknown": len(outcomes) - matched, "ground_truth": scored}


def _merge(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    if not a:
        return b
    return {k: [x + y for x, y in zip(a[k], b[k], strict=True)] if isinstance(a[k], list)
            else a[k] + b[k] for k in a}


def _auc(pos: list[int], neg: list[int]) -> float | None:
    """Mann-Whitney over the histograms: P(score of a positive > score of a negative)."""
    p, n = sum(pos), sum(neg)
    if not p or not n:
        return None
    below = wins = 0.0
    for positives, negatives in zip(pos, neg, strict=True):
        wins += positives * (below + negatives / 2)
        below += negatives
    return wins / (p * n)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(predicted: Any, truth: Any) -> bool:
    if _number(predicted) and _number(truth):
        return bool(predicted == truth)
    return str(predicted) == str(truth)
