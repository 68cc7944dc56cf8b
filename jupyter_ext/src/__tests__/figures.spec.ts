import {
  humanDuration,
  NO_DATA,
  percent,
  PlatformFigures,
  tracksOf,
  trackView
} from '../figures';

/** GET /api/v1/figures as the server answers it: nothing observed yet. */
const none = (over: Partial<PlatformFigures> = {}): PlatformFigures => ({
  production: 'prod', last_event_id: 0, change_failure: [], validation_to_production: [],
  lead_time: [], time_to_restore: [], production_releases: [],
  model_autonomy: { releases: 0, autonomous: 0, ratio: null }, governance_compliance: [],
  ...over
});

const failure = (environment: string, started: number, rollbacks = 0, failed = 0, aborted = 0,
  track = 'model') => ({
  track, environment, rollouts_started: started, rollbacks, failed_rollouts: failed,
  aborted_rollouts: aborted, rate: (rollbacks + failed + aborted) / started
});

describe('percent', () => {
  it('shows a ratio as a percentage with at most one decimal', () => {
    expect(percent(0)).toBe('0%');
    expect(percent(1)).toBe('100%');
    expect(percent(0.5)).toBe('50%');
    expect(percent(1 / 3)).toBe('33.3%');
    expect(percent(2 / 3)).toBe('66.7%');
    expect(percent(0.0004)).toBe('0%');
  });
});

describe('humanDuration', () => {
  it('uses seconds, minutes, hours and days, one decimal at most', () => {
    expect(humanDuration(0)).toBe('0 s');
    expect(humanDuration(4.26)).toBe('4.3 s');
    expect(humanDuration(42)).toBe('42 s');
    expect(humanDuration(150)).toBe('2.5 min');
    expect(humanDuration(3600)).toBe('1 h');
    expect(humanDuration(3 * 3600 + 360)).toBe('3.1 h');
    expect(humanDuration(1.5 * 86400)).toBe('1.5 d');
    expect(humanDuration(400 * 86400)).toBe('400 d');
  });

  it('moves to the next unit where rounding would reach it (never "60 s" or "24 h")', () => {
    expect(humanDuration(59.94)).toBe('59.9 s');
    expect(humanDuration(59.96)).toBe('1 min');
    expect(humanDuration(3599)).toBe('1 h');
    expect(humanDuration(86399)).toBe('1 d');
  });

  it('reads a negative duration (clock skew) as 0 and shows nothing for a non-number', () => {
    expect(humanDuration(-3)).toBe('0 s');
    expect(humanDuration(NaN)).toBe('');
    expect(humanDuration(Infinity)).toBe('');
  });
});

describe('tracksOf', () => {
  it('always shows models and apps, then any other track the server counted', () => {
    expect(tracksOf(none())).toEqual(['model', 'app']);
    const f = none({ change_failure: [failure('dev', 1, 0, 0, 0, 'pipeline')],
      lead_time: [{ track: 'batch', count: 1, sum_seconds: 5, mean_seconds: 5 }] });
    expect(tracksOf(f)).toEqual(['model', 'app', 'batch', 'pipeline']);
  });
});

describe('trackView', () => {
  it('says no data yet for every figure when nothing was observed', () => {
    const v = trackView(none(), 'model');
    expect(v.title).toBe('Models');
    expect(v.changeFailure.map(c => [c.environment, c.text, c.value]))
      .toEqual([['dev', NO_DATA, null], ['staging', NO_DATA, null], ['prod', NO_DATA, null]]);
    for (const d of Object.values(v.durations)) {
      expect(d).toEqual({ text: NO_DATA, value: null, counts: '' });
    }
    expect(v.productionReleases).toEqual([]);
    expect(v.autonomy).toEqual({ text: NO_DATA, value: null, counts: '' });
    expect(v.compliance).toEqual({ text: NO_DATA, value: null, counts: '' });
  });

  it('shows the change failure rate per environment with the counts behind it', () => {
    const f = none({ change_failure: [
      failure('dev', 4, 1), failure('prod', 3, 0, 1, 1), failure('qa', 2, 0, 0, 0),
      failure('dev', 5, 5, 0, 0, 'app')
    ] });
    const v = trackView(f, 'model', ['dev', 'staging', 'prod']);
    expect(v.changeFailure).toEqual([
      { environment: 'dev', text: '25%', value: 0.25,
        counts: '1 of 4 rollouts: 1 rolled back, 0 failed, 0 aborted' },
      { environment: 'staging', text: NO_DATA, value: null, counts: '' },
      { environment: 'prod', text: '66.7%', value: 2 / 3,
        counts: '2 of 3 rollouts: 0 rolled back, 1 failed, 1 aborted' },
      // an environment off the path comes last
      { environment: 'qa', text: '0%', value: 0,
        counts: '0 of 2 rollouts: 0 rolled back, 0 failed, 0 aborted' }
    ]);
    expect(trackView(f, 'app').changeFailure[0]).toMatchObject({ text: '100%',
      counts: '5 of 5 rollouts: 5 rolled back, 0 failed, 0 aborted' });
    expect(trackView(none({ change_failure: [failure('dev', 1, 1)] }), 'model')
      .changeFailure[0].counts).toBe('1 of 1 rollout: 1 rolled back, 0 failed, 0 aborted');
  });

  it('shows mean durations in human units, with how many observations', () => {
    const f = none({
      lead_time: [{ track: 'model', count: 2, sum_seconds: 300, mean_seconds: 150 },
        { track: 'app', count: 1, sum_seconds: 7200, mean_seconds: 7200 }],
      validation_to_production: [{ track: 'model', count: 1, sum_seconds: 42, mean_seconds: 42 }],
      time_to_restore: [{ track: 'model', count: 0, sum_seconds: 0, mean_seconds: null }]
    });
    const model = trackView(f, 'model');
    expect(model.durations.lead_time)
      .toEqual({ text: '2.5 min', value: 150, counts: 'mean of 2 releases' });
    expect(model.durations.validation_to_production)
      .toEqual({ text: '42 s', value: 42, counts: 'mean of 1 release' });
    expect(model.durations.time_to_restore.text).toBe(NO_DATA);
    expect(trackView(f, 'app').durations.lead_time.text).toBe('2 h');
    const restored = none({
      time_to_restore: [{ track: 'model', count: 3, sum_seconds: 30, mean_seconds: 10 }] });
    expect(trackView(restored, 'model').durations.time_to_restore.counts)
      .toBe('mean of 3 rollbacks');
  });

  it('lists production releases per service of the track, by name', () => {
    const f = none({ production_releases: [
      { track: 'model', service: 'iris', releases: 3 },
      { track: 'model', service: 'churn', releases: 1 },
      { track: 'app', service: 'shop', releases: 2 }
    ] });
    expect(trackView(f, 'model').productionReleases)
      .toEqual([{ service: 'churn', releases: 1 }, { service: 'iris', releases: 3 }]);
    expect(trackView(f, 'app').productionReleases).toEqual([{ service: 'shop', releases: 2 }]);
  });

  it('shows model autonomy on models only, and governance compliance per track', () => {
    const f = none({
      production: 'live',
      model_autonomy: { releases: 4, autonomous: 3, ratio: 0.75 },
      governance_compliance: [
        { track: 'model', production_rollouts: 3, compliant: 2, ratio: 2 / 3 },
        { track: 'app', production_rollouts: 0, compliant: 0, ratio: 0 }
      ]
    });
    const model = trackView(f, 'model');
    expect(model.autonomy).toEqual({ text: '75%', value: 0.75, counts: '3 of 4 releases in live' });
    expect(model.compliance)
      .toEqual({ text: '66.7%', value: 2 / 3, counts: '2 of 3 promotions to live' });
    const app = trackView(f, 'app');
    expect(app.autonomy).toBeNull();
    expect(app.compliance.text).toBe(NO_DATA); // no promotions to production: no ratio
    const one = none({ model_autonomy: { releases: 1, autonomous: 0, ratio: 0 },
      governance_compliance: [{ track: 'model', production_rollouts: 1, compliant: 1, ratio: 1 }] });
    expect(trackView(one, 'model').autonomy)
      .toEqual({ text: '0%', value: 0, counts: '0 of 1 release in prod' });
    expect(trackView(one, 'model').compliance.counts).toBe('1 of 1 promotion to prod');
  });
});
