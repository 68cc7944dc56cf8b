/**
 * A live model's drift, in a real browser: scripts/test.sh started ui-tests/drift_platform.py
 * (dev judges drift every 100 logged rows) with `churn` live in dev, deployed with its
 * training data. 100 in-distribution rows make a window that matches it; 100 rows with
 * `visits` shifted by three standard deviations make one that drifts: the panel's badge names
 * the feature, and "Drift report" opens the server's report in a sandboxed iframe.
 */
import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

const ARTIFACTS = process.env.GP_ARTIFACTS_DIR || path.resolve(__dirname, '../../../test-artifacts');

interface DriftPlatform {
  service: string;
  environment: string;
  model_url: string;
  shifted: string;
  requests: { in: unknown[]; shifted: unknown[] };
}

const platform = (): DriftPlatform =>
  JSON.parse(fs.readFileSync(path.join(process.env.GP_UI_STATE ?? '', 'server.json'), 'utf8'));

/** POST each body to the live endpoint, as the SDK's d.predict() does; the runtime logs it. */
async function send(modelUrl: string, bodies: unknown[]): Promise<void> {
  for (const body of bodies) {
    const answer = await fetch(`${modelUrl.replace(/\/$/, '')}/predict`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    });
    expect(answer.status, await answer.text()).toBe(200);
  }
}

test('drift: the badge names the shifted feature, the report opens in a sandboxed tab',
  async ({ page }) => {
    test.skip(!process.env.GP_UI_STATE, 'needs scripts/test.sh\'s drift platform (GP_UI_STATE)');
    const p = platform();
    page.on('console', msg => {
      if (msg.type() === 'error') {
        console.log(`browser console: ${msg.text()}`);
      }
    });
    await page.sidebar.openTab('goldenpath-deployments');
    const panel = page.locator('#goldenpath-deployments');
    await expect(panel.locator('.gp-live')).toHaveAttribute('data-live', 'stream', { timeout: 30000 });
    await panel.locator(`.gp-row[data-service="${p.service}"][data-env="${p.environment}"]`).click();
    const card = panel.locator(`.gp-detail[data-service="${p.service}"] .gp-card[data-env="${p.environment}"]`);
    const drift = card.locator('.gp-drift');
    await expect(drift).toHaveAttribute('data-drift', 'waiting', { timeout: 30000 });
    await expect(drift.locator('.gp-drift-report')).toHaveCount(0); // no window yet

    // a window like the training data, then one with `visits` shifted: the drift_detected
    // event refreshes the badge
    await send(p.model_url, p.requests.in);
    await expect(drift).toHaveAttribute('data-drift', 'ok', { timeout: 60000 });
    await send(p.model_url, p.requests.shifted);
    await expect(drift).toHaveAttribute('data-drift', 'drift', { timeout: 60000 });
    const badge = drift.locator('.gp-drift-badge');
    await expect(badge).toContainText(p.shifted);
    await expect(badge).not.toContainText('tenure');
    await page.locator('#jp-left-stack').screenshot({ path: path.join(ARTIFACTS, 'panel-drift.png') });

    // the report, through the proxy: HTML with the server's CSP, in an iframe sandboxed to nothing
    await drift.locator('.gp-drift-report').click();
    const tab = page.locator('.gp-drift-report-widget');
    await expect(tab).toBeVisible({ timeout: 30000 });
    const iframe = tab.locator('iframe.gp-drift-frame');
    await expect(iframe).toHaveAttribute('sandbox', '');
    const report = page.frameLocator('.gp-drift-report-widget iframe.gp-drift-frame');
    await expect(report.locator('h1')).toBeVisible({ timeout: 30000 });
    // the shifted feature's section: marked drifted, with its bars (reference vs window)
    const section = report.locator('section.column', {
      has: report.locator('h2', { hasText: p.shifted })
    });
    await expect(section).toHaveClass(/\bdrifted\b/);
    await expect(section.locator('h2 .badge')).toHaveText('drifted');
    expect(await section.locator('svg rect').count()).toBeGreaterThan(0);
    await expect(report.locator('section.column.drifted h2', { hasText: 'tenure' })).toHaveCount(0);
    await tab.screenshot({ path: path.join(ARTIFACTS, 'drift-report.png') });

    const window = await tab.getAttribute('data-window');
    const proxied = await page.request.get(`/goldenpath/api/services/${p.service}/environments/` +
      `${p.environment}/drift/report?window=${window}`);
    expect(proxied.status()).toBe(200);
    expect(proxied.headers()['content-type']).toContain('text/html');
    expect(proxied.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await proxied.text()).not.toContain('<script');
  });
