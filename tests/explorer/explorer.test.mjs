// Opens the explorer in headless Chromium against a running service and checks what a user would see:
// the toy plot with its bands, a new request when T changes, a training job started from the page whose
// model appears, a classifier's probabilities, an evaluation with its reliability diagram, phone width.
// Usage: node explorer.test.mjs http://127.0.0.1:18600 ../../artifacts/explorer
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';

const [base = 'http://127.0.0.1:18600', shots = 'screenshots'] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const failures = [];
page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
page.on('console', (message) => { if (message.type() === 'error') failures.push(`console: ${message.text()}`); });
const step = (text) => console.log(`explorer: ${text}`);

try {
  await page.goto(`${base}/explorer`);
  await page.waitForSelector('#curve[data-rendered="true"]', { timeout: 60_000 });
  const curve = await page.evaluate(() => {
    const chart = window.explorer.charts['curve-chart'];
    const sets = Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data]));
    const width = (i) => sets['±2σ epistemic upper'][i].y - sets['±2σ epistemic'][i].y;
    const n = sets['MC mean'].length;
    const centre = sets['MC mean'].reduce((best, p, i) => (Math.abs(p.x) < Math.abs(sets['MC mean'][best].x) ? i : best), 0);
    return { labels: chart.data.datasets.map((d) => d.label), points: sets['training data'].length, centre: width(centre), edge: Math.max(width(0), width(n - 1)) };
  });
  for (const label of ['±2σ total', '±2σ epistemic', '±1σ epistemic', 'MC samples', 'MC mean', 'training data']) {
    assert.ok(curve.labels.includes(label), `the toy plot lacks "${label}"`);
  }
  assert.ok(curve.points > 100, `only ${curve.points} training points drawn`);
  assert.ok(curve.edge > 3 * curve.centre, `epistemic band at the edge (${curve.edge}) is not wider than at x = 0 (${curve.centre})`);
  step(`toy plot: ${curve.labels.length} datasets, ${curve.points} training points, band ${curve.centre.toFixed(3)} at x=0 vs ${curve.edge.toFixed(3)} at the edge`);
  await page.screenshot({ path: `${shots}/toy.png`, fullPage: false });

  const answered = page.waitForResponse((r) => r.url().endsWith('/models/toy/predict') && r.request().postDataJSON().samples === 300);
  await page.fill('#curve-samples', '300');
  assert.equal((await answered).status(), 200);
  await page.waitForSelector('#curve[data-samples="300"]');
  step('changing T sent a new request (T = 300) and redrew the plot');

  await page.selectOption('#train-dataset', 'breast_cancer');
  await page.fill('#train-name', 'browser-model');
  await page.fill('#train-epochs', '8');
  await page.click('#train-start');
  await page.waitForSelector('#training[data-state="Succeeded"]', { timeout: 120_000 });
  const points = await page.evaluate(() => window.explorer.charts['train-chart'].data.labels.length);
  assert.equal(points, 8, 'the loss curve has one point per epoch');
  await page.waitForFunction(() => document.querySelector('#model').value === 'browser-model' && document.querySelector('#tabular').dataset.rendered === 'true');
  const classes = await page.evaluate(() => window.explorer.charts['row-chart'].data.labels);
  assert.deepEqual([...classes].sort(), ['benign', 'malignant']);
  assert.match(await page.textContent('#row-numbers'), /mutual information/);
  step(`trained browser-model from the page (8 epochs); it is selected and shows classes ${classes.join(', ')}`);
  await page.locator('#training').screenshot({ path: `${shots}/training.png` });
  await page.locator('#tabular').screenshot({ path: `${shots}/classifier.png` });

  await page.selectOption('#eval-dataset', 'breast_cancer');
  await page.click('#eval-run');
  await page.waitForSelector('#eval-figure:not([hidden])');
  assert.match(await page.textContent('#eval-metrics'), /expectedCalibrationError/);
  step('evaluation shows metrics and a reliability diagram');
  await page.locator('#evaluation').screenshot({ path: `${shots}/evaluation.png` });

  await page.selectOption('#model', 'boston');
  await page.waitForFunction(() => window.explorer.model?.name === 'boston' && document.querySelector('#row-numbers').textContent.includes('predictive variance'));
  await page.locator('#tabular').screenshot({ path: `${shots}/boston.png` });
  step('boston: a real row prefilled, histogram of samples with the interval');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.selectOption('#model', 'toy');
  await page.waitForSelector('#curve[data-rendered="true"]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone screen`);
  await page.screenshot({ path: `${shots}/phone.png`, fullPage: true });
  step('phone width (390 px): no horizontal overflow');
  assert.deepEqual(failures, [], failures.join('\n'));
  step(`passed; screenshots in ${shots}`);
} catch (error) {
  await page.screenshot({ path: `${shots}/failure.png`, fullPage: true }).catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
