/** A deployment card's drift badge with its "Drift report" action, and the report itself: a
 * main-area widget showing the server's HTML page in an iframe sandboxed to nothing. */
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { ApiError, GoldenpathApi } from './api';
import { problemOf } from './components';
import { driftBadge, DriftStatus, driftStamp, reportId, reportWindow } from './drift';
import { Deployment, GpEvent } from './model';

/** While no full window was judged, look again this often (no event says one was). */
const WAITING_POLL_MS = 15000;

/** Opens a window's report in the main area (JupyterLab's shell, from the plugin). */
export type ReportOpener = (service: string, environment: string, window: number) => void;

export function DriftBadge(props: {
  api: GoldenpathApi;
  service: string;
  deployment: Deployment;
  events: GpEvent[];
  onOpenReport: ReportOpener;
}): JSX.Element | null {
  const { api, service, deployment: d } = props;
  const [status, setStatus] = React.useState<DriftStatus | null>(null);
  const [tick, setTick] = React.useState(0);
  const stamp = driftStamp(props.events, service, d.environment);
  React.useEffect(() => {
    let current = true;
    api.drift(service, d.environment).then(
      s => { if (current) { setStatus(s); } },
      () => { if (current) { setStatus(null); } }); // no badge rather than a broken one
    return () => { current = false; };
  }, [api, service, d.environment, d.release_id, stamp, tick]);
  const waiting = status !== null && driftBadge(status).kind === 'waiting';
  React.useEffect(() => {
    if (!waiting) {
      return;
    }
    const timer = setTimeout(() => setTick(t => t + 1), WAITING_POLL_MS);
    return () => clearTimeout(timer);
  }, [waiting, tick]);

  if (!status) {
    return null;
  }
  const badge = driftBadge(status);
  const window = reportWindow(status);
  return (
    <div className="gp-drift" data-drift={badge.kind}>
      <span className={`gp-drift-badge gp-drift-${badge.kind}`} title={badge.title}
        data-features={badge.features.join(',')}>
        {badge.label}
      </span>
      {window !== null && (
        <button className="jp-mod-styled gp-link-button gp-drift-report"
          title={`open the report of window ${window} in a tab`}
          onClick={() => props.onOpenReport(service, d.environment, window)}>
          Drift report
        </button>
      )}
    </div>
  );
}

/** A window's drift report in a main-area tab. The page comes through the proxy (which adds
 * the token); the iframe runs no scripts and has no origin (sandbox=""). */
export class DriftReport extends Widget {
  private readonly frame = document.createElement('iframe');
  private readonly problem = document.createElement('div');

  constructor(private readonly api: GoldenpathApi, readonly service: string,
    readonly environment: string) {
    super();
    this.id = reportId(service, environment);
    this.addClass('gp-drift-report-widget');
    this.title.label = `Drift: ${service} (${environment})`;
    this.title.closable = true;
    this.frame.setAttribute('sandbox', '');
    this.frame.setAttribute('referrerpolicy', 'no-referrer');
    this.frame.title = `drift report of ${service} in ${environment}`;
    this.frame.className = 'gp-drift-frame';
    this.problem.className = 'gp-error';
    this.problem.setAttribute('role', 'alert');
    this.problem.hidden = true;
    this.node.append(this.problem, this.frame);
  }

  /** Show window `window`'s report (the tab stays; its page changes). */
  async load(window: number): Promise<void> {
    this.node.dataset.window = String(window);
    this.title.caption = `drift report of ${this.service} in ${this.environment}, window ${window}`;
    try {
      this.frame.srcdoc = await this.api.driftReport(this.service, this.environment, window);
      this.problem.hidden = true;
    } catch (error) {
      const p = problemOf(error);
      const gone = error instanceof ApiError && error.status === 404;
      this.problem.textContent = `Cannot load the drift report: ${p.message}` +
        (p.hint ? ` (how to fix: ${p.hint})` : gone ? ' (the window may have expired)' : '');
      this.problem.hidden = false;
    }
  }
}
