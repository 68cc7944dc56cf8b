/**
 * A progressive rollout (canary, shadow, blue-green, champion-challenger) as the panel shows
 * it: step, weight, the last analysis per variant, and which actions a state allows. Free of
 * React and JupyterLab so jest can test it; the shapes are the contract's (_openapi.d.ts).
 */
import type { components } from './_openapi';
import type { Deployment, GpEvent } from './model';

type Schemas = components['schemas'];

/** GET .../rollout: where a progressive rollout stands. */
export type Progression = Schemas['Progression'];
export type AnalysisWindow = Schemas['AnalysisWindow'];
export type VariantMetrics = Schemas['VariantMetrics'];
export type Pairing = Schemas['Pairing'];
export type ProgressState = Progression['state'];

/** POST .../rollout/{action}. */
export type RolloutAction = 'pause' | 'resume' | 'promote' | 'abort';

/** States in which a person can still act on the rollout (the server's ACTIVE). */
export const ACTIVE_STATES: readonly ProgressState[] = ['starting', 'progressing', 'paused'];

/** Events that change what a rollout section shows: each one refetches the progression. */
export const ROLLOUT_EVENTS: readonly string[] = [
  'progression_started', 'progression_step', 'progression_paused', 'progression_resumed',
  'progression_switched', 'analysis_measured', 'rollout_failed', 'rollout_succeeded'
];

/** Whether a deployment's view says a progressive rollout runs, or last ran, there. */
export function hasProgression(d: Pick<Deployment, 'strategy' | 'progression'>): boolean {
  return Boolean(d.progression) && (d.strategy ?? 'rolling') !== 'rolling';
}

export function isActive(p: Pick<Progression, 'state'>): boolean {
  return ACTIVE_STATES.includes(p.state);
}

/** "step 1 of 2" while stepping; "switched" once all traffic went to the candidate;
 * "stopped at step 1 of 2" after an abort. */
export function stepLabel(p: Pick<Progression, 'step' | 'steps' | 'state'>): string {
  const n = p.steps.length;
  if (n === 0 || (p.step >= n && p.state !== 'aborted')) {
    return 'switched';
  }
  const at = `step ${Math.min(p.step, n - 1) + 1} of ${n}`;
  return p.state === 'aborted' ? `stopped at ${at}` : at;
}

/** The rollout's message unless it only repeats the step line (the server's step message). */
export function extraMessage(p: Pick<Progression, 'step' | 'steps' | 'state' | 'message'>)
  : string {
  return p.message === `${stepLabel(p)}: ${stepDescription(p)}` ? '' : p.message;
}

/** What the current step does with traffic, in words (the server's wording). */
export function stepDescription(p: Pick<Progression, 'step' | 'steps' | 'state'>): string {
  const spec = p.steps[p.step];
  if (p.state === 'aborted') {
    return 'all traffic back to the stable release';
  }
  if (!spec) {
    return 'all traffic to the candidate';
  }
  if (spec.kind === 'shadow') {
    return 'every request copied to the candidate (shadow), answers compared';
  }
  if (spec.kind === 'preview') {
    return 'the candidate on its preview URL';
  }
  return `${percent(spec.weight)} of requests to the candidate`;
}

/** 0.2 -> "20%"; 0.987 -> "98.7%"; null -> "–". */
export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined || Number.isNaN(share)) {
    return '–';
  }
  const value = Math.round(share * 1000) / 10;
  return `${Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1)}%`;
}

/** Share of a variant's requests answered without an error, or null with no requests. */
export function successRate(m: Pick<VariantMetrics, 'requests' | 'errors'>): number | null {
  return m.requests ? 1 - (m.errors ?? 0) / m.requests : null;
}

export function millis(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) {
    return '–';
  }
  return ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

/** The buttons a state allows (the server refuses the others with a Conflict). */
export function actionsFor(p: Pick<Progression, 'state'>): RolloutAction[] {
  switch (p.state) {
    case 'progressing':
      return ['pause', 'promote', 'abort'];
    case 'paused':
      return ['resume', 'promote', 'abort'];
    case 'starting':
      return ['abort'];
    default:
      return [];
  }
}

export const ACTION_LABELS: Record<RolloutAction, string> = {
  pause: 'Pause',
  resume: 'Resume',
  promote: 'Promote',
  abort: 'Abort'
};

export function lastWindow(p: Pick<Progression, 'windows'>): AnalysisWindow | null {
  return p.windows.length ? p.windows[p.windows.length - 1] : null;
}

/** One row of the analysis table. */
export interface VariantRow {
  variant: 'stable' | 'candidate';
  label: string;
  requests: number;
  success: string;
  p99: string;
}

export function variantRows(
  p: Pick<Progression, 'stable_version' | 'candidate_version'>,
  w: AnalysisWindow
): VariantRow[] {
  const row = (variant: 'stable' | 'candidate', version: number | null, m: VariantMetrics) => ({
    variant,
    label: `${version ? `v${version} ` : ''}${variant}`,
    requests: m.requests ?? 0,
    success: percent(successRate(m)),
    p99: millis(m.latency_ms?.p99)
  });
  return [row('stable', p.stable_version, w.stable),
    row('candidate', p.candidate_version, w.candidate)];
}

/** How the candidate's answers compared with the stable release's on the same requests. */
export function agreementText(paired: Pairing | null | undefined): string {
  if (!paired || !paired.requests) {
    return 'no paired requests';
  }
  const parts = [];
  if (paired.agreement !== null && paired.agreement !== undefined) {
    parts.push(`agreement ${percent(paired.agreement)}`);
  }
  if (paired.mad !== null && paired.mad !== undefined) {
    parts.push(`mean abs. difference ${paired.mad.toFixed(3)}`);
  }
  parts.push(`over ${paired.requests} paired request${paired.requests === 1 ? '' : 's'}`);
  if (paired.dropped) {
    parts.push(`${paired.dropped} not copied`);
  }
  return parts.join(', ');
}

/** The newest rollout event of a service in an environment (0 for none): a change of it
 * means the progression shown is stale. */
export function rolloutStamp(events: GpEvent[], service: string, environment: string): number {
  let newest = 0;
  for (const e of events) {
    if (e.service === service && e.environment === environment &&
        ROLLOUT_EVENTS.includes(e.type)) {
      newest = Math.max(newest, e.id);
    }
  }
  return newest;
}

/**
 * A service's detail with each deployment's strategy and progression state taken from the
 * services listing where the detail lacks them (this server's GET /services/{name} answers
 * every deployment as `rolling` with no progression; the listing has the rollout's).
 */
export function withProgressions<S extends { deployments: Deployment[] }>(
  detail: S,
  listed: { deployments: Deployment[] } | undefined
): S {
  if (!listed) {
    return detail;
  }
  const deployments = detail.deployments.map(d => {
    const other = listed.deployments.find(l => l.environment === d.environment &&
      l.release_id === d.release_id);
    return other && !hasProgression(d) && hasProgression(other)
      ? { ...d, strategy: other.strategy, progression: other.progression }
      : d;
  });
  return { ...detail, deployments };
}
