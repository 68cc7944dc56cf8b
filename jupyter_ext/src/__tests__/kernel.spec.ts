import {
  CANDIDATES_CODE,
  deployCode,
  MARKER,
  readMarked,
  suggestName,
  suggestSample,
  validateDeploy
} from '../kernel';

const ok = { variable: 'clf', name: 'churn', sample: 'X_test[:5]', server: 'http://gp:8731' };

describe('kernel candidates', () => {
  it('prints a marked JSON line', () => {
    expect(CANDIDATES_CODE).toContain(MARKER);
    expect(CANDIDATES_CODE).toContain('predict');
    expect(CANDIDATES_CODE).toContain('torch.nn');
  });
  it('reads the last marked line among other output', () => {
    const out = `noise\n${MARKER}{"models":[{"name":"clf","type":"x.Y"}],"data":[]}\nmore\n`;
    expect(readMarked(out)).toEqual({ models: [{ name: 'clf', type: 'x.Y' }], data: [] });
    expect(readMarked('nothing here')).toBeNull();
    expect(readMarked(`${MARKER}{broken`)).toBeNull();
  });
  it('suggests a name and a sample', () => {
    expect(suggestName('Churn_Model_v2')).toBe('churn-model-v2');
    expect(suggestName('__')).toBe('model');
    expect(suggestSample({ models: [], data: [{ name: 'df', type: 'p' }, { name: 'X_test', type: 'n' }] }))
      .toBe('X_test[:5]');
    expect(suggestSample({ models: [], data: [] })).toBe('');
  });
});

describe('deploy code', () => {
  it('validates what goes into the kernel', () => {
    expect(validateDeploy(ok)).toBe('');
    expect(validateDeploy({ ...ok, variable: 'os.system("x")' })).toMatch(/model variable/);
    expect(validateDeploy({ ...ok, name: 'Bad Name' })).toMatch(/lowercase/);
    expect(validateDeploy({ ...ok, sample: '__import__("os").system("x")' })).toMatch(/sample/);
    expect(validateDeploy({ ...ok, sample: 'df.iloc[:5]' })).toBe('');
    expect(validateDeploy({ ...ok, sample: '' })).toBe('');
  });
  it('calls gp.deploy quietly on the panel\'s server', () => {
    const code = deployCode(ok);
    expect(code).toContain('gp.deploy(clf, name="churn", sample=X_test[:5], quiet=True)');
    expect(code).toContain('gp.configure(server="http://gp:8731")');
    expect(code).toContain(MARKER);
    expect(deployCode({ ...ok, sample: '' })).toContain('sample=None');
  });
  it('refuses to build code for an invalid request', () => {
    expect(() => deployCode({ ...ok, name: 'X' })).toThrow(/lowercase/);
  });
});

describe('the Python really runs', () => {
  // The snippets go to a real IPython kernel; run them in a Python with a stub SDK.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { execFileSync } = require('child_process');
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const python = process.env.PYTHON ?? 'python3';
  const stubDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gp-stub-'));
  fs.writeFileSync(path.join(stubDir, 'goldenpath.py'), [
    'class _C:\n    server = "http://elsewhere"',
    'calls = []',
    'def configure(server=None):\n    calls.append(server)\n    return _C()',
    'class _D:\n    url = "http://127.0.0.1:1"\n    version = 4\n    environment = "dev"',
    'def deploy(model, name, sample, quiet):\n    assert quiet and name == "churn" and sample == [1]\n    return _D()',
    ''
  ].join('\n'));
  const run = (code: string) =>
    execFileSync(python, ['-c', code], { env: { ...process.env, PYTHONPATH: stubDir } }).toString();

  it('lists models and data, not classes or modules', () => {
    const setup = 'import json\nclass Model:\n    def predict(self, x): return x\n' +
      'class Table:\n    shape = (10, 4)\n    def __getitem__(self, k): return self\n' +
      'clf = Model()\nX_test = Table()\nn = 3\n';
    const found = readMarked<any>(run(setup + CANDIDATES_CODE));
    expect(found.models).toEqual([{ name: 'clf', type: '__main__.Model' }]);
    expect(found.data).toEqual([{ name: 'X_test', type: '__main__.Table', shape: [10, 4] }]);
  });

  it('deploys and answers with the endpoint', () => {
    const code = 'clf = object()\nX_test = [[1]]\n' +
      deployCode({ ...ok, sample: 'X_test[0]' });
    expect(readMarked(run(code))).toEqual({
      ok: true, url: 'http://127.0.0.1:1', version: 4, environment: 'dev'
    });
  });

  it('reports an SDK error with its hint', () => {
    const code = 'import goldenpath\nclass E(Exception):\n    message = "no"\n    hint = "do x"\n' +
      'def boom(*a, **k):\n    raise E()\ngoldenpath.deploy = boom\nclf = 1\nX_test = [1]\n' + deployCode(ok);
    expect(readMarked(run(code))).toEqual({ ok: false, error: 'no', hint: 'do x' });
  });
});
