/** A deployment card's rollout section: a canary (or shadow, blue-green, experiment) in
 * progress, its last analysis per variant, and Pause/Resume, Promote, Abort. */
import * as React from 'react';

import { GoldenpathApi } from './api';
import { ErrorBox, problemOf, Problem, useAction } from './components';
import { Deployment, GpEvent } from './model';
import {
  ACTION_LABELS,
  actionsFor,
  agreementText,
  AnalysisWindow,
  extraMessage,
  isActive,
  lastWindow,
  percent,
  Progression,
  RolloutAction,
  rolloutStamp,
  stepDescription,
  stepLabel,
  variantRows
} from './progression';

const ACTION_TITLES: Record<RolloutAction, string> = {
  pause: 'hold the current step: no analysis moves it on until someone resumes',
  resume: 'go on measuring and stepping',
  promote: 'skip the remaining steps: all traffic to the candidate now',
  abort: 'all traffic back to the stable release'
};

export function RolloutSection(props: {
  api: GoldenpathApi;
  service: string;
  deployment: Deployment;
  events: GpEvent[];
  /** the user's roles allow acting on it (the server decides in the end) */
  canAct: boolean;
  onChanged: () => void;
}): JSX.Element | null {
  const { api, service, deployment: d } = props;
  const [progression, setProgression] = React.useState<Progression | null>(null);
  const [loadProblem, setLoadProblem] = React.useState<Problem | null>(null);
  const [comment, setComment] = React.useState('');
  const action = useAction();
  // refetch on each rollout event of this deployment, and when its view changed
  const stamp = rolloutStamp(props.events, service, d.environment);
  React.useEffect(() => {
    let current = true;
    api.progression(service, d.environment).then(
      p => { if (current) { setProgression(p); setLoadProblem(null); } },
      error => { if (current) { setLoadProblem(problemOf(error)); } });
    return () => { current = false; };
  }, [api, service, d.environment, d.updated_at, d.progression, stamp]);

  if (!progression) {
    return loadProblem ? <ErrorBox title="Cannot load the rollout" problem={loadProblem} /> : null;
  }
  const p = progression;
  const act = (name: RolloutAction) => action.run(async () => {
    setProgression(await api.rolloutAction(service, d.environment, name, comment));
    setComment('');
    props.onChanged();
  });
  const actions = props.canAct ? actionsFor(p) : [];
  return (
    <div className="gp-rollout" data-state={p.state} data-strategy={p.strategy}>
      <div className="gp-rollout-head">
        <b className="gp-rollout-strategy">{p.strategy}</b>{' '}
        <span className="gp-muted">
          {p.stable_version ? `v${p.stable_version} → ` : ''}v{p.candidate_version}
        </span>{' '}
        <span className={`gp-rollout-state gp-rollout-state-${p.state}`}>{p.state}</span>
      </div>
      <div className="gp-rollout-step">
        <b>{stepLabel(p)}</b>: {stepDescription(p)}
      </div>
      <WeightBar weight={p.weight} mirror={p.mirror} stable={p.stable_version}
        candidate={p.candidate_version} />
      {extraMessage(p) && <div className="gp-message gp-rollout-message">{p.message}</div>}
      {p.preview_url && (
        <div className="gp-preview">
          {p.strategy === 'blue-green' ? 'preview' : 'candidate'}:{' '}
          <a href={p.preview_url} target="_blank" rel="noreferrer"
            title="the candidate's own URL">{p.preview_url}</a>
        </div>
      )}
      <Analysis progression={p} window={lastWindow(p)} />
      {actions.length > 0 && (
        <div className="gp-rollout-actions">
          <input className="jp-mod-styled" placeholder="comment (why)" value={comment}
            aria-label="rollout comment" onChange={e => setComment(e.target.value)} />
          {actions.map(name => (
            <button key={name} disabled={action.busy} title={ACTION_TITLES[name]}
              className={`jp-mod-styled gp-button${name === 'abort' ? ' jp-mod-warn' : ''}` +
                `${name === 'promote' ? ' jp-mod-accept' : ''}`}
              onClick={() => act(name)}>
              {ACTION_LABELS[name]}
            </button>
          ))}
        </div>
      )}
      {!isActive(p) && (
        <div className="gp-muted gp-rollout-ended">
          {p.state === 'aborted'
            ? `v${p.stable_version ?? '?'} (stable) serves all traffic`
            : `v${p.candidate_version} serves all traffic`}
        </div>
      )}
      {action.problem && <ErrorBox problem={action.problem} />}
    </div>
  );
}

/** The share of requests the candidate answers, as a bar (the rest: the stable release). */
function WeightBar(props: {
  weight: number;
  mirror: boolean;
  stable: number | null;
  candidate: number;
}): JSX.Element {
  const share = Math.max(0, Math.min(1, props.weight));
  return (
    <div className="gp-weight">
      <div className="gp-weight-track" role="meter" aria-label="share of requests to the candidate"
        aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)}>
        <div className="gp-weight-bar" style={{ width: `${share * 100}%` }} />
      </div>
      <span className="gp-weight-text">
        {percent(share)} to v{props.candidate}
        {props.stable ? `, ${percent(1 - share)} to v${props.stable}` : ''}
        {props.mirror ? ' · every request copied to the candidate' : ''}
      </span>
    </div>
  );
}

function Analysis(props: { progression: Progression; window: AnalysisWindow | null })
  : JSX.Element {
  const { progression: p, window: w } = props;
  if (!w) {
    const spec = p.steps[p.step];
    return (
      <div className="gp-analysis gp-muted">
        No analysis yet
        {spec && isActive(p)
          ? `: the first after ${spec.hold_s}s at this step, on at least ${spec.min_requests} ` +
            'requests to the candidate'
          : ''}
      </div>
    );
  }
  return (
    <div className="gp-analysis">
      <div>
        Last analysis (step {w.step + 1}, {Math.round(w.seconds)}s):{' '}
        <span className={`gp-verdict gp-verdict-${w.verdict}`}>{w.verdict}</span>
      </div>
      <table className="gp-kv gp-variants">
        <thead>
          <tr><th /><th>requests</th><th>success</th><th>p99</th></tr>
        </thead>
        <tbody>
          {variantRows(p, w).map(r => (
            <tr key={r.variant} data-variant={r.variant}>
              <th>{r.label}</th><td>{r.requests}</td><td>{r.success}</td><td>{r.p99}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="gp-muted">{agreementText(w.paired)}</div>
      {(w.reasons ?? []).length > 0 && (
        <ul className="gp-policies">
          {(w.reasons ?? []).map((r, i) => (
            <li key={i} className={w.verdict === 'fail' ? 'gp-fail' : ''}>{r}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
