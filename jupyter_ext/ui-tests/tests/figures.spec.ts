/**
 * The platform's figures in a real browser: scripts/test.sh's platform (tests/jupyter_ext/
 * _platform.py) put flowers v1 live in prod (a production release, with its lead time) and
 * v2 live in dev over v1. The Figures tab shows what GET /api/v1/figures answers, per track;
 * then flowers is rolled back in dev on the server itself, and the open tab follows by itself
 * (the panel's event stream): a rollback counted in dev's change failure rate, and a time to
 * restore. Every number is read from the server, none is written here.
 */
import { expect, test } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

import type { components } from '../../src/_openapi';

type Figures = components['schemas']['PlatformFigures'];

const ARTIFACTS = process.env.GP_ARTIFACTS_DIR || path.resolve(__dirname, '../../../test-artifacts');
const NO_DATA = 'no data yet';
const SERVICE = 'flowers';

const platform = (): { url: string; token: string } =>
  JSON.parse(fs.readFileSync(path.join(process.env.GP_UI_STATE ?? '', 'server.json'), 'utf8'));

/** The figures as the panel's user reads them, through the Jupyter proxy. */
async function serverFigures(page: Page): Promise<Figures> {
  const answer = await page.request.get('/goldenpath/api/figures');
  expect(answer.status(), await answer.text()).toBe(200);
  return answer.json();
}

// The view's rules, written out again (independently of src/figures.ts): a percentage with
// one decimal at most; a duration in s, min, h or d, one decimal, never "60 s".
const round1 = (x: number) => Math.round(x * 10) / 10;
const percent = (ratio: number) => `${round1(ratio * 100)}%`;
function human(seconds: number): string {
  const s = Math.max(0, seconds);
  if (round1(s) < 60) {
    return `${round1(s)} s`;
  }
  if (round1(s / 60) < 60) {
    return `${round1(s / 60)} min`;
  }
  return round1(s / 3600) < 24 ? `${round1(s / 3600)} h` : `${round1(s / 86400)} d`;
}

/** `cell` shows `text` for the exact `value`, or "no data yet" where value is null. */
async function expectValue(cell: Locator, value: number | null, text: string): Promise<void> {
  const shown = cell.locator('.gp-figure-value');
  await expect(shown).toHaveText(value === null ? NO_DATA : text);
  await expect(shown).toHaveAttribute('data-value', value === null ? '' : String(value));
}

/** Every figure of every track, as the Figures tab shows it, against the server's answer. */
async function expectShown(view: Locator, f: Figures, environments: string[]): Promise<void> {
  await expect(view).toHaveAttribute('data-last-event', String(f.last_event_id), { timeout: 1000 });
  for (const track of ['model', 'app']) {
    const section = view.locator(`.gp-figures-track[data-track="${track}"]`);
    await expect(section).toHaveAttribute('aria-labelledby', /.+/);
    for (const name of ['Change failure rate', 'Lead time', 'Validation to production',
      'Time to restore', 'Production releases', 'Governance compliance']) {
      await expect(section.getByRole('group', { name, exact: true })).toBeVisible();
    }

    const failures = f.change_failure.filter(c => c.track === track);
    const envs = [...environments,
      ...failures.map(c => c.environment).filter(e => !environments.includes(e)).sort()];
    const rows = section.locator('[data-figure="change_failure"] tr');
    await expect(rows).toHaveCount(envs.length);
    for (const env of envs) {
      const c = failures.find(x => x.environment === env);
      const row = section.locator(`[data-figure="change_failure"] tr[data-env="${env}"]`);
      await expectValue(row, c ? c.rate : null, c ? percent(c.rate) : '');
      if (c) {
        const failed = c.rollbacks + c.failed_rollouts + c.aborted_rollouts;
        await expect(row.locator('.gp-figure-counts')).toHaveText(
          `${failed} of ${c.rollouts_started} rollout${c.rollouts_started === 1 ? '' : 's'}: ` +
          `${c.rollbacks} rolled back, ${c.failed_rollouts} failed, ${c.aborted_rollouts} aborted`);
      }
    }

    for (const key of ['lead_time', 'validation_to_production', 'time_to_restore'] as const) {
      const d = f[key].find(x => x.track === track && x.count > 0);
      const mean = d?.mean_seconds ?? null;
      const row = section.locator(`[data-figure="${key}"]`);
      await expectValue(row, mean, mean === null ? '' : human(mean));
      if (d && mean !== null) {
        const what = key === 'time_to_restore' ? 'rollback' : 'release';
        await expect(row.locator('.gp-figure-counts'))
          .toHaveText(`mean of ${d.count} ${what}${d.count === 1 ? '' : 's'}`);
      }
    }

    const releases = f.production_releases.filter(p => p.track === track && p.releases > 0);
    const services = section.locator('[data-figure="production_releases"] tr[data-service]');
    await expect(services).toHaveCount(releases.length);
    for (const p of releases) {
      await expect(section.locator(`[data-figure="production_releases"] tr[data-service="${p.service}"]`)
        .locator('.gp-figure-value')).toHaveAttribute('data-value', String(p.releases));
    }
    if (releases.length === 0) {
      await expect(section.locator('[data-figure="production_releases"]')).toContainText(NO_DATA);
    }

    const autonomy = section.locator('[data-figure="model_autonomy"]');
    if (track === 'model') {
      const a = f.model_autonomy;
      const ratio = a.releases > 0 ? a.ratio ?? null : null;
      await expectValue(autonomy, ratio, ratio === null ? '' : percent(ratio));
      if (ratio !== null) {
        await expect(autonomy.locator('.gp-figure-counts'))
          .toHaveText(`${a.autonomous} of ${a.releases} release${a.releases === 1 ? '' : 's'} in ${f.production}`);
      }
    } else {
      await expect(autonomy).toHaveCount(0); // autonomy is a figure of model releases only
    }
    const g = f.governance_compliance.find(x => x.track === track && x.production_rollouts > 0);
    const compliance = section.locator('[data-figure="governance_compliance"]');
    await expectValue(compliance, g ? g.ratio : null, g ? percent(g.ratio) : '');
    if (g) {
      await expect(compliance.locator('.gp-figure-counts'))
        .toHaveText(`${g.compliant} of ${g.production_rollouts} promotion` +
          `${g.production_rollouts === 1 ? '' : 's'} to ${f.production}`);
    }
  }
}

/** Wait until the tab shows the figures the server answers now (read again on each try:
 * the tab and the server may be an event apart), and return them. */
async function expectCurrent(page: Page, view: Locator, environments: string[],
  timeout = 90000): Promise<Figures> {
  let f: Figures | null = null;
  await expect(async () => {
    f = await serverFigures(page);
    await expectShown(view, f, environments);
  }).toPass({ timeout, intervals: [500, 1000, 2000] });
  return f!;
}

const modelIn = (f: Figures, env: string) =>
  f.change_failure.find(c => c.track === 'model' && c.environment === env);
const restores = (f: Figures) => f.time_to_restore.find(d => d.track === 'model')?.count ?? 0;

test('figures: what the server counts, per track; a rollback shows up by itself',
  async ({ page }) => {
    test.skip(!process.env.GP_UI_STATE, 'needs scripts/test.sh\'s platform (GP_UI_STATE)');
    page.on('console', msg => {
      if (msg.type() === 'error') {
        console.log(`browser console: ${msg.text()}`);
      }
    });
    const environments = ((await (await page.request.get('/goldenpath/api/environments')).json())
      .environments as { name: string }[]).map(e => e.name);
    expect(environments).toEqual(['dev', 'staging', 'prod']);

    await page.sidebar.openTab('goldenpath-deployments');
    const panel = page.locator('#goldenpath-deployments');
    await expect(panel.locator('.gp-live')).toHaveAttribute('data-live', 'stream', { timeout: 30000 });
    const tab = panel.getByRole('tab', { name: 'Figures' });
    await expect(tab).toHaveAttribute('aria-selected', 'false');
    await tab.click();
    await expect(tab).toHaveAttribute('aria-selected', 'true');
    await expect(panel.getByRole('tab', { name: 'Deployments' })).toHaveAttribute('aria-selected', 'false');
    const view = panel.getByRole('tabpanel').locator('.gp-figures');
    await expect(view).toBeVisible({ timeout: 30000 });

    // the seeded platform: a model release reached prod, so there is something to show
    const before = await expectCurrent(page, view, environments);
    expect(before.production).toBe('prod');
    expect(before.production_releases.find(p => p.track === 'model' && p.service === SERVICE)
      ?.releases ?? 0).toBeGreaterThanOrEqual(1);
    expect(before.lead_time.find(d => d.track === 'model')?.count ?? 0).toBeGreaterThanOrEqual(1);
    await expect(view.locator('.gp-figures-track[data-track="model"] tr[data-service="flowers"]'))
      .toBeVisible();

    // roll flowers back in dev on the server itself, as the panel's user; the tab stays open
    const p = platform();
    const server = (where: string, init: RequestInit = {}) => fetch(`${p.url}/api/v1/${where}`, {
      ...init, headers: { Authorization: `Bearer ${p.token}`, 'X-Goldenpath-User': 'alice',
        'Content-Type': 'application/json' }
    });
    const dev = await (await server(`services/${SERVICE}/environments/dev`)).json();
    expect(dev.previous_release_id, 'flowers v2 in dev replaced v1').toBeTruthy();
    const rolled = await server(`services/${SERVICE}/environments/dev/rollback`,
      { method: 'POST', body: '{}' });
    expect(rolled.status, await rolled.text()).toBeLessThan(300);
    await expect.poll(async () => {
      const d = await (await server(`services/${SERVICE}/environments/dev`)).json();
      return `${d.release_id === dev.previous_release_id} ${d.status}`;
    }, { timeout: 180000, intervals: [1000] }).toBe('true live');

    // the server counted the rollback in dev and the restore that followed ...
    const was = modelIn(before, 'dev');
    await expect.poll(async () => {
      const f = await serverFigures(page);
      return [modelIn(f, 'dev')?.rollbacks ?? 0, restores(f)];
    }, { timeout: 60000, intervals: [1000] }).toEqual([(was?.rollbacks ?? 0) + 1, restores(before) + 1]);
    // ... and the open tab shows it, untouched: each burst of events reloads the panel, and
    // the tab with it (its quiet refresh, without events, is only every 60 s)
    const after = await expectCurrent(page, view, environments, 30000);
    expect(after.last_event_id).toBeGreaterThan(before.last_event_id);
    const now = modelIn(after, 'dev');
    expect(now?.rate ?? 0).toBeGreaterThan(0);
    const devRow = view.locator('.gp-figures-track[data-track="model"] [data-figure="change_failure"] tr[data-env="dev"]');
    await expect(devRow.locator('.gp-figure-counts')).toContainText(`${now!.rollbacks} rolled back`);
    await expect(view.locator('.gp-figures-track[data-track="model"] [data-figure="time_to_restore"] .gp-figure-value'))
      .not.toHaveText(NO_DATA);
    await page.setViewportSize({ width: 1280, height: 1500 }); // the whole tab, both tracks
    await page.locator('#jp-left-stack').screenshot({ path: path.join(ARTIFACTS, 'panel-figures.png') });

    // back to the deployments from the keyboard: the list is where it was
    await tab.press('ArrowLeft');
    await expect(panel.getByRole('tab', { name: 'Deployments' })).toHaveAttribute('aria-selected', 'true');
    await expect(panel.getByRole('tab', { name: 'Deployments' })).toBeFocused();
    await expect(panel.locator(`.gp-row[data-service="${SERVICE}"][data-env="dev"]`)).toBeVisible();
    await expect(panel.locator('.gp-figures')).toHaveCount(0);
  });
