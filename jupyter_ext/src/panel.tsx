/** The "Deployments" sidebar: services by environment, live updates, detail, deploy. */
import { ReactWidget } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { GoldenpathApi, ServerInfo } from './api';
import { ErrorBox, Loading, Problem, problemOf, StatusBadge } from './components';
import { DeployForm, KernelAccess } from './deploy';
import { ServiceDetail } from './detail';
import {
  age,
  environmentsOf,
  GpEvent,
  groupByEnvironment,
  Me,
  mergeEvents,
  Promotion,
  Service,
  ServiceSummary,
  WAITING
} from './model';

const POLL_MS = 2000;
const FULL_REFRESH_MS = 30000;

interface State {
  info: ServerInfo | null;
  services: ServiceSummary[] | null;
  detail: Service | null;
  me: Me | null;
  environments: string[] | null;
  waiting: Promotion[];
  events: GpEvent[];
  problem: Problem | null;
}

function App(props: { api: GoldenpathApi; access: KernelAccess }): JSX.Element {
  const { api } = props;
  const [state, setState] = React.useState<State>({
    info: null, services: null, detail: null, me: null, environments: null, waiting: [],
    events: [], problem: null
  });
  const [selected, setSelected] = React.useState<string | null>(null);
  const [deploying, setDeploying] = React.useState(false);
  const [approvalsApi, setApprovalsApi] = React.useState(true);
  const lastEvent = React.useRef(0);
  const selectedRef = React.useRef<string | null>(null);
  selectedRef.current = selected;

  const load = React.useCallback(async () => {
    try {
      const info = await api.config();
      if (!info.reachable) {
        setState(s => ({ ...s, info, problem: {
          message: `${info.message || `the goldenpath server at ${info.server} is not answering`}`,
          hint: info.hint } }));
        return;
      }
      const [services, me, environments, waiting, events] = await Promise.all([
        api.services(), api.me(), api.environments(), api.promotions(WAITING),
        api.events(lastEvent.current)
      ]);
      if (events.length) {
        lastEvent.current = Math.max(lastEvent.current, ...events.map(e => e.id));
      }
      const name = selectedRef.current;
      const detail = name ? await api.service(name).catch(() => null) : null;
      setState(s => ({ info, services, me, detail, environments, waiting, problem: null,
        events: mergeEvents(s.events, events) }));
    } catch (error) {
      setState(s => ({ ...s, problem: problemOf(error) }));
    }
  }, [api]);

  // Live updates: poll the event log; any new event reloads what is shown.
  React.useEffect(() => {
    let stopped = false;
    let lastFull = Date.now();
    void load();
    const tick = async () => {
      if (stopped) {
        return;
      }
      try {
        const fresh = await api.events(lastEvent.current);
        if (fresh.length || Date.now() - lastFull > FULL_REFRESH_MS) {
          lastFull = Date.now();
          await load();
        }
      } catch (error) {
        setState(s => ({ ...s, problem: problemOf(error) }));
        await load();
      }
      if (!stopped) {
        timer = window.setTimeout(tick, POLL_MS);
      }
    };
    let timer = window.setTimeout(tick, POLL_MS);
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [load]);

  React.useEffect(() => { void load(); }, [selected]);

  const server = state.info?.server ?? '';
  const header = (
    <div className="gp-header">
      <span className="gp-title">Deployments</span>
      <span className="gp-server" title="promotion server (via the Jupyter proxy)">
        {server ? `server: ${server}` : ''}
      </span>
      <button className="jp-mod-styled gp-button" onClick={() => setDeploying(!deploying)}>
        Deploy…
      </button>
      <button className="gp-icon-button" title="Refresh" onClick={() => void load()}>
        <refreshIcon.react tag="span" />
      </button>
    </div>
  );
  let body: JSX.Element;
  if (state.problem && state.services === null) {
    body = <ErrorBox title="Cannot load deployments" problem={state.problem}
      onRetry={() => void load()} />;
  } else if (state.services === null) {
    body = <Loading text={`Loading deployments${server ? ` from ${server}` : ''}…`} />;
  } else if (selected && state.detail && state.detail.name === selected) {
    body = <ServiceDetail api={api} service={state.detail} me={state.me}
      environments={environmentsOf(state.services, state.environments ?? undefined)}
      waiting={state.waiting.filter(p => p.service === selected)} events={state.events}
      approvalsApi={approvalsApi} onApprovalsMissing={() => setApprovalsApi(false)}
      onChanged={() => void load()} onBack={() => setSelected(null)} />;
  } else if (selected) {
    body = <Loading text={`Loading ${selected}…`} />;
  } else {
    body = <ServiceList services={state.services} environments={state.environments}
      waiting={state.waiting} onSelect={setSelected} />;
  }
  return (
    <div className="gp-panel">
      {header}
      {state.problem && state.services !== null && (
        <ErrorBox title="Live updates paused" problem={state.problem} onRetry={() => void load()} />
      )}
      {deploying && (
        <DeployForm access={props.access} server={server} events={state.events}
          onDeployed={name => { setSelected(name); void load(); }}
          onClose={() => setDeploying(false)} />
      )}
      <div className="gp-body">{body}</div>
    </div>
  );
}

function ServiceList(props: {
  services: ServiceSummary[];
  environments: string[] | null;
  waiting: Promotion[];
  onSelect: (name: string) => void;
}): JSX.Element {
  const groups = groupByEnvironment(props.services, props.environments ?? undefined,
    props.waiting);
  if (groups.length === 0) {
    return (
      <div className="gp-empty">
        <p>No deployments yet.</p>
        <p>In a notebook: <code>gp.deploy(model, name="churn", sample=X_test[:5])</code>, or
          use <b>Deploy…</b> above to pick a model from the notebook's kernel.</p>
      </div>
    );
  }
  return (
    <div className="gp-list">
      {groups.map(g => (
        <section key={g.environment} className="gp-env" data-env={g.environment}>
          <h3>{g.environment}</h3>
          <table className="gp-table">
            <tbody>
              {g.rows.map(({ service, ...d }) => (
                <tr key={`${service.name}-${d.promotion ? d.promotion.id : 'live'}`}
                  className="gp-row" data-service={service.name} data-env={d.environment}
                  data-kind={d.promotion ? 'promotion' : 'deployment'}
                  onClick={() => props.onSelect(service.name)} title="show details">
                  <td className="gp-name">{service.name}</td>
                  <td className="gp-version">v{d.version}</td>
                  <td><StatusBadge status={d.status} /></td>
                  <td className="gp-age gp-muted">{age(d.updated)}</td>
                  <td className="gp-endpoint">
                    {d.url && <a href={d.url} target="_blank" rel="noreferrer"
                      onClick={e => e.stopPropagation()}>{d.url.replace(/^https?:\/\//, '')}</a>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}

/** The sidebar widget hosting the React app. */
export class DeploymentsPanel extends ReactWidget {
  constructor(private readonly access: KernelAccess, private readonly api = new GoldenpathApi()) {
    super();
    this.addClass('gp-sidebar');
  }

  render(): JSX.Element {
    return <App api={this.api} access={this.access} />;
  }
}
