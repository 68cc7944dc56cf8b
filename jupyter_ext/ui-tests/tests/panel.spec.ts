/**
 * The core path in a real browser: JupyterLab starts, the Deployments panel opens, a model
 * deployed through the SDK shows as live, Promote is clicked, and the status changes.
 */
import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';

const ARTIFACTS = process.env.GP_ARTIFACTS_DIR || path.resolve(__dirname, '../../../test-artifacts');

test('deploy shows live, Promote moves it to staging', async ({ page }) => {
  page.on('console', msg => {
    if (msg.type() === 'error') {
      console.log(`browser console: ${msg.text()}`);
    }
  });
  await page.sidebar.openTab('goldenpath-deployments');
  const panel = page.locator('#goldenpath-deployments');
  await expect(panel.locator('.gp-title')).toHaveText('Deployments');
  // live updates come from the server's event stream through the Jupyter proxy, not a timer
  await expect(panel.locator('.gp-live')).toHaveAttribute('data-live', 'stream', { timeout: 30000 });

  const devRow = panel.locator('.gp-row[data-service="iris"][data-env="dev"]');
  await expect(devRow.locator('.gp-status')).toHaveText('live', { timeout: 60000 });

  await devRow.click();
  const devCard = panel.locator('.gp-card[data-env="dev"]');
  await expect(devCard.locator('.gp-status')).toHaveText('live');
  await devCard.getByRole('button', { name: 'Promote to staging' }).click();

  // the staging card appears as rolling out (or already live), then goes live
  const staging = panel.locator('.gp-card[data-env="staging"] .gp-status');
  await expect(staging).toHaveText(/rolling out|live/, { timeout: 30000 });
  await expect(staging).toHaveText('live', { timeout: 180000 });
  await expect(panel.locator('.gp-events')).toContainText('staging');

  // Try it: a prediction through the proxy
  await devCard.getByRole('button', { name: '▸ Try it' }).click();
  const inputs = devCard.locator('.gp-tryit input');
  for (const [i, v] of ['5.1', '3.5', '1.4', '0.2'].entries()) {
    await inputs.nth(i).fill(v);
  }
  await devCard.getByRole('button', { name: 'Predict' }).click();
  await expect(devCard.locator('.gp-answer')).toContainText('predictions: [0]');

  const shot = path.join(ARTIFACTS, 'panel.png');
  await page.locator('#jp-left-stack').screenshot({ path: shot });
  console.log(`screenshot of the Deployments panel: ${shot}`);

  // back on the list, iris shows in both environments
  await panel.getByRole('button', { name: '← All deployments' }).click();
  await expect(panel.locator('.gp-row[data-service="iris"][data-env="staging"] .gp-status'))
    .toHaveText('live');
  await page.locator('#jp-left-stack').screenshot({ path: path.join(ARTIFACTS, 'panel-list.png') });
});

test('deploy from the panel: a model variable in the notebook kernel goes live', async ({ page }) => {
  await page.notebook.createNew('train.ipynb');
  await page.notebook.setCell(0, 'code', [
    'from sklearn.datasets import load_iris',
    'from sklearn.tree import DecisionTreeClassifier',
    'X, y = load_iris(return_X_y=True, as_frame=True)',
    'clf = DecisionTreeClassifier(max_depth=3).fit(X, y)'
  ].join('\n'));
  await page.notebook.runCell(0);

  await page.sidebar.openTab('goldenpath-deployments');
  const panel = page.locator('#goldenpath-deployments');
  await panel.getByRole('button', { name: 'Deploy…' }).click();
  const form = panel.locator('.gp-deploy');
  await expect(form.getByLabel('model variable')).toHaveValue('clf', { timeout: 30000 });
  await form.locator('.gp-field', { hasText: 'Service name' }).locator('input').fill('iris-tree');
  await expect(form.locator('.gp-field', { hasText: 'Sample rows' }).locator('input'))
    .toHaveValue('X[:5]');
  await form.getByRole('button', { name: 'Deploy', exact: true }).click();
  await expect(form.locator('.gp-progress')).toBeVisible();
  await expect(form.locator('.gp-answer')).toContainText('iris-tree v1 is live in dev',
    { timeout: 180000 });
  await expect(panel.locator('.gp-detail[data-service="iris-tree"] .gp-card[data-env="dev"] .gp-status'))
    .toHaveText('live', { timeout: 30000 });
  await page.locator('#jp-left-stack').screenshot({ path: path.join(ARTIFACTS, 'panel-deploy.png') });
});

test('an approver approves a promotion waiting for prod', async ({ page }) => {
  // scripts/test.sh had bob ask for iris in prod (one approval needed); we are alice
  await page.sidebar.openTab('goldenpath-deployments');
  const panel = page.locator('#goldenpath-deployments');
  const waiting = panel.locator('.gp-row[data-service="iris"][data-env="prod"][data-kind="promotion"]');
  await expect(waiting.locator('.gp-status')).toHaveText('waiting for approval', { timeout: 60000 });
  await waiting.click();

  const card = panel.locator('.gp-promotion[data-env="prod"]');
  await expect(card).toContainText('asked by bob');
  await expect(card).toContainText('0 of 1 approval');
  await card.getByLabel('approval comment').fill('metrics look fine');
  await card.getByRole('button', { name: 'Approve' }).click();

  const prod = panel.locator('.gp-card[data-env="prod"]:not(.gp-promotion) .gp-status');
  await expect(prod).toHaveText(/rolling out|live/, { timeout: 30000 });
  await expect(prod).toHaveText('live', { timeout: 180000 });
  await expect(panel.locator('.gp-events')).toContainText('approved iris v1 for prod: metrics look fine');
  await page.locator('#jp-left-stack').screenshot({ path: path.join(ARTIFACTS, 'panel-approve.png') });
});

test('unreachable server and empty states say what to do', async ({ page }) => {
  // the Jupyter proxy's answers, faked: first the server is down, then it is up and empty
  let up = false;
  await page.route(url => url.pathname.startsWith('/goldenpath/'), route => {
    const { pathname } = new URL(route.request().url());
    if (pathname === '/goldenpath/config') {
      return route.fulfill({ json: up
        ? { server: 'http://gp.invalid:8731', reachable: true, token: false, user: '',
            message: '', hint: '' }
        : { server: 'http://gp.invalid:8731', reachable: false, token: false, user: '',
            message: 'could not reach http://gp.invalid:8731 (connection refused)',
            hint: 'start one with `goldenpath server`, or set GOLDENPATH_SERVER' } });
    }
    const empty: Record<string, unknown> = {
      '/goldenpath/api/services': { services: [] },
      '/goldenpath/api/promotions': { promotions: [] },
      '/goldenpath/api/events': { events: [] }
    };
    return up && empty[pathname]
      ? route.fulfill({ json: empty[pathname] })
      : route.fulfill({ status: up ? 404 : 502, json: { code: 'x', message: 'x', hint: '' } });
  });
  await page.goto();  // reload JupyterLab so the panel's first load meets the fake answers
  await page.sidebar.openTab('goldenpath-deployments');
  const panel = page.locator('#goldenpath-deployments');
  const error = panel.locator('.gp-error');
  await expect(error).toContainText('could not reach http://gp.invalid:8731');
  await expect(error).toContainText('How to fix: start one with `goldenpath server`');
  await expect(panel.locator('.gp-live')).toHaveAttribute('data-live', 'poll');  // no stream
  await page.locator('#jp-left-stack').screenshot({ path: path.join(ARTIFACTS, 'panel-unreachable.png') });

  up = true;
  await error.getByRole('button', { name: 'Retry' }).click();
  await expect(panel.locator('.gp-empty')).toContainText('No deployments yet.');
  await expect(panel.locator('.gp-empty')).toContainText('gp.deploy(model');
});
