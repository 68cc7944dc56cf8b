import { driftBadge, DriftStatus, driftStamp, reportId, reportWindow } from '../drift';
import { GpEvent } from '../model';

const window = (id: number, status: DriftStatus['status'], drifted: string[] = []) => ({
  id, at: '2026-12-03T10:00:00', release_id: 'rel-1', rows: 100, status, drifted,
  scores: { tenure: 0.1, visits: drifted.includes('visits') ? 0.9 : 0.1 },
  dataset_drift: drifted.length > 1, columns: [], message: ''
});

/** GET .../drift as the server answers it for `churn` in dev (100 rows per window). */
const drift = (over: Partial<DriftStatus> = {}): DriftStatus => ({
  service: 'churn', environment: 'dev', status: 'waiting', window_rows: 100, sample: 1,
  logged_requests: 0, latest: null, windows: [], ...over
});

describe('driftBadge', () => {
  it('names the drifted features of the newest window', () => {
    const latest = window(2, 'drift', ['visits']);
    const badge = driftBadge(drift({ status: 'drift', latest, windows: [latest, window(1, 'ok')] }));
    expect(badge).toMatchObject({ kind: 'drift', label: 'drift: visits', features: ['visits'] });
    expect(badge.title).toContain('visits');
  });

  it('shows three names and counts the rest', () => {
    const latest = window(3, 'drift', ['a', 'b', 'c', 'd', 'prediction']);
    const badge = driftBadge(drift({ status: 'drift', latest, windows: [latest] }));
    expect(badge.label).toBe('drift: a, b, c +2');
    expect(badge.title).toContain('a, b, c, d, prediction');
  });

  it('says ok when the newest window matches the training data', () => {
    const latest = window(1, 'ok');
    expect(driftBadge(drift({ status: 'ok', latest, windows: [latest] })))
      .toMatchObject({ kind: 'ok', label: 'no drift', features: [] });
  });

  it('waits for a full window, counting what was logged', () => {
    const badge = driftBadge(drift({ logged_requests: 1 }));
    expect(badge).toMatchObject({ kind: 'waiting', label: 'drift: waiting' });
    expect(badge.title).toBe('waiting for a full window of 100 logged rows (1 request logged so far)');
  });

  it('reads too few rows as waiting, with the server\'s message', () => {
    const latest = { ...window(1, 'insufficient'), message: 'only 4 rows with values' };
    expect(driftBadge(drift({ status: 'insufficient', latest, windows: [latest] })))
      .toMatchObject({ kind: 'waiting', title: 'only 4 rows with values' });
  });

  it('is off where nothing is logged or there is no training data, saying how to fix it', () => {
    expect(driftBadge(drift({ status: 'off', sample: 0 })).kind).toBe('off');
    expect(driftBadge(drift({ status: 'off' })).title).toContain('monitoring.sample');
    const none = driftBadge(drift({ status: 'no_reference' }));
    expect(none).toMatchObject({ kind: 'off', label: 'drift: off' });
    expect(none.title).toContain('data={"train": X_train}');
  });

  it('reads a status it does not know as waiting', () => {
    expect(driftBadge(drift({ status: 'judging' as DriftStatus['status'] })).kind).toBe('waiting');
  });
});

describe('reportWindow', () => {
  it('is the newest window, or none before the first', () => {
    const latest = window(7, 'drift', ['visits']);
    expect(reportWindow(drift({ status: 'drift', latest, windows: [latest, window(6, 'ok')] })))
      .toBe(7);
    expect(reportWindow(drift({ windows: [window(5, 'ok')] }))).toBe(5);
    expect(reportWindow(drift())).toBeNull();
  });
});

describe('driftStamp', () => {
  const event = (id: number, type: string, environment = 'dev', service = 'churn'): GpEvent => ({
    id, at: '2026-12-03T10:00:00', service, environment, release_id: 'rel-1', type,
    message: '', data: {}
  });

  it('is the newest drift event of that deployment', () => {
    const events = [event(1, 'drift_detected'), event(4, 'drift_cleared'),
      event(5, 'drift_detected', 'prod'), event(6, 'drift_detected', 'dev', 'iris'),
      event(7, 'deployed')];
    expect(driftStamp(events, 'churn', 'dev')).toBe(4);
    expect(driftStamp(events, 'churn', 'staging')).toBe(0);
  });
});

describe('reportId', () => {
  it('is one DOM id per deployment', () => {
    expect(reportId('churn', 'dev')).toBe('goldenpath-drift-churn-dev');
    expect(reportId('a.b c', 'prod')).toBe('goldenpath-drift-a_b_c-prod');
  });
});
