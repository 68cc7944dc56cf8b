/**
 * The platform's figures (GET /api/v1/figures) as the panel shows them: per track (model,
 * app), the change failure rate per environment with its counts, the mean delivery times in
 * human units, production releases per service, model autonomy and governance compliance;
 * "no data yet" where nothing was observed. Free of React and JupyterLab so jest can test it;
 * the shapes are the contract's (_openapi.d.ts).
 */
import type { components } from './_openapi';
import { DEFAULT_ENVIRONMENTS } from './model';

type Schemas = components['schemas'];

export type PlatformFigures = Schemas['PlatformFigures'];
export type ChangeFailure = Schemas['ChangeFailure'];
export type Durations = Schemas['Durations'];

/** The tracks always shown (the server lists only tracks it observed), in this order. */
export const TRACKS: readonly string[] = ['model', 'app'];
export const NO_DATA = 'no data yet';

const TRACK_TITLES: Record<string, string> = { model: 'Models', app: 'Apps' };

/** One shown figure: its text (a rate, a duration, or NO_DATA), the exact number behind it
 * (null: no data) and the counts it was computed from, in words. */
export interface FigureView {
  text: string;
  value: number | null;
  counts: string;
}

export interface ChangeFailureView extends FigureView {
  environment: string;
}

export interface ServiceReleases {
  service: string;
  releases: number;
}

/** The duration figures, keyed by their names in the contract. */
export type DurationKey = 'lead_time' | 'validation_to_production' | 'time_to_restore';
export const DURATION_KEYS: readonly DurationKey[] = [
  'lead_time', 'validation_to_production', 'time_to_restore'
];

export interface TrackView {
  track: string;
  title: string;
  changeFailure: ChangeFailureView[];
  durations: Record<DurationKey, FigureView>;
  productionReleases: ServiceReleases[];
  /** model releases only: null on other tracks */
  autonomy: FigureView | null;
  compliance: FigureView;
}

/** "33.3%": a ratio as a percentage, at most one decimal. */
export function percent(ratio: number): string {
  return `${round1(ratio * 100)}%`;
}

/** Seconds in the largest unit that keeps the number at least 1: "42 s", "2.5 min",
 * "3.1 h", "1.5 d" (one decimal at most; a value that rounds up to the next unit is shown
 * in it, so never "60 s"). */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) {
    return '';
  }
  const s = Math.max(0, seconds);
  const units: [string, number, number][] = [
    ['s', 1, 60], ['min', 60, 60], ['h', 3600, 24], ['d', 86400, Infinity]
  ];
  for (const [unit, size, next] of units) {
    const value = round1(s / size);
    if (value < next) {
      return `${value} ${unit}`;
    }
  }
  return ''; // not reached: days have no next unit
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The tracks to show: model and app, then any other the server reports. */
export function tracksOf(figures: PlatformFigures): string[] {
  const seen = new Set<string>([
    ...figures.change_failure, ...figures.lead_time, ...figures.validation_to_production,
    ...figures.time_to_restore, ...figures.production_releases, ...figures.governance_compliance
  ].map(x => x.track));
  return [...TRACKS, ...[...seen].filter(t => !TRACKS.includes(t)).sort()];
}

export function trackTitle(track: string): string {
  return TRACK_TITLES[track] ?? track;
}

/** What counts as one observation of each duration, for "mean of 3 releases". */
const OBSERVED: Record<DurationKey, string> = {
  lead_time: 'release',
  validation_to_production: 'release',
  time_to_restore: 'rollback'
};

function durationView(key: DurationKey, found: Durations | undefined): FigureView {
  if (!found || found.count === 0 || found.mean_seconds === null ||
      found.mean_seconds === undefined) {
    return { text: NO_DATA, value: null, counts: '' };
  }
  return {
    text: humanDuration(found.mean_seconds), value: found.mean_seconds,
    counts: `mean of ${plural(found.count, OBSERVED[key])}`
  };
}

function changeFailureView(environment: string, found: ChangeFailure | undefined)
  : ChangeFailureView {
  if (!found || found.rollouts_started === 0) {
    return { environment, text: NO_DATA, value: null, counts: '' };
  }
  const failures = found.rollbacks + found.failed_rollouts + found.aborted_rollouts;
  return {
    environment, text: percent(found.rate), value: found.rate,
    counts: `${failures} of ${plural(found.rollouts_started, 'rollout')}: ` +
      `${found.rollbacks} rolled back, ${found.failed_rollouts} failed, ` +
      `${found.aborted_rollouts} aborted`
  };
}

/** `part` of `whole` (one of `what`) as a percentage; "3 of 4 releases in prod" (`where`). */
function ratioView(ratio: number | null | undefined, part: number, whole: number,
  what: string, where: string): FigureView {
  if (whole === 0 || ratio === null || ratio === undefined) {
    return { text: NO_DATA, value: null, counts: '' };
  }
  return { text: percent(ratio), value: ratio, counts: `${part} of ${plural(whole, what)} ${where}` };
}

/**
 * One track's figures. Change failure rows follow the promotion path (`environments`), then
 * any other environment the server counted; an environment with no rollouts says NO_DATA.
 */
export function trackView(
  figures: PlatformFigures,
  track: string,
  environments: readonly string[] = DEFAULT_ENVIRONMENTS
): TrackView {
  const failures = figures.change_failure.filter(c => c.track === track);
  const extra = failures.map(c => c.environment).filter(e => !environments.includes(e));
  const production = figures.production || 'production';
  const durations = {} as Record<DurationKey, FigureView>;
  for (const key of DURATION_KEYS) {
    durations[key] = durationView(key, figures[key].find(d => d.track === track));
  }
  const compliance = figures.governance_compliance.find(g => g.track === track);
  const autonomy = figures.model_autonomy;
  return {
    track,
    title: trackTitle(track),
    changeFailure: [...environments, ...[...new Set(extra)].sort()].map(env =>
      changeFailureView(env, failures.find(c => c.environment === env))),
    durations,
    productionReleases: figures.production_releases
      .filter(p => p.track === track && p.releases > 0)
      .map(p => ({ service: p.service, releases: p.releases }))
      .sort((a, b) => a.service.localeCompare(b.service)),
    autonomy: track === 'model'
      ? ratioView(autonomy.ratio, autonomy.autonomous, autonomy.releases, 'release',
        `in ${production}`)
      : null,
    compliance: compliance
      ? ratioView(compliance.ratio, compliance.compliant, compliance.production_rollouts,
        'promotion', `to ${production}`)
      : ratioView(null, 0, 0, '', '')
  };
}

/** The figures' names as shown, and what each measures (the server's definitions). */
export const FIGURE_LABELS: Record<DurationKey | 'change_failure' | 'production_releases' |
  'model_autonomy' | 'governance_compliance', { label: string; title: (prod: string) => string }> = {
  change_failure: {
    label: 'Change failure rate',
    title: () => '(rollbacks + failed rollouts + aborted progressive rollouts) / rollouts ' +
      'started (promotions, deploys, rollbacks), per environment'
  },
  lead_time: {
    label: 'Lead time',
    title: prod => `from a release's creation to its first time live in ${prod}`
  },
  validation_to_production: {
    label: 'Validation to production',
    title: prod => `from a release passing its policies (or its creation, with none) to its ` +
      `first time live in ${prod}`
  },
  time_to_restore: {
    label: 'Time to restore',
    title: () => 'from a rollback starting to the environment being live again'
  },
  production_releases: {
    label: 'Production releases',
    title: prod => `releases live in ${prod} for the first time, per service (how often ` +
      'each is updated)'
  },
  model_autonomy: {
    label: 'Model autonomy',
    title: prod => `model releases in ${prod} on which nobody outside the service's team ` +
      'acted, but approvers'
  },
  governance_compliance: {
    label: 'Governance compliance',
    title: prod => `promotions to ${prod} whose policies all passed (no warn-only failure)`
  }
};
