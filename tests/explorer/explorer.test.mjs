// Opens the explorer in headless Chromium against a running service and checks what a user would see:
// the toy plot with its bands, a new request when T changes, a training job started from the page whose
// model appears, a classifier's probabilities, an evaluation with its reliability diagram, phone width.
// Also the page's safety: the security headers, and a model imported with HTML/script payloads in its feature
// names, class labels and description (plus error and training-job text carrying them) shows them as text only:
// nothing injected, no dialog, no Content-Security-Policy violation.
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
page.on('dialog', (dialog) => { failures.push(`dialog: ${dialog.type()} ${dialog.message()}`); dialog.dismiss().catch(() => {}); });
// CSP violations also reach the console as errors; this catches them even where the console is quiet.
const watchCsp = () => {
  window.cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
};
await page.addInitScript(watchCsp);
const step = (text) => console.log(`explorer: ${text}`);

// Markup in every string the service hands back for a model; each carries an id starting "xss-" and sets window.xss if it ever runs.
const payloads = {
  features: ['<img id="xss-feature" src=x onerror="window.xss=\'feature\';alert(1)">', '"><script id="xss-script">window.xss="script"</script>'],
  classes: ['<svg id="xss-class" onload="window.xss=\'class\';alert(2)"></svg>', "'><iframe id=\"xss-frame\" srcdoc=\"<script>parent.xss='frame'</script>\"></iframe>"],
  description: '<img id="xss-description" src=x onerror="window.xss=\'description\';alert(3)">',
  problem: '<img id="xss-problem" src=x onerror="window.xss=\'problem\';alert(4)">',
  job: '<img id="xss-job" src=x onerror="window.xss=\'job\';alert(5)">',
};

/** safetensors bytes: 8-byte little-endian header length, the JSON header (data offsets per tensor), then raw float32 data. */
function safetensors(tensors) {
  const header = {};
  let offset = 0;
  for (const [name, { shape, data }] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * data.length] };
    offset += 4 * data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const bytes = Buffer.alloc(8 + head.length + offset);
  bytes.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(bytes, 8);
  let at = 8 + head.length;
  for (const { data } of Object.values(tensors)) for (const v of data) { bytes.writeFloatLE(v, at); at += 4; }
  return bytes;
}

/** A 2-input, 2-class classifier as an nn.Sequential(Linear, ReLU, Dropout, Linear) saves it; class 0 always wins. */
async function importPayloadModel(name) {
  const weights = safetensors({
    '0.weight': { shape: [3, 2], data: [0.1, -0.2, 0.3, 0.0, -0.1, 0.2] },
    '0.bias': { shape: [3], data: [0.1, 0.1, 0.1] },
    '3.weight': { shape: [2, 3], data: [0.1, 0.0, -0.1, 0.0, 0.1, 0.0] },
    '3.bias': { shape: [2], data: [4, -4] },
  });
  const form = new FormData();
  form.append('weights', new Blob([weights]), 'model.safetensors');
  form.append('request', JSON.stringify({
    network: { inputs: 2, hidden: [3], hiddenDropout: [0.1], head: { kind: 'Classification', outputs: 2 } },
    featureNames: payloads.features, outputNames: payloads.classes, description: payloads.description, makeDefault: true,
  }));
  const response = await fetch(`${base}/models/${name}/import`, { method: 'POST', body: form });
  assert.equal(response.status, 201, `import of ${name}: ${response.status} ${await response.text()}`);
}

const policy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
function assertSecurityHeaders(path, response) {
  assert.equal(response.headers.get('content-security-policy'), policy, `${path}: Content-Security-Policy`);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `${path}: X-Content-Type-Options`);
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer', `${path}: Referrer-Policy`);
}

/** Nothing from the payloads became an element or ran. */
async function assertNothingInjected(where) {
  const found = await page.evaluate(() => ({
    injected: [...document.querySelectorAll('[id^="xss-"], img, svg, iframe, object, embed')].map((e) => e.outerHTML),
    inlineScripts: document.querySelectorAll('script:not([src])').length,
    ran: window.xss ?? null,
  }));
  assert.deepEqual(found, { injected: [], inlineScripts: 0, ran: null }, `${where}: payload markup reached the DOM or ran`);
}

try {
  for (const path of ['/', '/index.html', '/explorer.js', '/explorer.css', '/vendor/chart.umd.min.js']) {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 200, path);
    assertSecurityHeaders(path, response);
  }
  const redirect = await fetch(`${base}/explorer`, { redirect: 'manual' });
  assert.equal(redirect.headers.get('location'), '/');
  assertSecurityHeaders('/explorer', redirect);
  step('/, /index.html, the redirect from /explorer and the static files carry the CSP, nosniff and no-referrer');
  await importPayloadModel('xss-probe');

  const opened = await page.goto(`${base}/explorer`);
  assert.equal(opened.url(), `${base}/`);
  assert.equal((await opened.allHeaders())['content-security-policy'], policy, 'the page the browser opened has the CSP');
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

  // Stored XSS: the imported model's feature names, class labels and description are payloads; they show as text.
  await page.selectOption('#model', 'xss-probe');
  await page.waitForFunction(() => window.explorer.model?.name === 'xss-probe' && document.querySelector('#row-numbers').textContent.includes('mutual information'));
  const shown = await page.evaluate(() => ({
    labels: [...document.querySelectorAll('#row-form label')].map((l) => l.textContent),
    inputs: [...document.querySelectorAll('#row-form input')].map((i) => i.name),
    info: document.querySelector('#model-info').textContent,
    label: document.querySelector('#row-numbers dd').textContent,
    classes: window.explorer.charts['row-chart'].data.labels,
    description: window.explorer.model.description,
  }));
  assert.deepEqual(shown.labels, payloads.features, 'feature names are the form labels, literally');
  assert.deepEqual(shown.inputs, payloads.features, 'feature names are the inputs\' names, literally');
  assert.ok(shown.info.includes(payloads.features.join(', ')), `model info shows the feature names literally: ${shown.info}`);
  assert.equal(shown.label, payloads.classes[0], 'the predicted class label is shown literally');
  assert.deepEqual(shown.classes, payloads.classes, 'class labels reach the chart (drawn on canvas) unchanged');
  assert.equal(shown.description, payloads.description);
  await assertNothingInjected('model with payload names');
  // Tooltips and legends are drawn on the canvas too: hover a bar and check that nothing appeared.
  const box = await page.locator('#row-chart').boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.8);
  await assertNothingInjected('chart tooltip');
  await page.locator('#tabular').screenshot({ path: `${shots}/payload-model.png` });
  step('a model with markup in its feature names, class labels and description shows them as text; nothing injected');

  // Error text (ProblemDetails title, detail and field errors) and training-job fields are shown as text too.
  const evaluateRoute = (url) => url.pathname === '/models/xss-probe/evaluate';
  await page.route(evaluateRoute, (route) => route.fulfill({
    status: 400, contentType: 'application/problem+json',
    body: JSON.stringify({ title: payloads.problem, detail: payloads.problem, errors: { [payloads.problem]: [payloads.problem] } }),
  }));
  const logged = failures.length;
  await page.click('#eval-run');
  await page.waitForSelector('#status.error');
  assert.equal(await page.textContent('#status'), `400 ${payloads.problem}: ${payloads.problem} ${payloads.problem}: ${payloads.problem}`);
  // Chromium logs the 400 itself to the console; that one message is expected here, anything else is not.
  const expected = failures.findIndex((f, i) => i >= logged && /Failed to load resource: .* status of 400/.test(f));
  if (expected >= 0) failures.splice(expected, 1);
  await assertNothingInjected('problem details');
  await page.unroute(evaluateRoute);

  const jobsRoute = (url) => url.pathname.startsWith('/training-jobs');
  await page.route(jobsRoute, (route) => route.fulfill(route.request().method() === 'POST'
    ? { status: 202, contentType: 'application/json', body: JSON.stringify({ id: `${payloads.job}/x`, state: 'Queued' }) }
    : {
      status: 200, contentType: 'application/json',
      body: JSON.stringify({ id: payloads.job, state: 'Failed', epoch: 1, epochs: 3, metricName: payloads.job, validationMetric: 0.5, error: payloads.job, history: [{ epoch: 1, trainLoss: 0.7, validationLoss: 0.8 }] }),
    }));
  await page.click('#train-start');
  await page.waitForSelector('#training[data-state="Failed"]');
  assert.equal(await page.textContent('#train-status'), `Job failed: ${payloads.job}`);
  await assertNothingInjected('training job');
  await page.unroute(jobsRoute);
  step('error text and training-job fields with markup are shown as text; nothing injected');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.selectOption('#model', 'toy');
  await page.waitForSelector('#curve[data-rendered="true"]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone screen`);
  await page.screenshot({ path: `${shots}/phone.png`, fullPage: true });
  step('phone width (390 px): no horizontal overflow');

  // The policy is enforced, not only sent: an inline script added to a fresh copy of the page does not run.
  const probe = await browser.newPage();
  await probe.addInitScript(watchCsp);
  await probe.goto(`${base}/`);
  const blocked = await probe.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true';
    document.head.append(script);
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { ran: window.inlineRan === true, violations: window.cspViolations };
  });
  await probe.close();
  assert.equal(blocked.ran, false, 'an inline script ran despite the CSP');
  assert.ok(blocked.violations.some((v) => v.startsWith('script-src')), `no script-src violation reported: ${blocked.violations}`);
  step('the CSP blocks an inline script');

  assert.deepEqual(await page.evaluate(() => window.cspViolations), [], 'CSP violations on the explorer page');
  assert.deepEqual(failures, [], failures.join('\n'));
  step(`passed; screenshots in ${shots}`);
} catch (error) {
  await page.screenshot({ path: `${shots}/failure.png`, fullPage: true }).catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
