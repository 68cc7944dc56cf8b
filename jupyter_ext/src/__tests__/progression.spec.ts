import {
  actionsFor,
  agreementText,
  extraMessage,
  hasProgression,
  lastWindow,
  millis,
  percent,
  Progression,
  rolloutStamp,
  stepDescription,
  stepLabel,
  successRate,
  variantRows,
  withProgressions
} from '../progression';
import { GpEvent } from '../model';

const canaryStep = (weight: number) => ({
  kind: 'canary' as const, weight, mirror: false, hold_s: 600, min_requests: 10
});

const variant = (requests: number, errors: number, p99: number | null) => ({
  requests, errors, error_rate: requests ? errors / requests : null,
  latency_ms: { p50: p99 === null ? null : p99 / 2, p95: null, p99 }
});

/** A canary 20% -> 50% -> 100% of v2 over v1, as GET .../rollout answers (server's view). */
const canary = (over: Partial<Progression> = {}): Progression => ({
  rollout_id: 'r-2', service: 'flowers', environment: 'prod', strategy: 'canary',
  state: 'progressing', step: 0, steps: [canaryStep(0.2), canaryStep(0.5)], weight: 0.2,
  mirror: false, message: 'step 1 of 2: 20% of requests to the candidate', failures: 0,
  stable_release_id: 'rel-1', stable_version: 1, candidate_release_id: 'rel-2',
  candidate_version: 2, preview_url: '', windows: [], totals: {},
  started_at: '2026-11-21T10:00:00', updated_at: '2026-11-21T10:01:00', ...over
});

const windowOf = (verdict: 'pass' | 'fail' | 'inconclusive', reasons: string[] = []) => ({
  at: '2026-11-21T10:10:00', step: 0, seconds: 600.4, weight: 0.2, verdict, reasons,
  stable: variant(400, 0, 12.5), candidate: variant(100, 3, 480),
  paired: { requests: 0, dropped: 0, agreement: null, mad: null }
});

describe('a progression in words', () => {
  it('counts steps as the server does, and says when it switched', () => {
    expect(stepLabel(canary())).toBe('step 1 of 2');
    expect(stepLabel(canary({ step: 1 }))).toBe('step 2 of 2');
    expect(stepLabel(canary({ step: 2, state: 'succeeded' }))).toBe('switched');
    expect(stepLabel(canary({ step: 0, state: 'aborted' }))).toBe('stopped at step 1 of 2');
  });

  it('leaves out a message that only repeats the step', () => {
    expect(extraMessage(canary())).toBe('');
    expect(extraMessage(canary({ state: 'paused', message: 'paused by alice' })))
      .toBe('paused by alice');
  });

  it('describes what each kind of step does with traffic', () => {
    expect(stepDescription(canary())).toBe('20% of requests to the candidate');
    expect(stepDescription(canary({ step: 2 }))).toBe('all traffic to the candidate');
    expect(stepDescription(canary({ state: 'aborted' })))
      .toBe('all traffic back to the stable release');
    const shadow = canary({ strategy: 'shadow', steps: [
      { kind: 'shadow', weight: 0, mirror: true, hold_s: 60, min_requests: 30 }] });
    expect(stepDescription(shadow)).toContain('copied to the candidate (shadow)');
    const preview = canary({ strategy: 'blue-green', steps: [
      { kind: 'preview', weight: 0, mirror: false, hold_s: 30, min_requests: 0 }] });
    expect(stepDescription(preview)).toBe('the candidate on its preview URL');
  });

  it('formats shares and latencies, with a dash for what was not measured', () => {
    expect(percent(0.2)).toBe('20%');
    expect(percent(0.987)).toBe('98.7%');
    expect(percent(null)).toBe('–');
    expect(millis(480)).toBe('480 ms');
    expect(millis(12.54)).toBe('12.5 ms');
    expect(millis(undefined)).toBe('–');
    expect(successRate({ requests: 0, errors: 0 })).toBeNull();
    expect(successRate({ requests: 100, errors: 3 })).toBeCloseTo(0.97);
  });
});

describe('actions', () => {
  it('offers what the state allows', () => {
    expect(actionsFor(canary())).toEqual(['pause', 'promote', 'abort']);
    expect(actionsFor(canary({ state: 'paused' }))).toEqual(['resume', 'promote', 'abort']);
    expect(actionsFor(canary({ state: 'starting' }))).toEqual(['abort']);
    expect(actionsFor(canary({ state: 'aborted' }))).toEqual([]);
    expect(actionsFor(canary({ state: 'succeeded' }))).toEqual([]);
  });

  it('shows a section only for a progressive rollout', () => {
    expect(hasProgression({ strategy: 'canary', progression: 'progressing' })).toBe(true);
    expect(hasProgression({ strategy: 'canary', progression: 'aborted' })).toBe(true);
    expect(hasProgression({ strategy: 'rolling', progression: '' })).toBe(false);
    expect(hasProgression({})).toBe(false); // an older server: neither field
  });
});

describe('analysis', () => {
  it('reads the last window per variant', () => {
    const p = canary({ windows: [windowOf('pass'), windowOf('fail', ['p99 latency 480 ms'])] });
    const w = lastWindow(p)!;
    expect(w.verdict).toBe('fail');
    expect(variantRows(p, w)).toEqual([
      { variant: 'stable', label: 'v1 stable', requests: 400, success: '100%', p99: '12.5 ms' },
      { variant: 'candidate', label: 'v2 candidate', requests: 100, success: '97%',
        p99: '480 ms' }
    ]);
    expect(lastWindow(canary())).toBeNull();
  });

  it('says how the answers compared on the same requests', () => {
    expect(agreementText({ requests: 0, dropped: 0 })).toBe('no paired requests');
    expect(agreementText({ requests: 120, dropped: 2, agreement: 0.975, mad: null }))
      .toBe('agreement 97.5%, over 120 paired requests, 2 not copied');
    expect(agreementText({ requests: 1, dropped: 0, mad: 0.01234 }))
      .toBe('mean abs. difference 0.012, over 1 paired request');
  });
});

describe('refreshing', () => {
  const event = (id: number, type: string, environment = 'prod', service = 'flowers'): GpEvent =>
    ({ id, at: '', service, environment, release_id: 'rel-2', type, message: '', data: {} });

  it('stamps a deployment with its newest rollout event', () => {
    const events = [event(1, 'progression_started'), event(2, 'analysis_measured'),
      event(3, 'progression_paused', 'dev'), event(4, 'release_created'),
      event(5, 'progression_step', 'prod', 'iris')];
    expect(rolloutStamp(events, 'flowers', 'prod')).toBe(2);
    expect(rolloutStamp([...events, event(6, 'rollout_failed')], 'flowers', 'prod')).toBe(6);
    expect(rolloutStamp([], 'flowers', 'prod')).toBe(0);
  });
});

describe('a service detail without rollout fields', () => {
  const dep = (environment: string, release_id: string, strategy: any, progression: string) => ({
    service: 'flowers', environment, status: 'rolling_out', url: '', message: '', release_id,
    release_version: 2, digest: '', updated_at: '', strategy, progression
  });

  it('takes them from the listing, for the same release in the same environment', () => {
    const detail = { name: 'flowers', deployments: [dep('prod', 'rel-2', 'rolling', ''),
      dep('dev', 'rel-2', 'rolling', '')] };
    const listed = { deployments: [dep('prod', 'rel-2', 'canary', 'progressing'),
      dep('dev', 'rel-1', 'canary', 'aborted')] };
    const merged = withProgressions(detail, listed);
    expect(merged.deployments.map(d => [d.strategy, d.progression]))
      .toEqual([['canary', 'progressing'], ['rolling', '']]);
    expect(merged.name).toBe('flowers');
    expect(withProgressions(detail, undefined)).toBe(detail);
  });
});
