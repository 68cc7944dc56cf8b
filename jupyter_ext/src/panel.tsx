/** The "Deployments" sidebar: services by environment, live updates, detail, deploy; and a
 * "Figures" tab with the platform's delivery figures. */
import { ReactWidget } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { GoldenpathApi, ServerInfo } from './api';
import { ErrorBox, Loading, Problem, problemOf, StatusBadge } from './components';
import { DeployForm, KernelAccess } from './deploy';
import { ServiceDetail } from './detail';
import { ReportOpener } from './driftview';
import { FiguresView } from './figuresview';
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
import { withProgressions } from './progression';

/** Reconnect delays after the stream closed for good (an HTTP error), growing. */
const RECONNECT_MS = [1000, 3000, 10000, 30000];
/** While the stream is down, poll slowly; while it is up, refresh rarely (ages, anything
 * that changed without an event). */
const FALLBACK_POLL_MS = 15000;
const QUIET_REFRESH_MS = 60000;
/** Events come in bursts (a rollout's steps): one reload per burst. */
const BURST_MS = 250;

interface State {
  info: ServerInfo | null;
  services: ServiceSummary[] | null;
  detail: Service | null;
  me: Me | null;
  environments: string[] | null;
  waiting: Promotion[];
  events: GpEvent[];
  problem: Problem | null;
  /** how many loads succeeded: the figures tab fetches again on each */
  loads: number;
}

type View = 'deployments' | 'figures';
const VIEWS: { view: View; label: string }[] = [
  { view: 'deployments', label: 'Deployments' },
  { view: 'figures', label: 'Figures' }
];

function App(props: { api: GoldenpathApi; access: KernelAccess; onOpenReport: ReportOpener })
  : JSX.Element {
  const { api } = props;
  const [state, setState] = React.useState<State>({
    info: null, services: null, detail: null, me: null, environments: null, waiting: [],
    events: [], problem: null, loads: 0
  });
  const [view, setView] = React.useState<View>('deployments');
  const [selected, setSelected] = React.useState<string | null>(null);
  const [deploying, setDeploying] = React.useState(false);
  const [approvalsApi, setApprovalsApi] = React.useState(true);
  const [streaming, setStreaming] = React.useState(false);
  const lastEvent = React.useRef(0);
  /** the newest chain position seen: where a reopened stream resumes */
  const lastSeq = React.useRef<number | null>(null);
  const selectedRef = React.useRef<string | null>(null);
  selectedRef.current = selected;

  const seen = (events: GpEvent[]) => {
    for (const e of events) {
      lastEvent.current = Math.max(lastEvent.current, e.id);
      if (typeof e.seq === 'number') {
        lastSeq.current = Math.max(lastSeq.current ?? 0, e.seq);
      }
    }
  };

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
      seen(events);
      const name = selectedRef.current;
      const listed = services.find(s => s.name === name);
      const detail = name
        ? await api.service(name).then(s => withProgressions(s, listed), () => null)
        : null;
      setState(s => ({ info, services, me, detail, environments, waiting, problem: null,
        events: mergeEvents(s.events, events), loads: s.loads + 1 }));
    } catch (error) {
      setState(s => ({ ...s, problem: problemOf(error) }));
    }
  }, [api]);

  // Live updates: follow the server's event stream; each burst of events reloads what is
  // shown. A slow poll stands in while the stream is down.
  React.useEffect(() => {
    let stopped = false;
    let source: EventSource | null = null;
    let failures = 0;
    let burst = 0;
    let reconnect = 0;
    let poll = 0;
    const reload = () => {
      if (!burst) {
        burst = window.setTimeout(() => { burst = 0; void load(); }, BURST_MS);
      }
    };
    const pollEvery = (ms: number) => {
      window.clearInterval(poll);
      poll = window.setInterval(() => void load(), ms);
    };
    const connect = () => {
      if (stopped) {
        return;
      }
      const stream = api.eventStream(lastSeq.current);
      source = stream;
      stream.onopen = () => {
        failures = 0;
        setStreaming(true);
        pollEvery(QUIET_REFRESH_MS);
        reload(); // whatever happened while it was down
      };
      stream.onmessage = (message: MessageEvent<string>) => {
        let event: GpEvent;
        try {
          event = JSON.parse(message.data) as GpEvent;
        } catch {
          return;
        }
        seen([event]);
        setState(s => ({ ...s, events: mergeEvents(s.events, [event]) }));
        reload();
      };
      stream.onerror = () => {
        setStreaming(false);
        pollEvery(FALLBACK_POLL_MS);
        if (stream.readyState === EventSource.CLOSED) {
          // refused (an HTTP error): the browser gives up, so we try again, more slowly
          stream.close();
          reconnect = window.setTimeout(connect,
            RECONNECT_MS[Math.min(failures++, RECONNECT_MS.length - 1)]);
        } // else CONNECTING: the browser reconnects by itself, sending Last-Event-ID
      };
    };
    pollEvery(FALLBACK_POLL_MS);
    void load().then(connect);
    return () => {
      stopped = true;
      source?.close();
      window.clearTimeout(burst);
      window.clearTimeout(reconnect);
      window.clearInterval(poll);
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
      <span className="gp-live" data-live={streaming ? 'stream' : 'poll'}
        title={streaming ? 'live: following the server\'s event stream'
          : `the event stream is not connected: refreshing every ${FALLBACK_POLL_MS / 1000}s`}>
        {streaming ? '● live' : '○ polling'}
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
  } else if (view === 'figures') {
    body = <FiguresView api={api} environments={state.environments} refreshed={state.loads} />;
  } else if (selected && state.detail && state.detail.name === selected) {
    body = <ServiceDetail api={api} service={state.detail} me={state.me}
      environments={environmentsOf(state.services, state.environments ?? undefined)}
      waiting={state.waiting.filter(p => p.service === selected)} events={state.events}
      approvalsApi={approvalsApi} onApprovalsMissing={() => setApprovalsApi(false)}
      onChanged={() => void load()} onBack={() => setSelected(null)}
      onOpenReport={props.onOpenReport} />;
  } else if (selected) {
    body = <Loading text={`Loading ${selected}…`} />;
  } else {
    body = <ServiceList services={state.services} environments={state.environments}
      waiting={state.waiting} onSelect={setSelected} />;
  }
  return (
    <div className="gp-panel">
      {header}
      <ViewTabs view={view} onChange={setView} />
      {state.problem && state.services !== null && (
        <ErrorBox title="Live updates paused" problem={state.problem} onRetry={() => void load()} />
      )}
      {deploying && (
        <DeployForm access={props.access} server={server} events={state.events}
          onDeployed={name => { setSelected(name); setView('deployments'); void load(); }}
          onClose={() => setDeploying(false)} />
      )}
      <div className="gp-body" role="tabpanel" id="gp-view" aria-labelledby={`gp-tab-${view}`}>
        {body}
      </div>
    </div>
  );
}

/** Deployments | Figures: a tab list (arrow keys move between the tabs). */
function ViewTabs(props: { view: View; onChange: (view: View) => void }): JSX.Element {
  const tabs = React.useRef<(HTMLButtonElement | null)[]>([]);
  const onKeyDown = (e: React.KeyboardEvent, i: number) => {
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (step) {
      const next = (i + step + VIEWS.length) % VIEWS.length;
      props.onChange(VIEWS[next].view);
      tabs.current[next]?.focus();
    }
  };
  return (
    <div className="gp-tabs" role="tablist" aria-label="goldenpath views">
      {VIEWS.map(({ view, label }, i) => (
        <button key={view} ref={b => { tabs.current[i] = b; }} role="tab" id={`gp-tab-${view}`}
          className="gp-tab" aria-selected={props.view === view} aria-controls="gp-view"
          tabIndex={props.view === view ? 0 : -1} data-view={view}
          onClick={() => props.onChange(view)} onKeyDown={e => onKeyDown(e, i)}>
          {label}
        </button>
      ))}
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
  constructor(private readonly access: KernelAccess, private readonly openReport: ReportOpener,
    private readonly api = new GoldenpathApi()) {
    super();
    this.addClass('gp-sidebar');
  }

  render(): JSX.Element {
    return <App api={this.api} access={this.access} onOpenReport={this.openReport} />;
  }
}
