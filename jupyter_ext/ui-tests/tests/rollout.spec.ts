/**
 * A canary in progress, in a real browser: scripts/test.sh's platform put flowers v1 live in
 * prod, then v2 into a canary there (steps 20 -> 50 -> 100%, ten minutes each). The panel
 * shows its step, weight and state; Pause pauses it, Abort returns all traffic to v1.
 */
import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';

const ARTIFACTS = process.env.GP_ARTIFACTS_DIR || path.resolve(__dirname, '../../../test-artifacts');

test('a canary in progress: step, weight, state; Pause, then Abort back to v1', async ({ page }) => {
  page.on('console', msg => {
    if (msg.type() === 'error') {
      console.log(`browser console: ${msg.text()}`);
    }
  });
  await page.sidebar.openTab('goldenpath-deployments');
  const panel = page.locator('#goldenpath-deployments');
  await expect(panel.locator('.gp-live')).toHaveAttribute('data-live', 'stream', { timeout: 30000 });

  const row = panel.locator('.gp-row[data-service="flowers"][data-env="prod"]');
  await expect(row.locator('.gp-status')).toHaveText('rolling out', { timeout: 60000 });
  await row.click();

  const card = panel.locator('.gp-detail[data-service="flowers"] .gp-card[data-env="prod"]');
  const rollout = card.locator('.gp-rollout');
  await expect(rollout).toHaveAttribute('data-strategy', 'canary');
  await expect(rollout.locator('.gp-rollout-state')).toHaveText('progressing');
  await expect(rollout.locator('.gp-rollout-step')).toHaveText(
    'step 1 of 2: 20% of requests to the candidate');
  await expect(rollout.getByRole('meter')).toHaveAttribute('aria-valuenow', '20');
  await expect(rollout.locator('.gp-weight-text')).toHaveText('20% to v2, 80% to v1');
  await expect(rollout.locator('.gp-analysis')).toContainText('No analysis yet');
  await page.locator('#jp-left-stack').screenshot({ path: path.join(ARTIFACTS, 'panel-canary.png') });

  // Pause: the state changes, and the event stream brings the audit event
  await rollout.getByLabel('rollout comment').fill('looking at the dashboards');
  await rollout.getByRole('button', { name: 'Pause' }).click();
  await expect(rollout.locator('.gp-rollout-state')).toHaveText('paused', { timeout: 30000 });
  await expect(rollout.getByRole('button', { name: 'Resume' })).toBeVisible();
  await expect(rollout.getByRole('button', { name: 'Pause' })).toHaveCount(0);
  await expect(panel.locator('.gp-events'))
    .toContainText('paused by alice: looking at the dashboards', { timeout: 30000 });

  // Abort: all traffic back to the stable release, which serves again
  await rollout.getByRole('button', { name: 'Abort' }).click();
  await expect(rollout.locator('.gp-rollout-state')).toHaveText('aborted', { timeout: 30000 });
  await expect(rollout.getByRole('meter')).toHaveAttribute('aria-valuenow', '0');
  await expect(rollout.locator('.gp-rollout-step')).toContainText('stopped at step 1 of 2');
  await expect(rollout.locator('.gp-rollout-ended')).toHaveText('v1 (stable) serves all traffic');
  await expect(rollout.getByRole('button')).toHaveCount(0);
  await expect(card.locator('.gp-version')).toHaveText('v1', { timeout: 30000 });
  await expect(card.locator('.gp-status')).toHaveText('live', { timeout: 60000 });
  await page.locator('#jp-left-stack').screenshot({
    path: path.join(ARTIFACTS, 'panel-canary-aborted.png')
  });
});
