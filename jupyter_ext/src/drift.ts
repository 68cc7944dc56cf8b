/**
 * A live model's drift as the panel shows it: one badge per deployment (ok, drift with the
 * drifted features, waiting, off) and which window's report to open. Free of React and
 * JupyterLab so jest can test it; the shapes are the contract's (_openapi.d.ts).
 */
import type { components } from './_openapi';
import type { GpEvent } from './model';

type Schemas = components['schemas'];

/** GET .../drift: the newest window judged, and the ones before (newest first). */
export type DriftStatus = Schemas['DriftStatus'];
export type DriftWindow = Schemas['DriftWindow'];

/** Events after which a deployment's drift is fetched again. */
export const DRIFT_EVENTS: readonly string[] = ['drift_detected', 'drift_cleared'];

export type DriftKind = 'ok' | 'drift' | 'waiting' | 'off';

export interface DriftBadgeView {
  kind: DriftKind;
  label: string;
  /** the badge's tooltip: what it means, and what to do where something is missing */
  title: string;
  /** the features (and `prediction`) that drifted in the newest window */
  features: string[];
}

/** Names shown on the badge itself; the tooltip lists them all. */
const SHOWN = 3;

export function driftBadge(status: DriftStatus): DriftBadgeView {
  const latest = status.latest;
  const rows = `${status.window_rows} logged rows`;
  switch (status.status) {
    case 'drift': {
      const features = latest?.drifted ?? [];
      const shown = features.slice(0, SHOWN).join(', ');
      const more = features.length > SHOWN ? ` +${features.length - SHOWN}` : '';
      return {
        kind: 'drift', features,
        label: features.length ? `drift: ${shown}${more}` : 'drift',
        title: `the newest window of ${latest?.rows ?? status.window_rows} rows drifted from ` +
          `the training data${features.length ? `: ${features.join(', ')}` : ''}`
      };
    }
    case 'ok':
      return {
        kind: 'ok', features: [], label: 'no drift',
        title: `the newest window of ${latest?.rows ?? status.window_rows} rows matches the ` +
          'training data'
      };
    case 'insufficient':
      return {
        kind: 'waiting', features: [], label: 'drift: waiting',
        title: latest?.message || `too few rows to judge yet (a window is ${rows})`
      };
    case 'no_reference':
      return {
        kind: 'off', features: [], label: 'drift: off',
        title: latest?.message || 'no training data to compare with: deploy with ' +
          'gp.deploy(model, ..., data={"train": X_train})'
      };
    case 'off':
      return {
        kind: 'off', features: [], label: 'drift: off',
        title: 'this environment logs no requests: set monitoring.sample above 0 in the ' +
          'platform config'
      };
    default: // waiting, or a status a newer server sends
      return {
        kind: 'waiting', features: [], label: 'drift: waiting',
        title: `waiting for a full window of ${rows} ` +
          `(${status.logged_requests} request${status.logged_requests === 1 ? '' : 's'} ` +
          'logged so far)'
      };
  }
}

/** The window whose report "Drift report" opens: the newest judged, or none yet. */
export function reportWindow(status: DriftStatus): number | null {
  return status.latest?.id ?? status.windows[0]?.id ?? null;
}

/** The newest drift event of this deployment (0: none): a change refetches its drift. */
export function driftStamp(events: GpEvent[], service: string, environment: string): number {
  let newest = 0;
  for (const e of events) {
    if (e.service === service && e.environment === environment && DRIFT_EVENTS.includes(e.type)) {
      newest = Math.max(newest, e.id);
    }
  }
  return newest;
}

/** The main-area widget's id for a deployment's report: one tab per deployment. */
export function reportId(service: string, environment: string): string {
  return `goldenpath-drift-${service}-${environment}`.replace(/[^A-Za-z0-9_-]/g, '_');
}
