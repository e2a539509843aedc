// The Uncertainty explorer: plain JS over the service's own API, charts from the vendored Chart.js.
// Whatever the service sends (model, feature and class names, descriptions, job fields, error text, numbers) is
// data, never markup: it reaches the page only as textContent or a plain attribute value, through el() below, and
// never through innerHTML and the like. The page's Content-Security-Policy allows no inline script as a second line.
import { examples } from './image-examples.js';
import { textExamples } from './text-examples.js';
import { births } from './forecast-examples.js';

const $ = (id) => document.getElementById(id);

/** A new element whose text and attributes are set as data: nothing here goes through the HTML parser. */
function el(tag, text, attributes = {}) {
  const element = document.createElement(tag);
  if (text != null) element.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

const state = { model: null, charts: {}, job: null, upload: null };
window.explorer = state; // read by the browser test

async function api(path, options = {}) {
  // A FormData body sets its own multipart content type (with the boundary); everything else is JSON.
  const json = options.body instanceof FormData ? {} : { 'content-type': 'application/json' };
  const response = await fetch(path, { ...options, headers: { ...json, ...(options.headers || {}) } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const fields = body?.errors ? ' ' + Object.entries(body.errors).map(([k, v]) => `${k}: ${[].concat(v).join(' ')}`).join('; ') : '';
    throw new Error(`${response.status} ${body?.title || response.statusText}${body?.detail ? ': ' + body.detail : ''}${fields}`);
  }
  return body;
}

function say(text, error = false, element = $('status')) {
  element.textContent = text;
  element.classList.toggle('error', error);
}

function chart(id, config) {
  state.charts[id]?.destroy();
  state.charts[id] = new Chart($(id), { ...config, options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options } });
  return state.charts[id];
}

// ---- models -------------------------------------------------------------------------------------------
async function loadModels(select) {
  const models = await api('/models');
  const picker = $('model');
  picker.replaceChildren(...models.map((m) => el('option', `${m.name} (${m.task}, v${m.defaultVersion})`, { value: m.name })));
  const wanted = select && models.some((m) => m.name === select) ? select : (models.some((m) => m.name === 'toy') ? 'toy' : models[0]?.name);
  picker.value = wanted;
  await showModel(wanted);
}

async function showModel(name) {
  const model = await api(`/models/${encodeURIComponent(name)}`);
  state.model = model;
  // The view follows the model's kind: the `image`, `text` and `forecast` blocks of GET /models/{name}, else a
  // 1-input regressor's curve, else the row form.
  const { image, text, forecast } = model;
  const inputs = image
    ? `image model: ${image.channels}×${image.height}×${image.width} pixels, 0–${image.pixelMax}, trained on ${String(image.background).toLowerCase() === 'dark' ? 'light ink on a dark background' : 'dark ink on a light background'}`
    : text
      ? `text model: ${text.rules} tokens, vocabulary ${text.vocabularySize}, reads up to ${text.maxTokens} tokens${text.preprocessing === 'email' ? ' of an e-mail (subject, sender, body)' : ''}`
      : forecast
        ? `forecasting model: reads the last ${forecast.window} days, forecasts the next ${forecast.horizon}`
        : `${model.inputs.length} input(s): ${model.inputs.slice(0, 6).join(', ')}${model.inputs.length > 6 ? ', …' : ''}`;
  $('model-info').textContent = `${inputs}; versions ${model.versions.map((v) => v.version).join(', ')}`;
  showEvaluationChoices(model);
  const special = Boolean(image || text || forecast);
  const oneInput = !special && model.task !== 'classification' && model.inputs.length === 1;
  $('curve').hidden = !oneInput;
  $('tabular').hidden = oneInput || special;
  $('image').hidden = !image;
  $('text').hidden = !text;
  $('forecast').hidden = !forecast;
  if (image) {
    showImageModel(model);
  } else if (text) {
    await showTextModel(model);
  } else if (forecast) {
    await showForecastModel(model);
  } else if (oneInput) {
    await drawCurve();
  } else {
    buildRowForm(model);
    await predictRow();
  }
}

// ---- 1-D regression: bands and sample curves ----------------------------------------------------------
// Total (epistemic + aleatoric) in warm sand, epistemic in two blues: told apart at a glance, in the legend and the plot.
const bandColours = { total: 'rgb(248, 214, 160)', epistemic2: 'rgb(168, 193, 240)', epistemic1: 'rgb(104, 145, 226)' };
async function drawCurve() {
  const model = state.model;
  const samples = Number($('curve-samples').value);
  const seed = Number($('curve-seed').value);
  // GET /models/{name} gives examples as pasteable /predict inputs with their targets beside them.
  const examples = model.examples ?? { inputs: [], targets: [] };
  const xs = examples.inputs.length ? examples.inputs.map((row) => row[0]) : [-1, 1];
  const lo = Math.min(...xs), hi = Math.max(...xs), pad = Math.max(1, (hi - lo));
  const grid = Array.from({ length: 121 }, (_, i) => lo - pad + (i * (hi - lo + 2 * pad)) / 120);
  const started = performance.now();
  const response = await api(`/models/${encodeURIComponent(model.name)}/predict`, {
    method: 'POST',
    body: JSON.stringify({ inputs: grid.map((x) => [x]), samples, seed, returnSamples: true }),
  });
  const ms = performance.now() - started;
  const p = response.predictions;
  const line = (f) => grid.map((x, i) => ({ x, y: f(p[i]) }));
  const sd = (v) => Math.sqrt(v);
  // Opaque fills drawn widest first, under the lines and dots: each visible strip is exactly its legend colour (no
  // blending where bands overlap). Chart.js draws a higher `order` earlier, so underneath.
  const band = (label, k, variance, color, order) => [
    { label: `${label} upper`, data: line((r) => r.mean[0] + k * sd(variance(r))), borderWidth: 0, pointRadius: 0, fill: false, backgroundColor: color, order },
    { label, data: line((r) => r.mean[0] - k * sd(variance(r))), borderWidth: 0, pointRadius: 0, fill: '-1', backgroundColor: color, order },
  ];
  const curves = Array.from({ length: Math.min(5, response.samples) }, (_, t) => ({
    label: t === 0 ? 'MC samples' : `sample ${t + 1}`, data: line((r) => r.samples[t][0]), borderColor: 'rgba(120,120,120,.55)', borderWidth: 1, pointRadius: 0, order: 3,
  }));
  const datasets = [
    ...band('±2σ total', 2, (r) => r.predictiveVariance[0], bandColours.total, 6),
    ...band('±2σ epistemic', 2, (r) => r.epistemicVariance[0], bandColours.epistemic2, 5),
    ...band('±1σ epistemic', 1, (r) => r.epistemicVariance[0], bandColours.epistemic1, 4),
    ...curves,
    { label: 'MC mean', data: line((r) => r.mean[0]), borderColor: '#1d2430', borderWidth: 2.5, pointRadius: 0, order: 2 },
    { label: 'training data', type: 'scatter', data: examples.inputs.map((row, i) => ({ x: row[0], y: examples.targets?.[i] })), backgroundColor: '#d9480f', pointRadius: 2.5, order: 1 },
  ];
  chart('curve-chart', {
    type: 'line',
    data: { datasets },
    options: {
      parsing: false,
      scales: { x: { type: 'linear', title: { display: true, text: model.inputs[0] } }, y: { title: { display: true, text: model.outputs?.[0] ?? 'y' } } },
      plugins: { legend: { labels: { filter: (item) => !item.text.endsWith('upper') && !item.text.startsWith('sample '), sort: (a, b) => a.datasetIndex - b.datasetIndex } } },
    },
  });
  const section = $('curve');
  section.dataset.samples = String(response.samples);
  section.dataset.seed = String(response.seed);
  section.dataset.rendered = 'true';
  say(`T = ${response.samples}, seed ${response.seed}: ${grid.length} inputs answered in ${ms.toFixed(0)} ms. The bands widen away from the training data.`);
}

// ---- tabular rows: regression histogram or class probabilities ------------------------------------------
function buildRowForm(model) {
  const example = model.examples?.inputs?.[0] ?? [];
  // Quantile intervals are for regression; a classifier's probabilities have none.
  for (const node of document.querySelectorAll('#tabular .regression-only')) node.hidden = model.task === 'classification';
  $('row-form').replaceChildren(...model.inputs.map((name, i) => {
    // The name wraps onto at most two lines (preferably after _ - . or a space), then ends in an ellipsis; the whole
    // name is its tooltip. The break points are <wbr> elements between text nodes, so the text stays the name.
    const label = el('label');
    const text = el('span', null, { class: 'name', title: name });
    name.split(/(?<=[_\-. ])/).forEach((part, j) => text.append(...(j ? [el('wbr')] : []), document.createTextNode(part)));
    label.append(text, el('input', null, { name, type: 'number', step: 'any', value: example[i] ?? 0, required: '' }));
    return label;
  }));
}

async function predictRow() {
  const model = state.model;
  const row = Object.create(null); // keyed by feature name, whatever the names are (even "__proto__")
  for (const input of $('row-form').querySelectorAll('input')) row[input.name] = Number(input.value);
  const samples = Number($('row-samples').value);
  const interval = model.task === 'classification' ? {} : { interval: $('row-interval').value };
  const response = await api(`/models/${encodeURIComponent(model.name)}/predict`, {
    method: 'POST',
    body: JSON.stringify({ inputs: [row], samples, seed: Number($('row-seed').value), returnSamples: true, intervalLevel: 0.95, ...interval }),
  });
  const p = response.predictions[0];
  const numbers = [];
  if (model.task === 'classification') {
    numbers.push(['label', p.label], ['entropy H[E p]', p.entropy.toFixed(4)], ['expected entropy E[H p]', p.expectedEntropy.toFixed(4)],
      ['mutual information', p.mutualInformation.toFixed(4)], ['variation ratio', p.variationRatio.toFixed(3)]);
    drawClasses(model, p);
  } else {
    numbers.push(['mean', p.mean[0].toFixed(3)], ['epistemic variance', p.epistemicVariance[0].toFixed(4)], ['aleatoric variance', p.aleatoricVariance[0].toFixed(4)],
      ['predictive variance', p.predictiveVariance[0].toFixed(4)], [`95% ${p.interval.method} interval`, `${p.interval.lower[0].toFixed(2)} – ${p.interval.upper[0].toFixed(2)}`],
      ['MC standard error of the mean', p.standardError?.[0]?.toFixed(4) ?? '–']);
    drawHistogram(model, p);
  }
  $('row-numbers').replaceChildren(...numbers.flatMap(([k, v]) => [el('dt', k), el('dd', String(v))]));
  $('tabular').dataset.rendered = 'true';
  say(`T = ${response.samples}, seed ${response.seed}.`);
}

function drawHistogram(model, p) {
  const values = p.samples.map((s) => s[0]);
  const lo = Math.min(...values), hi = Math.max(...values), bins = 30, width = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
  const centres = counts.map((_, i) => lo + (i + 0.5) * width);
  const inside = (x) => x >= p.interval.lower[0] && x <= p.interval.upper[0];
  chart('row-chart', {
    type: 'bar',
    data: { labels: centres.map((c) => c.toFixed(2)), datasets: [{ label: 'MC samples', data: counts, backgroundColor: centres.map((c) => (inside(c) ? 'rgba(36,86,199,.7)' : 'rgba(150,150,150,.6)')) }] },
    options: { scales: { x: { title: { display: true, text: model.outputs?.[0] ?? 'output' } }, y: { title: { display: true, text: 'samples' } } } },
  });
  $('row-caption').textContent = `Distribution of the ${values.length} MC means (epistemic spread); blue bars lie inside the 95% ${p.interval.method} predictive interval ${p.interval.lower[0].toFixed(2)} – ${p.interval.upper[0].toFixed(2)}, which also includes the aleatoric noise.`;
}

// Error bars drawn over the bars: ±k std of each class probability across the MC samples (k = 1 unless given).
const errorBars = {
  id: 'errorBars',
  afterDatasetsDraw(c) {
    const { std, k = 1 } = c.config.options.plugins.errorBars ?? {};
    if (!std) return;
    const meta = c.getDatasetMeta(0), y = c.scales.y, ctx = c.ctx;
    ctx.save(); ctx.strokeStyle = '#1d2430'; ctx.lineWidth = 1.5;
    meta.data.forEach((bar, i) => {
      const value = c.data.datasets[0].data[i];
      const top = y.getPixelForValue(Math.min(1, value + k * std[i])), bottom = y.getPixelForValue(Math.max(0, value - k * std[i]));
      ctx.beginPath(); ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
      ctx.moveTo(bar.x - 6, top); ctx.lineTo(bar.x + 6, top); ctx.moveTo(bar.x - 6, bottom); ctx.lineTo(bar.x + 6, bottom); ctx.stroke();
    });
    ctx.restore();
  },
};

function drawClasses(model, p) {
  chart('row-chart', {
    type: 'bar',
    data: { labels: model.outputs, datasets: [{ label: 'MC mean probability', data: p.probabilities, backgroundColor: 'rgba(36,86,199,.7)' }] },
    options: { scales: { y: { min: 0, max: 1, title: { display: true, text: 'probability' } } }, plugins: { errorBars: { std: p.probabilityStd } } },
    plugins: [errorBars],
  });
  $('row-caption').textContent = 'Class probabilities averaged over the MC samples, with ±1 std across samples. Mutual information (above) is the epistemic part of the entropy.';
}

// ---- image models: a drawing pad, an upload, class probabilities and the MC samples' votes ---------------
// The pad is 28x28 (MNIST's size), white ink on black; the server turns whatever it gets into the model's own
// size, grey levels and background (GET /models/{name} -> image), so the page sends the picture as it is.
const imageSamples = 100;
const imageSeed = 42;
const votesShown = 10;

function pad() { return $('image-canvas').getContext('2d', { willReadFrequently: true }); }

function clearPad() {
  const ctx = pad();
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  state.upload = null;
  $('image-file').value = '';
}

function showImageModel(model) {
  clearPad();
  $('image-numbers').replaceChildren();
  $('image-votes').replaceChildren();
  state.charts['image-chart']?.destroy();
  delete state.charts['image-chart'];
  $('image').dataset.rendered = 'false';
  const { height, width } = model.image;
  $('image-framing').textContent = height < 28
    ? `Your drawing is sent framed like the training pictures: its ink fills the frame, which the server shrinks to ${height}×${width}.`
    : `Your drawing is sent framed like MNIST: its ink scaled into a 20×20 box centred in ${height}×${width}.`;
  say(`Draw a shape for ${model.name} (${model.outputs?.length ?? '?'} classes), or try an example.`);
}

/** Pointer drawing on the pad: positions are scaled from the enlarged on-screen box to the 28x28 pixels. */
function wirePad() {
  const canvas = $('image-canvas');
  let last = null;
  const at = (e) => {
    const box = canvas.getBoundingClientRect();
    return [((e.clientX - box.left) / box.width) * canvas.width, ((e.clientY - box.top) / box.height) * canvas.height];
  };
  const stroke = (from, to) => {
    const ctx = pad();
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 2.4;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath(); ctx.moveTo(...from); ctx.lineTo(...to); ctx.stroke();
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (state.upload) clearPad(); // drawing starts a new picture: the upload is no longer what would be sent
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    stroke(last, last);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const next = at(e);
    stroke(last, next);
    last = next;
  });
  const end = () => { last = null; };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
}

/** An uploaded file (or an example) is sent as it is; the pad shows it fitted into 28x28 as a preview. */
async function useUpload(file) {
  if (!file) return;
  const bitmap = await createImageBitmap(file);
  const ctx = pad();
  const scale = Math.min(ctx.canvas.width / bitmap.width, ctx.canvas.height / bitmap.height);
  const w = bitmap.width * scale, h = bitmap.height * scale;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, ctx.canvas.width, ctx.canvas.height);
  ctx.drawImage(bitmap, (ctx.canvas.width - w) / 2, (ctx.canvas.height - h) / 2, w, h);
  bitmap.close();
  state.upload = file;
  await predictImage('upload');
}

/** Loads one of the embedded 28x28 examples into the pad and predicts it, sent as it is (like an upload, not reframed). */
async function useExample(name) {
  const { pixels } = examples[name];
  const ctx = pad();
  const picture = ctx.createImageData(28, 28);
  pixels.forEach((v, i) => picture.data.set([v, v, v, 255], 4 * i));
  ctx.putImageData(picture, 0, 0);
  $('image-file').value = '';
  const png = await new Promise((resolve) => ctx.canvas.toBlob(resolve, 'image/png'));
  state.upload = new File([png], `${name}.png`, { type: 'image/png' });
  await predictImage(name);
}

/**
 * The pad framed the way the model's training pictures are: the ink's bounding box, aspect kept, centred and
 * scaled to fill the frame for small pictures (the 8x8 digits fill theirs), or to 20 of 28 pixels as MNIST frames
 * its digits. The server only resizes, so a small drawing in a corner would otherwise reach the model as a speck.
 */
function framedPad(model) {
  const canvas = $('image-canvas');
  const size = canvas.width;
  const { data } = pad().getImageData(0, 0, size, canvas.height);
  let [left, top, right, bottom] = [size, size, -1, -1];
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 32) continue;
    const x = (i / 4) % size, y = Math.floor(i / 4 / size);
    [left, top, right, bottom] = [Math.min(left, x), Math.min(top, y), Math.max(right, x), Math.max(bottom, y)];
  }
  if (right < 0) return canvas; // nothing drawn: send the empty pad as it is
  const [w, h] = [right - left + 1, bottom - top + 1];
  const scale = (model.image.height < 28 ? size : 20) / Math.max(w, h);
  const framed = document.createElement('canvas');
  framed.width = framed.height = size;
  const ctx = framed.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, size, size);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(canvas, left, top, w, h, (size - w * scale) / 2, (size - h * scale) / 2, w * scale, h * scale);
  return framed;
}

/** Sends the upload, or else the pad as a PNG; source ('drawing', 'upload' or an example) is recorded for the test. */
async function predictImage(source = 'drawing') {
  const model = state.model;
  const picture = state.upload ?? await new Promise((resolve) => framedPad(model).toBlob(resolve, 'image/png'));
  const form = new FormData();
  form.append('image', picture, state.upload?.name ?? 'drawing.png');
  const query = new URLSearchParams({ samples: imageSamples, seed: imageSeed, returnSamples: true });
  const response = await api(`/models/${encodeURIComponent(model.name)}/predict/image?${query}`, { method: 'POST', body: form });
  const p = response.predictions[0];
  const classes = model.outputs ?? p.probabilities.map((_, i) => String(i));
  const best = p.probabilities.indexOf(Math.max(...p.probabilities));
  $('image-numbers').replaceChildren(...[
    ['predicted class', `${p.label} (probability ${p.probabilities[best].toFixed(3)} ± ${(2 * p.probabilityStd[best]).toFixed(3)})`],
    ['entropy (total uncertainty)', p.entropy.toFixed(3)],
    ['mutual information (the model does not know)', p.mutualInformation.toFixed(3)],
  ].flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
  const argmax = (probabilities) => probabilities.indexOf(Math.max(...probabilities));
  $('image-votes').replaceChildren(...(p.samples ?? []).slice(0, votesShown).map((s, t) => {
    const choice = classes[argmax(s)];
    return el('span', choice, { class: choice === p.label ? 'vote' : 'vote other', title: `MC sample ${t + 1}` });
  }));
  chart('image-chart', {
    type: 'bar',
    data: { labels: classes, datasets: [{ label: 'MC mean probability', data: p.probabilities, backgroundColor: 'rgba(36,86,199,.7)' }] },
    options: { scales: { y: { min: 0, max: 1, title: { display: true, text: 'probability' } } }, plugins: { errorBars: { std: p.probabilityStd, k: 2 } } },
    plugins: [errorBars],
  });
  $('image-caption').textContent = `Bars: class probabilities averaged over T = ${response.samples} MC samples (seed ${response.seed}); whiskers: ±2σ across the samples.`;
  const section = $('image');
  section.dataset.entropy = String(p.entropy);
  section.dataset.mutualInformation = String(p.mutualInformation);
  section.dataset.source = source;
  section.dataset.rendered = 'true';
  say(`${model.name} v${response.version}: ${p.label}, mutual information ${p.mutualInformation.toFixed(3)} (T = ${response.samples}).`);
}

// ---- text models: a message, class probabilities, entropy and mutual information ----------------------------
// The page sends the text as it is; the server tokenizes it the model's way (GET /models/{name} -> text).
const textSeed = 42;

function fillTextExamples() {
  const picker = $('text-example');
  if (picker.options.length) return;
  picker.replaceChildren(...textExamples.map((e) => el('option', e.title, { value: e.id })));
}

function useTextExample(id) {
  const example = textExamples.find((e) => e.id === id) ?? textExamples[0];
  $('text-example').value = example.id;
  $('text-message').value = example.text;
}

async function showTextModel(model) {
  fillTextExamples();
  state.charts['text-chart']?.destroy();
  delete state.charts['text-chart'];
  $('text-numbers').replaceChildren();
  $('text').dataset.rendered = 'false';
  const { maxTokens, preprocessing } = model.text;
  $('text-info').textContent = preprocessing === 'email'
    ? `Paste a whole e-mail: headers, a blank line, the body. The model reads the Subject, the From line and the body (HTML tags removed), the first ${maxTokens} words; a text without headers is all body.`
    : `The model reads the first ${maxTokens} words.`;
  if (!$('text-message').value.trim()) useTextExample(textExamples[0].id);
  await predictText();
}

/** The class the headline probability is about: the one called "spam" if there is one, else the last. */
function positiveClass(classes) {
  const spam = classes.findIndex((c) => String(c).toLowerCase() === 'spam');
  return spam >= 0 ? spam : classes.length - 1;
}

async function predictText() {
  const model = state.model;
  const message = $('text-message').value;
  if (!message.trim()) throw new Error('Type or paste a message first.');
  const example = textExamples.find((e) => e.id === $('text-example').value);
  const source = example && example.text === message ? example.id : 'typed';
  const response = await api(`/models/${encodeURIComponent(model.name)}/predict`, {
    method: 'POST',
    body: JSON.stringify({ inputs: [message], samples: Number($('text-samples').value), seed: textSeed }),
  });
  const p = response.predictions[0];
  const classes = model.outputs ?? p.probabilities.map((_, i) => String(i));
  const k = positiveClass(classes);
  const headline = `${p.probabilities[k].toFixed(3)} ± ${(2 * p.probabilityStd[k]).toFixed(3)} (±2σ)`;
  $('text-numbers').replaceChildren(...[
    ['predicted class', p.label],
    [`probability of ${classes[k]}`, headline],
    ['predictive entropy (total)', p.entropy.toFixed(3)],
    ['expected entropy (aleatoric)', p.expectedEntropy.toFixed(3)],
    ['mutual information (epistemic)', p.mutualInformation.toFixed(3)],
    ['variation ratio', p.variationRatio.toFixed(3)],
  ].flatMap(([key, value]) => [el('dt', key), el('dd', value)]));
  chart('text-chart', {
    type: 'bar',
    data: { labels: classes, datasets: [{ label: 'MC mean probability', data: p.probabilities, backgroundColor: 'rgba(36,86,199,.7)' }] },
    options: { scales: { y: { min: 0, max: 1, title: { display: true, text: 'probability' } } }, plugins: { errorBars: { std: p.probabilityStd, k: 2 } } },
    plugins: [errorBars],
  });
  $('text-caption').textContent = `Bars: class probabilities averaged over T = ${response.samples} MC samples (seed ${response.seed}); whiskers: ±2σ across the samples.`;
  const section = $('text');
  section.dataset.probability = String(p.probabilities[k]);
  section.dataset.mutualInformation = String(p.mutualInformation);
  section.dataset.source = source;
  section.dataset.rendered = 'true';
  say(`${model.name} v${response.version}: ${p.label}, probability of ${classes[k]} ${headline}, mutual information ${p.mutualInformation.toFixed(3)} (T = ${response.samples}).`);
}

// ---- forecasting models: a fan chart over the history ----------------------------------------------------
// POST /models/{name}/forecast with the history and its last date; the answer has one step per horizon day (mean,
// variances, 50 % and 90 % intervals) and a few MC sample paths, each one pass with its dropout masks for every day.
const forecastLevels = [0.5, 0.9];
const forecastPaths = 20;
const fanColours = { 0.9: 'rgb(200, 215, 245)', 0.5: 'rgb(128, 163, 230)' };

/** yyyy-MM-dd, n days after (or before) the given day; UTC, so no daylight-saving hour can shift the date. */
function daysAfter(iso, n) {
  const day = new Date(`${iso}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + n);
  return day.toISOString().slice(0, 10);
}

/** The default history, a week per line (Thursday to Wednesday). */
function resetForecastExample() {
  const weeks = [];
  for (let i = 0; i < births.history.length; i += 7) weeks.push(births.history.slice(i, i + 7).join(' '));
  $('forecast-history').value = weeks.join('\n');
  $('forecast-last-date').value = births.lastDate;
}

function readHistory() {
  const parts = $('forecast-history').value.split(/[\s,;]+/).filter(Boolean);
  const values = parts.map(Number);
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`History: value ${bad + 1} ("${parts[bad]}") is not a number.`);
  return values;
}

const isDefaultExample = (values, lastDate) => lastDate === births.lastDate && values.length === births.history.length && values.every((v, i) => v === births.history[i]);

/** Numbers of any size, readable: whole numbers from 100 up, three significant digits below. */
const figure = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

async function showForecastModel(model) {
  if (!$('forecast-history').value.trim()) resetForecastExample();
  state.charts['forecast-chart']?.destroy();
  delete state.charts['forecast-chart'];
  $('forecast-steps').replaceChildren();
  $('forecast-caption').textContent = '';
  $('forecast').dataset.rendered = 'false';
  await drawForecast();
}

async function drawForecast() {
  const model = state.model;
  const { window: W, horizon: H, levelDays } = model.forecast;
  const history = readHistory();
  const lastDate = $('forecast-last-date').value;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(lastDate)) throw new Error('Give the date of the last history value.');
  const example = isDefaultExample(history, lastDate);
  $('forecast-info').textContent = `${history.length} values, the last on ${lastDate}${example ? ` (the example: ${births.name}, CDC/NCHS, public domain)` : ''}. ${model.name} reads the last ${W} days (relative to the mean of the last ${levelDays}) and forecasts each day as a correction to the same weekday of the last observed week.`;
  if (history.length < W) throw new Error(`History: ${history.length} values, but ${model.name} reads the last ${W} days: give at least ${W}.`);
  const samples = Number($('forecast-samples').value);
  const response = await api(`/models/${encodeURIComponent(model.name)}/forecast`, {
    method: 'POST',
    body: JSON.stringify({ history, lastDate, samples, seed: Number($('forecast-seed').value), intervalLevels: forecastLevels, returnPaths: Math.min(forecastPaths, samples) }),
  });
  const steps = response.steps;
  const shown = history.slice(-W);
  const n = shown.length;
  const labels = [...shown.map((_, i) => daysAfter(lastDate, i - n + 1)), ...steps.map((s) => String(s.date))];
  // Forecast series start at the last history value, so the fan opens from where the history ends.
  const fan = (f) => [...new Array(n - 1).fill(null), shown[n - 1], ...steps.map(f)];
  const interval = (s, level) => {
    const found = s.intervals.find((i) => Math.abs(i.level - level) < 1e-9);
    if (!found) throw new Error(`The forecast has no ${level * 100} % interval for ${s.date}.`);
    return found;
  };
  // Opaque fills, the wider band drawn first (a higher order is drawn earlier), as in the 1-D regression plot.
  const band = (level, order) => [
    { label: `${level * 100} % interval upper`, data: fan((s) => interval(s, level).upper), borderWidth: 0, pointRadius: 0, fill: false, backgroundColor: fanColours[level], order },
    { label: `${level * 100} % interval`, data: fan((s) => interval(s, level).lower), borderWidth: 0, pointRadius: 0, fill: '-1', backgroundColor: fanColours[level], order },
  ];
  const paths = (response.paths ?? []).map((path, t) => ({
    label: t === 0 ? 'MC sample paths' : `path ${t + 1}`, data: fan((_, i) => path[i]), borderColor: 'rgba(90,90,90,.4)', borderWidth: 1, pointRadius: 0, order: 3,
  }));
  const actual = example ? births.actual.slice(0, H) : null;
  const datasets = [
    ...band(0.9, 6),
    ...band(0.5, 5),
    ...paths,
    { label: 'history', data: [...shown, ...new Array(steps.length).fill(null)], borderColor: '#1d2430', backgroundColor: '#1d2430', borderWidth: 1.5, pointRadius: 1.5, order: 2 },
    { label: 'MC mean', data: fan((s) => s.mean), borderColor: '#0b3d91', backgroundColor: '#0b3d91', borderWidth: 2.5, pointRadius: 0, order: 1 },
    ...(actual ? [{ label: 'actual (1987)', data: [...new Array(n).fill(null), ...actual], borderColor: '#d9480f', backgroundColor: '#d9480f', borderDash: [3, 3], borderWidth: 2, pointRadius: 0, order: 0 }] : []),
  ];
  chart('forecast-chart', {
    type: 'line',
    data: { labels, datasets },
    options: {
      scales: {
        x: { ticks: { maxRotation: 0, autoSkipPadding: 16 }, title: { display: true, text: 'date' } },
        y: { title: { display: true, text: model.outputs?.[0] ?? 'value' } },
      },
      plugins: { legend: { labels: { filter: (item) => !item.text.endsWith('upper') && !item.text.startsWith('path '), sort: (a, b) => a.datasetIndex - b.datasetIndex } } },
    },
  });
  const first = steps[0], last = steps.at(-1);
  const share = (s) => `${Math.round((100 * s.epistemicVariance) / s.predictiveVariance)} %`;
  const widening = last.std > 1.05 * first.std
    ? `The bands widen with the horizon as the uncertainty grows: the predictive std is ${figure(first.std)} on day 1 and ${figure(last.std)} on day ${last.horizon}.`
    : `Here the predictive std changes little over the horizon: ${figure(first.std)} on day 1, ${figure(last.std)} on day ${last.horizon}.`;
  $('forecast-caption').textContent = `Black: the last ${n} days of the history. Blue line: the MC mean of T = ${response.samples} passes (seed ${response.seed}); `
    + `shaded: the 50 % and 90 % central predictive intervals of each day (epistemic + aleatoric); thin grey lines: ${paths.length} MC sample paths, each one network with its own dropout masks for all ${steps.length} days`
    + `${actual ? '; dotted orange: the births that actually happened (CDC/NCHS)' : ''}. ${widening} `
    + `The epistemic part (the MC passes disagreeing: the model's own uncertainty) is ${share(first)} of the variance on day 1 and ${share(last)} on day ${last.horizon}; the rest is aleatoric, the day-to-day noise the model expects.`;
  // The std by step, split into its epistemic and aleatoric parts (σ² = σ²epistemic + σ²aleatoric), for a few days.
  const days = [...new Set([1, 2, 7, 14, 21, 28, H].filter((h) => h <= steps.length))];
  const rows = [['day', 'date', 'mean', 'std', 'epistemic σ', 'aleatoric σ', 'epistemic share', '90 % interval']];
  for (const h of days) {
    const s = steps[h - 1];
    const ninety = interval(s, 0.9);
    rows.push([String(s.horizon), String(s.date), figure(s.mean), figure(s.std), figure(Math.sqrt(s.epistemicVariance)), figure(Math.sqrt(s.aleatoricVariance)), share(s), `${figure(ninety.lower)} – ${figure(ninety.upper)}`]);
  }
  const body = el('tbody');
  body.append(...rows.map((row, i) => {
    const tr = el('tr');
    tr.append(...row.map((c) => el(i === 0 ? 'th' : 'td', c)));
    return tr;
  }));
  $('forecast-steps').replaceChildren(body);
  const section = $('forecast');
  section.dataset.steps = String(steps.length);
  section.dataset.paths = String(paths.length);
  section.dataset.actual = String(Boolean(actual));
  section.dataset.rendered = 'true';
  say(`${model.name} v${response.version}: ${steps.length} days after ${lastDate}, T = ${response.samples}.`);
}

// ---- training -------------------------------------------------------------------------------------------
async function startTraining(event) {
  event.preventDefault();
  const name = $('train-name').value;
  const dropout = Number($('train-dropout').value);
  const key = $('train-key').value;
  const body = {
    model: name, dataset: $('train-dataset').value,
    network: { hidden: [Number($('train-hidden').value)], hiddenDropout: [dropout] },
    training: { epochs: Number($('train-epochs').value), batchSize: 32, learningRate: 0.003, validationFraction: 0.2, seed: 1 },
    makeDefault: true,
  };
  try {
    const job = await api('/training-jobs', { method: 'POST', body: JSON.stringify(body), headers: key ? { 'X-Api-Key': key } : {} });
    state.job = job.id;
    $('train-figure').hidden = true; // shown again with this job's first epoch
    $('train-cancel').disabled = false;
    $('train-start').disabled = true;
    const lossChart = chart('train-chart', {
      type: 'line',
      data: { labels: [], datasets: [{ label: 'train loss', data: [], borderColor: '#2456c7', pointRadius: 0 }, { label: 'validation loss', data: [], borderColor: '#d9480f', pointRadius: 0 }] },
      options: { scales: { x: { title: { display: true, text: 'epoch' } }, y: { title: { display: true, text: 'loss' } } } },
    });
    await followJob(job.id, lossChart, name);
  } catch (error) {
    say(error.message, true, $('train-status'));
  }
}

async function followJob(id, lossChart, name) {
  for (;;) {
    const job = await api(`/training-jobs/${encodeURIComponent(id)}`);
    lossChart.data.labels = job.history.map((h) => h.epoch);
    lossChart.data.datasets[0].data = job.history.map((h) => h.trainLoss);
    lossChart.data.datasets[1].data = job.history.map((h) => h.validationLoss);
    lossChart.update();
    if (job.history.length > 0) $('train-figure').hidden = false; // no empty chart before the first epoch
    const metric = job.validationMetric != null ? `, validation ${job.metricName} ${job.validationMetric.toFixed(3)}` : '';
    const eta = job.etaSeconds != null ? `, about ${Math.ceil(job.etaSeconds)} s left` : '';
    say(`Job ${id.slice(0, 8)}…: ${job.state.toLowerCase()}, epoch ${job.epoch}/${job.epochs}${metric}${eta}`, job.state === 'failed', $('train-status'));
    $('training').dataset.state = job.state;
    if (['succeeded', 'failed', 'cancelled'].includes(job.state)) {
      $('train-cancel').disabled = true;
      $('train-start').disabled = false;
      if (job.state === 'succeeded') {
        say(`Job ${id.slice(0, 8)}… saved ${name} version ${job.version} (now its default).`, false, $('train-status'));
        await loadModels(name);
      } else if (job.error) {
        say(`Job ${job.state.toLowerCase()}: ${job.error}`, true, $('train-status'));
      }
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

async function cancelTraining() {
  if (!state.job) return;
  const key = $('train-key').value;
  await api(`/training-jobs/${encodeURIComponent(state.job)}`, { method: 'DELETE', headers: key ? { 'X-Api-Key': key } : {} }).catch((e) => say(e.message, true, $('train-status')));
}

// ---- evaluation -----------------------------------------------------------------------------------------
// The bundled datasets (BundledDatasets.All on the server): a model can be scored on those of its task with as
// many feature columns as it has inputs.
const bundledDatasets = [
  { name: 'boston', task: 'regression', inputs: 13 },
  { name: 'concrete', task: 'regression', inputs: 8 },
  { name: 'breast_cancer', task: 'classification', inputs: 30 },
  { name: 'digits', task: 'classification', inputs: 64 },
];

/** Offers only the bundled datasets that fit the selected model; clears the previous model's scores. */
function showEvaluationChoices(model) {
  const fits = bundledDatasets.filter((d) => d.task === model.task && d.inputs === model.inputs.length);
  const picker = $('eval-dataset');
  const kept = picker.value;
  picker.replaceChildren(...fits.map((d) => el('option', d.name, { value: d.name })));
  if (fits.some((d) => d.name === kept)) picker.value = kept;
  picker.disabled = fits.length === 0;
  $('eval-run').disabled = fits.length === 0;
  $('eval-fit').textContent = fits.length === 0
    ? `No bundled dataset fits this model (${model.task}, ${model.inputs.length} inputs).`
    : `Datasets for a ${model.task} model with ${model.inputs.length} inputs.`;
  $('eval-summary').textContent = '';
  $('eval-metrics').replaceChildren();
  $('eval-figure').hidden = true;
}

async function evaluate() {
  const model = state.model;
  $('eval-summary').textContent = '';
  try {
    const result = await api(`/models/${encodeURIComponent(model.name)}/evaluate`, {
      method: 'POST',
      body: JSON.stringify({ dataset: $('eval-dataset').value, samples: Number($('eval-samples').value), ...($('eval-rows').value ? { rows: $('eval-rows').value } : {}) }),
    });
    const r = result.report;
    const rows = [];
    const fmt = (v) => (typeof v === 'number' ? v.toFixed(4) : v);
    if (r.mcDropout) {
      rows.push(['', 'MC dropout', 'weight scaling']);
      for (const k of ['rmse', 'mae', 'logLikelihood', 'coverage90', 'coverage95']) rows.push([k, fmt(r.mcDropout[k]), fmt(r.weightScaling[k])]);
      $('eval-figure').hidden = true;
    } else {
      rows.push(['', 'MC dropout', 'weight scaling']);
      for (const k of ['accuracy', 'negativeLogLikelihood', 'brier', 'expectedCalibrationError']) rows.push([k, fmt(r.mcDropoutClassification[k]), fmt(r.weightScalingClassification[k])]);
      drawReliability(r.mcDropoutClassification.reliability);
    }
    const body = el('tbody');
    body.append(...rows.map((row, i) => {
      const tr = el('tr');
      tr.append(...row.map((c) => el(i === 0 ? 'th' : 'td', String(c))));
      return tr;
    }));
    $('eval-metrics').replaceChildren(body);
    // The server says which rows it scored and why (held out at training, or all of them, training rows included).
    const scored = result.scored;
    const kind = scored.rows === 'heldOut' ? 'held-out rows' : scored.includesTrainingRows ? 'all rows, training rows included' : 'all rows';
    $('eval-summary').textContent = `Scored ${scored.count} of ${scored.of} rows of ${result.data} (${kind}: ${scored.reason}) with ${result.model} v${result.version}, T = ${r.samples}.`;
    say(`${result.model} v${result.version} evaluated on ${result.data}.`);
  } catch (error) {
    say(error.message, true);
  }
}

function drawReliability(bins) {
  $('eval-figure').hidden = false;
  const used = bins.filter((b) => b.count > 0);
  chart('eval-chart', {
    type: 'bar',
    data: {
      labels: bins.map((b) => `${b.lower.toFixed(2)}–${b.upper.toFixed(2)}`),
      datasets: [
        { label: 'accuracy', data: bins.map((b) => (b.count ? b.accuracy : null)), backgroundColor: 'rgba(36,86,199,.7)' },
        { label: 'perfect calibration', type: 'line', data: bins.map((b) => (b.lower + b.upper) / 2), borderColor: '#888', borderDash: [4, 4], pointRadius: 0 },
      ],
    },
    options: { scales: { y: { min: 0, max: 1, title: { display: true, text: 'accuracy' } }, x: { title: { display: true, text: `confidence (${used.length} bins used)` } } } },
  });
}

// ---- wiring ---------------------------------------------------------------------------------------------
function debounce(f, ms = 250) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => f(...a), ms); }; }
const guarded = (f) => async (...a) => { try { await f(...a); } catch (error) { say(error.message, true); } };

window.addEventListener('DOMContentLoaded', () => {
  $('model').addEventListener('change', guarded((e) => showModel(e.target.value)));
  $('curve-samples').addEventListener('input', debounce(guarded(drawCurve)));
  $('curve-seed').addEventListener('input', debounce(guarded(drawCurve)));
  $('curve-resample').addEventListener('click', guarded(() => { $('curve-seed').value = Math.floor(Math.random() * 1e6); return drawCurve(); }));
  $('row-predict').addEventListener('click', guarded(predictRow));
  $('train-form').addEventListener('submit', startTraining);
  $('train-cancel').addEventListener('click', cancelTraining);
  $('eval-run').addEventListener('click', evaluate);
  wirePad();
  $('image-clear').addEventListener('click', clearPad);
  $('image-predict').addEventListener('click', guarded(() => predictImage('drawing')));
  $('image-file').addEventListener('change', guarded((e) => useUpload(e.target.files[0])));
  $('image-example-digit').addEventListener('click', guarded(() => useExample('digit')));
  $('image-example-clothing').addEventListener('click', guarded(() => useExample('clothing')));
  $('text-example').addEventListener('change', guarded((e) => { useTextExample(e.target.value); return predictText(); }));
  $('text-predict').addEventListener('click', guarded(predictText));
  $('forecast-run').addEventListener('click', guarded(drawForecast));
  $('forecast-reset').addEventListener('click', guarded(() => { resetForecastExample(); return drawForecast(); }));
  $('forecast-samples').addEventListener('input', debounce(guarded(drawForecast)));
  $('forecast-seed').addEventListener('input', debounce(guarded(drawForecast)));
  guarded(loadModels)();
});
