// The Uncertainty explorer: plain JS over the service's own API, charts from the vendored Chart.js.
// Whatever the service sends (model, feature and class names, descriptions, job fields, error text, numbers) is
// data, never markup: it reaches the page only as textContent or a plain attribute value, through el() below, and
// never through innerHTML and the like. The page's Content-Security-Policy allows no inline script as a second line.
const $ = (id) => document.getElementById(id);

/** A new element whose text and attributes are set as data: nothing here goes through the HTML parser. */
function el(tag, text, attributes = {}) {
  const element = document.createElement(tag);
  if (text != null) element.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

const state = { model: null, charts: {}, job: null };
window.explorer = state; // read by the browser test

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { 'content-type': 'application/json', ...(options.headers || {}) } });
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
  $('model-info').textContent = `${model.inputs.length} input(s): ${model.inputs.slice(0, 6).join(', ')}${model.inputs.length > 6 ? ', …' : ''}; versions ${model.versions.map((v) => v.version).join(', ')}`;
  const oneInput = model.task !== 'classification' && model.inputs.length === 1;
  $('curve').hidden = !oneInput;
  $('tabular').hidden = oneInput;
  if (oneInput) {
    await drawCurve();
  } else {
    buildRowForm(model);
    await predictRow();
  }
}

// ---- 1-D regression: bands and sample curves ----------------------------------------------------------
async function drawCurve() {
  const model = state.model;
  const samples = Number($('curve-samples').value);
  const seed = Number($('curve-seed').value);
  const xs = model.examples?.map((e) => e[0]) ?? [-1, 1];
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
  const band = (label, k, variance, color) => [
    { label: `${label} upper`, data: line((r) => r.mean[0] + k * sd(variance(r))), borderWidth: 0, pointRadius: 0, fill: false, backgroundColor: color },
    { label, data: line((r) => r.mean[0] - k * sd(variance(r))), borderWidth: 0, pointRadius: 0, fill: '-1', backgroundColor: color },
  ];
  const curves = Array.from({ length: Math.min(5, response.samples) }, (_, t) => ({
    label: t === 0 ? 'MC samples' : `sample ${t + 1}`, data: line((r) => r.samples[t][0]), borderColor: 'rgba(120,120,120,.55)', borderWidth: 1, pointRadius: 0,
  }));
  const datasets = [
    ...band('±2σ total', 2, (r) => r.predictiveVariance[0], 'rgba(36,86,199,.10)'),
    ...band('±2σ epistemic', 2, (r) => r.epistemicVariance[0], 'rgba(36,86,199,.18)'),
    ...band('±1σ epistemic', 1, (r) => r.epistemicVariance[0], 'rgba(36,86,199,.28)'),
    ...curves,
    { label: 'MC mean', data: line((r) => r.mean[0]), borderColor: '#2456c7', borderWidth: 2.5, pointRadius: 0 },
    { label: 'training data', type: 'scatter', data: (model.examples ?? []).map((e) => ({ x: e[0], y: e[1] })), backgroundColor: '#d9480f', pointRadius: 2.5 },
  ];
  chart('curve-chart', {
    type: 'line',
    data: { datasets },
    options: {
      parsing: false,
      scales: { x: { type: 'linear', title: { display: true, text: model.inputs[0] } }, y: { title: { display: true, text: model.outputs?.[0] ?? 'y' } } },
      plugins: { legend: { labels: { filter: (item) => !item.text.endsWith('upper') && !item.text.startsWith('sample ') } } },
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
  const example = model.examples?.[0] ?? [];
  $('row-form').replaceChildren(...model.inputs.map((name, i) => {
    const label = el('label', name);
    label.append(el('input', null, { name, type: 'number', step: 'any', value: example[i] ?? 0, required: '' }));
    return label;
  }));
}

async function predictRow() {
  const model = state.model;
  const row = Object.create(null); // keyed by feature name, whatever the names are (even "__proto__")
  for (const input of $('row-form').querySelectorAll('input')) row[input.name] = Number(input.value);
  const samples = Number($('row-samples').value);
  const response = await api(`/models/${encodeURIComponent(model.name)}/predict`, {
    method: 'POST',
    body: JSON.stringify({ inputs: [row], samples, seed: Number($('row-seed').value), returnSamples: true, intervalLevel: 0.95 }),
  });
  const p = response.predictions[0];
  const numbers = [];
  if (model.task === 'classification') {
    numbers.push(['label', p.label], ['entropy H[E p]', p.entropy.toFixed(4)], ['expected entropy E[H p]', p.expectedEntropy.toFixed(4)],
      ['mutual information', p.mutualInformation.toFixed(4)], ['variation ratio', p.variationRatio.toFixed(3)]);
    drawClasses(model, p);
  } else {
    numbers.push(['mean', p.mean[0].toFixed(3)], ['epistemic variance', p.epistemicVariance[0].toFixed(4)], ['aleatoric variance', p.aleatoricVariance[0].toFixed(4)],
      ['predictive variance', p.predictiveVariance[0].toFixed(4)], ['95% interval', `${p.interval.lower[0].toFixed(2)} – ${p.interval.upper[0].toFixed(2)}`]);
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
  $('row-caption').textContent = `Distribution of the ${values.length} MC means (epistemic spread); blue bars lie inside the 95% predictive interval ${p.interval.lower[0].toFixed(2)} – ${p.interval.upper[0].toFixed(2)}, which also includes the aleatoric noise.`;
}

// Error bars drawn over the bars: ±1 std of each class probability across the MC samples.
const errorBars = {
  id: 'errorBars',
  afterDatasetsDraw(c) {
    const std = c.config.options.plugins.errorBars?.std;
    if (!std) return;
    const meta = c.getDatasetMeta(0), y = c.scales.y, ctx = c.ctx;
    ctx.save(); ctx.strokeStyle = '#1d2430'; ctx.lineWidth = 1.5;
    meta.data.forEach((bar, i) => {
      const value = c.data.datasets[0].data[i];
      const top = y.getPixelForValue(Math.min(1, value + std[i])), bottom = y.getPixelForValue(Math.max(0, value - std[i]));
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
    const metric = job.validationMetric != null ? `, validation ${job.metricName} ${job.validationMetric.toFixed(3)}` : '';
    const eta = job.etaSeconds != null ? `, about ${Math.ceil(job.etaSeconds)} s left` : '';
    say(`Job ${id.slice(0, 8)}…: ${job.state.toLowerCase()}, epoch ${job.epoch}/${job.epochs}${metric}${eta}`, job.state === 'Failed', $('train-status'));
    $('training').dataset.state = job.state;
    if (['Succeeded', 'Failed', 'Cancelled'].includes(job.state)) {
      $('train-cancel').disabled = true;
      $('train-start').disabled = false;
      if (job.state === 'Succeeded') {
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
async function evaluate() {
  const model = state.model;
  try {
    const result = await api(`/models/${encodeURIComponent(model.name)}/evaluate`, {
      method: 'POST', body: JSON.stringify({ dataset: $('eval-dataset').value, samples: Number($('eval-samples').value) }),
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
    say(`${model.name} v${result.version} on ${result.data}: ${r.rows} rows, T = ${r.samples}.`);
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
  guarded(loadModels)();
});
