/** Small shared pieces of the panel: status badge, error box, notices. */
import * as React from 'react';

import { ApiError } from './api';
import { policyViews, PolicyView, Release, statusLabel } from './model';

export function StatusBadge({ status }: { status: string }): JSX.Element {
  return (
    <span className={`gp-status gp-status-${status}`} data-status={status}>
      {statusLabel(status)}
    </span>
  );
}

export interface Problem {
  message: string;
  hint: string;
  /** e.g. the policy results behind a denied promotion */
  details?: PolicyView[];
}

export function problemOf(error: unknown): Problem {
  if (error instanceof ApiError) {
    const details = error.details
      ? policyViews({ policy_results: error.details } as Release).filter(p => !p.passed)
      : [];
    return { message: error.message, hint: error.hint, details };
  }
  return { message: error instanceof Error ? error.message : String(error), hint: '' };
}

export function ErrorBox(props: {
  title?: string;
  problem: Problem;
  onRetry?: () => void;
}): JSX.Element {
  return (
    <div className="gp-error" role="alert">
      {props.title && <div className="gp-error-title">{props.title}</div>}
      <div className="gp-error-message">{props.problem.message}</div>
      {(props.problem.details ?? []).length > 0 && (
        <ul className="gp-policies">
          {props.problem.details!.map((p, i) => (
            <li key={i} className="gp-fail">
              ✗ <b>{p.name}</b> {p.message}
              {p.fix && <div className="gp-error-hint">Fix: {p.fix}</div>}
            </li>
          ))}
        </ul>
      )}
      {props.problem.hint && <div className="gp-error-hint">How to fix: {props.problem.hint}</div>}
      {props.onRetry && (
        <button className="jp-mod-styled gp-button" onClick={props.onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Loading({ text }: { text: string }): JSX.Element {
  return (
    <div className="gp-loading" aria-busy="true">
      <span className="gp-spinner" /> {text}
    </div>
  );
}

/** Runs an async action, tracking busy state and the last problem. */
export function useAction(): {
  busy: boolean;
  problem: Problem | null;
  run: (fn: () => Promise<unknown>) => Promise<void>;
  clear: () => void;
} {
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState<Problem | null>(null);
  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setProblem(null);
    try {
      await fn();
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  };
  return { busy, problem, run, clear: () => setProblem(null) };
}
