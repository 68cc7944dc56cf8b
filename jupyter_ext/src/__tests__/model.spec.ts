import {
  age,
  allowed,
  environmentsOf,
  groupByEnvironment,
  lineageOf,
  modelCard,
  mergeEvents,
  messageOf,
  nextEnvironment,
  parseTime,
  policyViews,
  recentEvents,
  Release,
  Schema,
  ServiceSummary,
  statusLabel
} from '../model';
import { buildInputs, FormError, formFields } from '../form';

const dep = (service: string, environment: string, status = 'live') => ({
  service,
  environment,
  status,
  url: `http://127.0.0.1:9000/${service}`,
  message: '',
  release_id: `${service}-r1`,
  release_version: 1,
  digest: 'sha256:abc',
  updated_at: '2026-11-21T10:00:00'
});

const svc = (name: string, envs: string[], team = ''): ServiceSummary => ({
  name,
  kind: 'model',
  team,
  created_at: '2026-11-21T09:00:00',
  deployments: envs.map(e => dep(name, e))
});

const iris: Schema = {
  kind: 'dataframe',
  columns: [
    { name: 'sepal length (cm)', dtype: 'float64' },
    { name: 'species_hint', dtype: 'object' },
    { name: 'n', dtype: 'int64' }
  ]
};

describe('grouping', () => {
  it('groups services by environment in promotion order, skipping empty ones', () => {
    const groups = groupByEnvironment([svc('zeta', ['prod', 'dev']), svc('alpha', ['dev'])]);
    expect(groups.map(g => g.environment)).toEqual(['dev', 'prod']);
    expect(groups[0].rows.map(r => r.service.name)).toEqual(['alpha', 'zeta']);
  });

  it('keeps unknown environments, after the known ones', () => {
    expect(environmentsOf([svc('a', ['qa', 'dev'])])).toEqual(['dev', 'staging', 'prod', 'qa']);
  });

  it('adds promotions waiting for approval to their environment', () => {
    const waiting = [{
      id: 'p1', service: 'alpha', release_id: 'r2', release_version: 2, environment: 'prod',
      status: 'waiting_for_approval', requested_by: 'bob', required_approvals: 1, approvals: [],
      created_at: '2026-11-21T10:00:00'
    }, {
      id: 'p0', service: 'alpha', release_id: 'r1', release_version: 1, environment: 'prod',
      status: 'rejected', requested_by: 'bob', required_approvals: 1, approvals: [],
      created_at: '2026-11-21T09:00:00'
    }];
    const groups = groupByEnvironment([svc('alpha', ['dev'])], undefined, waiting);
    expect(groups.map(g => g.environment)).toEqual(['dev', 'prod']);
    expect(groups[1].rows).toHaveLength(1);
    expect(groups[1].rows[0]).toMatchObject({ version: 2, status: 'waiting_for_approval', url: '' });
    expect(groups[1].rows[0].promotion?.id).toBe('p1');
  });

  it('returns no groups for no services (the empty state)', () => {
    expect(groupByEnvironment([])).toEqual([]);
  });
});

describe('time', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  it('reads naive server timestamps as UTC', () => {
    expect(parseTime('2026-11-21T12:00:00')).toBe(now);
    expect(parseTime('2026-11-21T13:00:00+01:00')).toBe(now);
  });
  it('formats ages', () => {
    expect(age('2026-11-21T11:59:30', now)).toBe('30s');
    expect(age('2026-11-21T11:55:00', now)).toBe('5m');
    expect(age('2026-11-21T09:00:00', now)).toBe('3h');
    expect(age('2026-11-19T12:00:00', now)).toBe('2d');
    expect(age('', now)).toBe('');
  });
});

describe('promotion and roles', () => {
  it('knows the next environment', () => {
    expect(nextEnvironment('dev')).toBe('staging');
    expect(nextEnvironment('staging')).toBe('prod');
    expect(nextEnvironment('prod')).toBe('');
  });
  it('shows every action when the server has no roles API', () => {
    expect(allowed(null, 'risk', 'promote')).toBe(true);
    expect(allowed(null, 'risk', 'approve')).toBe(true);
  });
  it('follows the role for the service team', () => {
    const me = { user: 'ada', roles: { risk: 'approver', growth: 'viewer' } };
    expect(allowed(me, 'risk', 'approve')).toBe(true);
    expect(allowed(me, 'risk', 'promote')).toBe(true);
    expect(allowed(me, 'growth', 'promote')).toBe(false);
    expect(allowed(me, 'other', 'promote')).toBe(false);
    expect(allowed({ user: 'bo', roles: { '*': 'submitter' } }, 'x', 'promote')).toBe(true);
    expect(allowed({ user: 'bo', roles: { '*': 'submitter' } }, 'x', 'approve')).toBe(false);
    expect(allowed({ user: 'cy', roles: { '*': 'viewer', x: 'admin' } }, 'x', 'approve')).toBe(true);
  });
  it('labels statuses for people', () => {
    expect(statusLabel('waiting_for_approval')).toBe('waiting for approval');
    expect(statusLabel('rolling_out')).toBe('rolling out');
  });
});

describe('Try it form', () => {
  it('has one field per column with numeric detection', () => {
    const fields = formFields(iris);
    expect(fields.map(f => [f.name, f.numeric])).toEqual([
      ['sepal length (cm)', true],
      ['species_hint', false],
      ['n', true]
    ]);
  });

  it('builds a record for dataframes', () => {
    expect(buildInputs(iris, { 'sepal length (cm)': '5.1', species_hint: ' x ', n: '3' })).toEqual({
      inputs: [{ 'sepal length (cm)': 5.1, species_hint: 'x', n: 3 }]
    });
  });

  it('says which field is not a number', () => {
    expect(() => buildInputs(iris, { 'sepal length (cm)': 'abc', n: '1' })).toThrow(FormError);
    expect(() => buildInputs(iris, { 'sepal length (cm)': 'abc', n: '1' })).toThrow(
      /sepal length \(cm\) needs a number/
    );
  });

  it('builds a row for ndarrays', () => {
    const schema: Schema = { kind: 'ndarray', dtype: 'float32', shape: [null, 2] };
    expect(formFields(schema).map(f => f.label)).toEqual(['x[0]', 'x[1]']);
    expect(buildInputs(schema, { x0: '1', x1: '2.5' })).toEqual({ inputs: [[1, 2.5]] });
  });

  it('falls back to JSON for tensors and unknown schemas', () => {
    const schema: Schema = { kind: 'tensor', dtype: 'float32', shape: [null, 3, 32, 32] };
    expect(formFields(schema)).toHaveLength(1);
    expect(buildInputs(schema, { inputs: '[[1,2]]' })).toEqual({ inputs: [[1, 2]] });
    expect(buildInputs(null, { inputs: '{"a": 1}' })).toEqual({ inputs: [{ a: 1 }] });
    expect(() => buildInputs(null, { inputs: 'nope' })).toThrow(/must be JSON/);
  });
});

describe('release detail', () => {
  const release: Release = {
    id: 'r1', service: 'iris', version: 3, kind: 'model', digest: 'sha256:0123456789abcdef',
    size: 1, image: '', bento_tag: 'iris:abc', schema: iris, created_by: 'ada',
    created_at: '2026-11-21T10:00:00',
    spec: { labels: { 'goldenpath.kind': 'sklearn' }, lineage: { notebook: 'train.ipynb' },
      model_card: { owner: 'risk' }, models: ['iris:m1'] },
    policy_results: [
      { policy: 'has-owner', passed: true, message: 'owner set' },
      { name: 'max-size', status: 'fail', message: 'too big', hint: 'prune the model' }
    ]
  };

  it('reads policy results tolerant of field names', () => {
    expect(policyViews(release)).toEqual([
      { name: 'has-owner', passed: true, message: 'owner set', fix: '', environment: '', action: '' },
      { name: 'max-size', passed: false, message: 'too big', fix: 'prune the model', environment: '',
        action: '' }
    ]);
    expect(policyViews({ ...release, policy_results: undefined })).toEqual([]);
  });

  it('reads the server\'s {environment, outcome, results} evaluations', () => {
    const evaluation = { environment: 'prod', outcome: 'fail', results: [
      { name: 'owner', track: 'model', action: 'enforce', passed: false, message: 'no owner',
        hint: 'set team=' }] };
    const expected = [{ name: 'owner', passed: false, message: 'no owner', fix: 'set team=',
      environment: 'prod', action: 'enforce' }];
    expect(policyViews({ ...release, policy_results: evaluation })).toEqual(expected);
    expect(policyViews({ ...release, policy_results: [evaluation] })).toEqual(expected);
    expect(policyViews({ ...release, policy_results: { prod: evaluation.results } })).toEqual(expected);
  });

  it('reads lineage, metrics and the card from attached evidence', () => {
    const withEvidence = { ...release, spec: null, evidence: {
      lineage: { dataset: 's3://x/train.parquet', commit: 'abc123' }, metrics: { auc: 0.91 },
      card: '# Iris\nA small model.' } };
    expect(lineageOf(withEvidence)).toEqual([
      ['dataset', 's3://x/train.parquet'], ['commit', 'abc123'], ['metrics.auc', '0.91']
    ]);
    expect(modelCard(withEvidence)).toBe('# Iris\nA small model.');
    expect(modelCard(release)).toBe('');
  });

  it('collects lineage and model card facts', () => {
    expect(lineageOf(release)).toEqual([
      ['notebook', 'train.ipynb'],
      ['model card.owner', 'risk'],
      ['labels.goldenpath.kind', 'sklearn'],
      ['models', 'iris:m1']
    ]);
  });
});

describe('events', () => {
  const ev = (id: number, service = 'iris') => ({
    id, at: '2026-11-21T10:00:00', service, environment: 'dev', release_id: 'r', type: 't',
    message: `m${id}`, data: {}
  });
  it('merges without duplicates and keeps the newest', () => {
    expect(mergeEvents([ev(1), ev(2)], [ev(2), ev(3)]).map(e => e.id)).toEqual([1, 2, 3]);
    expect(mergeEvents([ev(1), ev(2)], [ev(3)], 2).map(e => e.id)).toEqual([2, 3]);
  });
  it('lists a service\'s recent events newest first', () => {
    expect(recentEvents([ev(1), ev(2, 'x'), ev(3)], 'iris').map(e => e.id)).toEqual([3, 1]);
  });
});

describe('error messages', () => {
  it('reads our, FastAPI and BentoML error shapes', () => {
    expect(messageOf({ code: 'x', message: 'boom', hint: 'h' })).toBe('boom');
    expect(messageOf({ detail: [{ msg: 'field required' }] })).toContain('field required');
    expect(messageOf([{ error: 'bad input' }])).toBe('bad input');
    expect(messageOf(null)).toBe('');
  });
});
