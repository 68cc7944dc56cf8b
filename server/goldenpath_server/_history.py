"""Where each release went live: the rollouts table read as history.

A Rollout row is one attempt to put a release live in an environment (a deploy, a promotion
or a rollback) and how it ended. The succeeded ones are the environment's history of live
releases, which answers two questions:

- where has a release run? (the promotion-path policy counts an environment only once the
  release went live there, not when a rollout merely started);
- what does rollback go back to? Each rollback goes one step further back: after v1, v2,
  v3 went live, rollbacks give v2, then v1, then "nothing earlier".
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from goldenpath_server._db import RolloutRow

SUCCEEDED = "succeeded"


def live_environments(db: Session, release_id: str) -> list[str]:
    """The environments where `release_id` went live at least once."""
    return sorted(set(db.scalars(select(RolloutRow.environment).where(
        RolloutRow.release_id == release_id, RolloutRow.status == SUCCEEDED))))


def live_stack(db: Session, service_id: int, environment: str) -> list[str]:
    """The releases an environment went through, each rollback undoing the step before it:
    the last item is live now, the one before it is what a rollback restores."""
    stack: list[str] = []
    for reason, release_id in db.execute(
            select(RolloutRow.reason, RolloutRow.release_id)
            .where(RolloutRow.service_id == service_id, RolloutRow.environment == environment,
                   RolloutRow.status == SUCCEEDED)
            .order_by(RolloutRow.finished_at, RolloutRow.started_at)):
        if reason == "rollback":
            while stack and stack[-1] != release_id:  # pop back to the restored release
                stack.pop()
            if not stack:
                stack.append(release_id)
        elif not stack or stack[-1] != release_id:
            stack.append(release_id)
    return stack


def rollback_target(db: Session, service_id: int, environment: str) -> str | None:
    """The release a rollback of (service, environment) puts back, or None."""
    stack = live_stack(db, service_id, environment)
    return stack[-2] if len(stack) >= 2 else None


__all__ = ["SUCCEEDED", "live_environments", "live_stack", "rollback_target"]
