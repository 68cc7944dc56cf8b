/**
 * Galata in Debian's headless Chromium (Playwright cannot download browsers here):
 * executablePath from `which chromium`, no video (it needs Playwright's own ffmpeg).
 */
const { execSync } = require('child_process');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.GP_UI_PORT || '8888';
const chromium =
  process.env.CHROMIUM_PATH || execSync('which chromium').toString().trim();

module.exports = {
  ...baseConfig,
  reporter: [['list']],
  timeout: 240000,
  retries: 0,
  workers: 1,
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${port}`,
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: { executablePath: chromium, args: ['--no-sandbox'] }
  },
  webServer: {
    command: 'jupyter lab --config jupyter_server_test_config.py',
    url: `http://127.0.0.1:${port}/lab`,
    timeout: 120000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe'
  }
};
