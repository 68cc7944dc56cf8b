/** A service's detail: its deployments with actions, "Try it", releases, events, logs. */
import * as React from 'react';

import { GoldenpathApi } from './api';
import { ErrorBox, StatusBadge, useAction } from './components';
import { DriftBadge, ReportOpener } from './driftview';
import { buildInputs, formFields } from './form';
import {
  age,
  allowed,
  Deployment,
  GpEvent,
  lineageOf,
  modelCard,
  Me,
  policyViews,
  Promotion,
  recentEvents,
  Release,
  Schema,
  Service,
  shortDigest
} from './model';
import { hasProgression } from './progression';
import { RolloutSection } from './rollout';

export interface DetailProps {
  api: GoldenpathApi;
  service: Service;
  me: Me | null;
  environments: string[];
  /** this service's promotions waiting for approval */
  waiting: Promotion[];
  events: GpEvent[];
  approvalsApi: boolean;
  onApprovalsMissing: () => void;
  onChanged: () => void;
  onBack: () => void;
  /** opens a drift report in the main area */
  onOpenReport: ReportOpener;
}

export function ServiceDetail(props: DetailProps): JSX.Element {
  const { service } = props;
  const releases = [...service.releases].sort((a, b) => b.version - a.version);
  const byId = new Map(releases.map(r => [r.id, r]));
  const used = new Set([...service.deployments, ...props.waiting].map(x => x.environment));
  const environments = [
    ...props.environments.filter(e => used.has(e)),
    ...[...used].filter(e => !props.environments.includes(e))
  ];
  return (
    <div className="gp-detail" data-service={service.name}>
      <div className="gp-detail-header">
        <button className="jp-mod-styled gp-link-button" onClick={props.onBack}>
          ← All deployments
        </button>
        <h2>{service.name}</h2>
        <div className="gp-muted">
          {service.kind}
          {service.team ? ` · team ${service.team}` : ''} · created {age(service.created_at)} ago
        </div>
      </div>
      {environments.length === 0 && <div className="gp-empty">Not deployed anywhere.</div>}
      {environments.map(env => (
        <React.Fragment key={env}>
          {service.deployments.filter(d => d.environment === env).map(d => (
            <DeploymentCard key={`d-${env}`} {...props} deployment={d}
              release={byId.get(d.release_id)} />
          ))}
          {props.waiting.filter(p => p.environment === env).map(p => (
            <PromotionCard key={p.id} {...props} promotion={p} />
          ))}
        </React.Fragment>
      ))}
      <h3>Releases</h3>
      {releases.map(r => (
        <ReleaseCard key={r.id} api={props.api} release={r} />
      ))}
      <h3>Recent events</h3>
      <ul className="gp-events">
        {recentEvents(props.events, service.name).map(e => (
          <li key={e.id} className={`gp-event gp-event-${e.type}`}>
            <span className="gp-muted">{age(e.at)} ago</span> {e.environment && <b>{e.environment}</b>}{' '}
            {e.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

function DeploymentCard(props: DetailProps & { deployment: Deployment; release?: Release })
  : JSX.Element {
  const { api, deployment: d, service, me } = props;
  const targets = props.environments.filter(e => e !== d.environment);
  const after = props.environments.indexOf(d.environment);
  const [target, setTarget] = React.useState(
    targets.find(e => props.environments.indexOf(e) > after) ?? targets[0] ?? ''
  );
  const [logs, setLogs] = React.useState<string[] | null>(null);
  const action = useAction();
  const act = (fn: () => Promise<unknown>) => action.run(async () => {
    await fn();
    props.onChanged();
  });
  return (
    <div className="gp-card" data-env={d.environment}>
      <div className="gp-card-title">
        <b>{d.environment}</b> <StatusBadge status={d.status} />{' '}
        <span className="gp-version">v{d.release_version}</span>
        <span className="gp-muted"> · {age(d.updated_at)} ago</span>
      </div>
      {d.url && (
        <div className="gp-endpoint">
          <a href={d.url} target="_blank" rel="noreferrer" title="open the endpoint">
            {d.url}
          </a>
        </div>
      )}
      <DriftBadge api={api} service={service.name} deployment={d} events={props.events}
        onOpenReport={props.onOpenReport} />
      {hasProgression(d) ? (
        <RolloutSection api={api} service={service.name} deployment={d} events={props.events}
          canAct={allowed(me, service.team, 'rollback')} onChanged={props.onChanged} />
      ) : d.message && <div className="gp-message">{d.message}</div>}
      <div className="gp-actions">
        {allowed(me, service.team, 'promote') && targets.length > 0 && (
          <span className="gp-promote">
            <select className="jp-mod-styled" value={target} aria-label="target environment"
              onChange={e => setTarget(e.target.value)}>
              {targets.map(e => <option key={e} value={e}>{e}</option>)}
            </select>
            <button className="jp-mod-styled jp-mod-accept gp-button" disabled={action.busy}
              onClick={() => act(() => api.promote(d.release_id, target))}>
              Promote to {target}
            </button>
          </span>
        )}
        {allowed(me, service.team, 'rollback') && d.previous_release_id && (
          <button className="jp-mod-styled gp-button" disabled={action.busy}
            onClick={() => act(() => api.rollback(service.name, d.environment))}>
            Rollback
          </button>
        )}
        <button className="jp-mod-styled gp-button" onClick={async () =>
          setLogs(logs ? null : await api.logs(service.name, d.environment).catch(e => [String(e)]))}>
          {logs ? 'Hide logs' : 'Logs'}
        </button>
      </div>
      {action.problem && <ErrorBox problem={action.problem} />}
      {logs && <pre className="gp-logs">{logs.join('\n') || '(no log lines yet)'}</pre>}
      {d.status === 'live' && (
        <TryIt api={api} service={service.name} environment={d.environment}
          schema={props.release?.schema ?? null} />
      )}
    </div>
  );
}

/** A promotion waiting for approval: who asked, policies, approvals, Approve / Reject. */
function PromotionCard(props: DetailProps & { promotion: Promotion }): JSX.Element {
  const { api, promotion: p, service, me } = props;
  const [comment, setComment] = React.useState('');
  const action = useAction();
  const decide = (decision: 'approve' | 'reject') => action.run(async () => {
    try {
      await api.approve(p.release_id, p.environment, decision, comment);
    } catch (error: any) {
      if (error?.status === 404 && error?.code !== 'not_found') {
        props.onApprovalsMissing();
      }
      throw error;
    }
    setComment('');
    props.onChanged();
  });
  const approvals = p.approvals ?? [];
  const given = approvals.filter(a => a.decision === 'approve').length;
  const policies = policyViews({ policy_results: p.policy_results } as Release);
  return (
    <div className="gp-card gp-promotion" data-env={p.environment} data-promotion={p.id}>
      <div className="gp-card-title">
        <b>{p.environment}</b> <StatusBadge status={p.status} />{' '}
        <span className="gp-version">v{p.release_version}</span>
        <span className="gp-muted"> · asked by {p.requested_by} {age(p.created_at)} ago</span>
      </div>
      <div className="gp-message">
        {given} of {p.required_approvals} approval{p.required_approvals === 1 ? '' : 's'}
        {approvals.map((a, i) => (
          <div key={i}>
            {a.decision === 'approve' ? '✓ approved by' : '✗ rejected by'} {a.user}
            {a.comment && `: “${a.comment}”`}
          </div>
        ))}
      </div>
      {policies.length > 0 && (
        <ul className="gp-policies">
          {policies.map((r, i) => (
            <li key={i} className={r.passed ? 'gp-pass' : 'gp-fail'}>
              {r.passed ? '✓' : '✗'} <b>{r.name}</b> {r.message}
              {!r.passed && r.fix && <div className="gp-error-hint">Fix: {r.fix}</div>}
            </li>
          ))}
        </ul>
      )}
      {props.approvalsApi && allowed(me, service.team, 'approve') && (
        <div className="gp-approve">
          <textarea className="jp-mod-styled" placeholder="comment (why)" value={comment}
            aria-label="approval comment" onChange={e => setComment(e.target.value)} />
          <button className="jp-mod-styled jp-mod-accept gp-button" disabled={action.busy}
            onClick={() => decide('approve')}>Approve</button>
          <button className="jp-mod-styled jp-mod-warn gp-button" disabled={action.busy}
            onClick={() => decide('reject')}>Reject</button>
        </div>
      )}
      {action.problem && <ErrorBox problem={action.problem} />}
    </div>
  );
}

function TryIt(props: {
  api: GoldenpathApi;
  service: string;
  environment: string;
  schema: Schema | null;
}): JSX.Element {
  const fields = formFields(props.schema);
  const [open, setOpen] = React.useState(false);
  const [values, setValues] = React.useState<Record<string, string>>({});
  const [answer, setAnswer] = React.useState<string | null>(null);
  const action = useAction();
  if (!open) {
    return (
      <button className="jp-mod-styled gp-link-button" onClick={() => setOpen(true)}>
        ▸ Try it
      </button>
    );
  }
  const send = () => action.run(async () => {
    setAnswer(null);
    const result = await props.api.predict(props.service, props.environment,
      buildInputs(props.schema, values));
    setAnswer(JSON.stringify(result.predictions));
  });
  return (
    <form className="gp-tryit" onSubmit={e => { e.preventDefault(); void send(); }}>
      {fields.map(f => (
        <label key={f.name} className="gp-field">
          <span>{f.label} <span className="gp-muted">{f.dtype}</span></span>
          {f.dtype === 'json' ? (
            <textarea className="jp-mod-styled" value={values[f.name] ?? ''}
              placeholder="[[1.0, 2.0]]"
              onChange={e => setValues({ ...values, [f.name]: e.target.value })} />
          ) : (
            <input className="jp-mod-styled" value={values[f.name] ?? ''}
              inputMode={f.numeric ? 'decimal' : 'text'}
              onChange={e => setValues({ ...values, [f.name]: e.target.value })} />
          )}
        </label>
      ))}
      <button type="submit" className="jp-mod-styled jp-mod-accept gp-button"
        disabled={action.busy}>
        {action.busy ? 'Predicting…' : 'Predict'}
      </button>
      {answer !== null && <div className="gp-answer">predictions: <code>{answer}</code></div>}
      {action.problem && <ErrorBox problem={action.problem} />}
    </form>
  );
}

/** A release; opened, it loads the release's governance (policy results, approvals), which
 * a service's detail does not carry. */
function ReleaseCard(props: { api: GoldenpathApi; release: Release }): JSX.Element {
  const [detail, setDetail] = React.useState<Release | null>(null);
  const release = detail ?? props.release;
  const open = (e: React.SyntheticEvent<HTMLDetailsElement>) => {
    if (e.currentTarget.open && !detail) {
      props.api.release(props.release.id).then(setDetail, () => undefined);
    }
  };
  const policies = policyViews(release);
  const lineage = lineageOf(release);
  const card = modelCard(release);
  return (
    <details className="gp-release" onToggle={open}>
      <summary>
        <b>v{release.version}</b> <code>{shortDigest(release.digest)}</code>{' '}
        <span className="gp-muted">by {release.created_by} · {age(release.created_at)} ago</span>
        {policies.some(p => !p.passed) && <span className="gp-status gp-status-failed">policy</span>}
      </summary>
      {policies.length > 0 && (
        <ul className="gp-policies">
          {policies.map((p, i) => (
            <li key={i} className={p.passed ? 'gp-pass' : 'gp-fail'}>
              {p.passed ? '✓' : '✗'} <b>{p.name}</b>
              {p.environment && <span className="gp-muted"> ({p.environment}{p.action ? `, ${p.action}` : ''})</span>}{' '}
              {p.message}
              {!p.passed && p.fix && <div className="gp-error-hint">Fix: {p.fix}</div>}
            </li>
          ))}
        </ul>
      )}
      {(release.approvals ?? []).length > 0 && (
        <ul className="gp-approvals">
          {(release.approvals ?? []).map((a, i) => (
            <li key={i}>
              {a.decision === 'approve' ? 'approved by' : 'rejected by'} {a.user || 'someone'}{' '}
              {a.environment && <>for <b>{a.environment}</b></>} {a.comment && `“${a.comment}”`}
            </li>
          ))}
        </ul>
      )}
      {card && (
        <details className="gp-card-text">
          <summary>Model card</summary>
          <pre>{card}</pre>
        </details>
      )}
      <table className="gp-kv">
        <tbody>
          {release.bento_tag && <tr><th>bundle</th><td>{release.bento_tag}</td></tr>}
          {release.image && <tr><th>image</th><td>{release.image}</td></tr>}
          {lineage.map(([k, v]) => <tr key={k}><th>{k}</th><td>{v}</td></tr>)}
        </tbody>
      </table>
    </details>
  );
}
