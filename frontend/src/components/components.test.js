import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, fireEvent, waitFor } from '@testing-library/svelte';

afterEach(cleanup);
import { makeRecord, health } from '../lib/fixtures/record.js';
import { powerSeriesFromSamples, tokenRows } from '../lib/transforms.js';
import { fmtCO2, fmtCostPerRun, fmtUSD, fmtValue } from '../lib/format.js';
import SummaryCards from './SummaryCards.svelte';
import PowerTimeline from './PowerTimeline.svelte';
import MetricHeatmap from './MetricHeatmap.svelte';
import TokenStream from './TokenStream.svelte';
import SourceBanner from './SourceBanner.svelte';
import RunView from '../views/RunView.svelte';

// jsdom has no layout, so no ResizeObserver (bind:clientWidth needs one):
// charts keep their default width.
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
};

describe('SummaryCards', () => {
  // Net energy at or below 0, or within the run's noise bound, is idle
  // noise: "≈0 (within idle noise)" with the reason, never a negative number.
  it('shows a net energy within idle noise as ≈0 with the reason', () => {
    const within = makeRecord().summary;
    within.net_energy_j = { value: -0.42, unit: 'J', label: 'measured rapl' };
    within.net_joules_per_output_token = { value: -0.01, unit: 'J/token', label: 'measured rapl' };
    within.net_noise_j = { value: 0.9, unit: 'J', label: 'measured rapl' };
    within.net_within_noise = true;
    const { container, unmount } = render(SummaryCards, { summary: within });
    const net = screen.getByText('Net energy (above idle)').parentElement;
    expect(net.textContent).toContain('≈0');
    expect(net.textContent).toContain('within idle noise');
    expect(net.textContent).not.toMatch(/-\s*0?\.42|−/);
    expect(screen.getByText('Net J / output token').parentElement.textContent).toContain('≈0');
    expect(container.querySelector('.noise-note').textContent).toMatch(/did not draw measurably more than the machine at rest/);
    unmount();
    // An old run without the flag: a positive net stays a number, a
    // negative one is still ≈0.
    const clear = makeRecord().summary;
    clear.net_energy_j = { value: 3.5, unit: 'J', label: 'measured rapl' };
    clear.net_joules_per_output_token = { value: -0.2, unit: 'J/token', label: 'measured rapl' };
    render(SummaryCards, { summary: clear });
    expect(screen.getByText('Net energy (above idle)').parentElement.textContent).toMatch(/3\.5\d* J/);
    expect(screen.getByText('Net J / output token').parentElement.textContent).toContain('≈0');
  });
  it('labels every number and shows unavailable instead of 0', () => {
    render(SummaryCards, { summary: makeRecord({ energy: false }).summary });
    const total = screen.getByText('Total energy (gross)').parentElement;
    expect(total.textContent).toContain('unavailable');
    expect(total.textContent).not.toMatch(/\b0 J/);
  });
  it('recomputes cost and CO₂ per run and per million output tokens for the chosen grid and price', async () => {
    const s = makeRecord().summary;
    render(SummaryCards, { summary: s });
    const money = screen.getByLabelText('cost and CO₂');
    const card = (name) => [...money.querySelectorAll('.card')].find((c) => c.textContent.includes(name));
    await fireEvent.change(screen.getByLabelText('grid region preset'), { target: { value: 'california' } });
    const kwh = s.total_energy_j.value / 3.6e6;
    expect(card('CO₂ per run').textContent).toContain(fmtCO2(kwh * 200));
    expect(card('CO₂ per run').textContent).toContain('California grid 200 g/kWh');
    expect(card('CO₂ per million output tokens').textContent).toContain(fmtCO2((kwh * 200 * 1e6) / s.output_tokens));
    const price = screen.getByLabelText('electricity price in USD per kWh');
    await fireEvent.input(price, { target: { value: '0.3' } });
    await fireEvent.change(price, { target: { value: '0.3' } });
    expect(card('Cost per million output tokens').textContent).toContain(fmtUSD((kwh * 0.3 * 1e6) / s.output_tokens));
    expect(card('Cost per run').textContent).toContain(fmtCostPerRun(kwh * 0.3));
    expect(money.textContent).not.toMatch(/e-\d/); // no 1.45e-7 USD
    await fireEvent.click(screen.getByText("back to the run's settings"));
    expect(card('CO₂ per run').textContent).toContain('US average grid 400 g/kWh');
  });
  it('shows ± on a measured total and not on an apportioned one whose bound is loose', () => {
    const s = makeRecord().summary;
    s.total_energy_j.label = 'measured rapl';
    s.energy.total.uncertainty_j = 0.01 * s.total_energy_j.value;
    const { unmount } = render(SummaryCards, { summary: s });
    expect(screen.getByText('Total energy (gross)').parentElement.textContent).toContain('±');
    unmount();
    const a = makeRecord().summary; // apportioned, bound 5% of the value: tight
    a.energy.total.uncertainty_j = 2 * a.total_energy_j.value; // loose
    render(SummaryCards, { summary: a });
    const total = screen.getByText('Total energy (gross)').parentElement.textContent;
    expect(total).not.toContain('±');
    expect(total).toContain('apportioned by time share');
  });
});

describe('PowerTimeline', () => {
  it('draws present domains, dashes estimates and explains absent ones', () => {
    const power = powerSeriesFromSamples(makeRecord({ source: 'cpu-load' }).power_samples);
    const { container } = render(PowerTimeline, { power, sources: [{ name: 'cpu-load', kind: 'estimated', domains: ['cpu'] }] });
    const cpu = container.querySelector('path[data-series="cpu"]');
    expect(cpu).not.toBeNull();
    expect(cpu.getAttribute('stroke-dasharray')).toBe('6 4');
    expect(container.querySelector('path[data-series="gpu"]')).toBeNull();
    const legend = screen.getByLabelText('legend').textContent;
    expect(legend).toMatch(/GPU\s*not drawn: not reported by cpu-load/);
    expect(legend).toMatch(/ANE\s*not drawn/);
    expect(legend).toContain('estimated cpu-load');
  });
  it('shows an empty state without samples', () => {
    render(PowerTimeline, { power: { series: {}, total: { points: [] } } });
    expect(screen.getByText('No power samples yet.')).toBeTruthy();
  });
});

describe('MetricHeatmap', () => {
  it('disables entropy on a module run, switches metrics and drills into a cell', async () => {
    const rec = makeRecord({ depth: 'module', layers: 2 });
    const { container } = render(MetricHeatmap, { record: rec });
    const opt = screen.getByRole('option', { name: /Attention entropy/ });
    expect(opt.disabled).toBe(true);
    expect(container.textContent).toMatch(/deep runs only/);
    await fireEvent.change(screen.getByRole('combobox'), { target: { value: 'energy' } });
    const cell = container.querySelector('rect[data-layer="1"][data-component="q_proj"]');
    expect(cell.getAttribute('aria-label')).toMatch(/layer 1, q_proj: [\d.]+ [µm]?J/);
    await fireEvent.click(cell);
    expect(screen.getByText('layer 1 · q_proj')).toBeTruthy();
    expect(container.textContent).toMatch(/Recorded only with depth "deep"/);
  });
  it('moves with the arrow keys and selects with Enter', async () => {
    const { container } = render(MetricHeatmap, { record: makeRecord({ depth: 'deep' }) });
    const grid = screen.getByRole('grid');
    await fireEvent.keyDown(grid, { key: 'ArrowRight' });
    await fireEvent.keyDown(grid, { key: 'ArrowDown' });
    await fireEvent.keyDown(grid, { key: 'Enter' });
    expect(screen.getByText('layer 1 · q_proj')).toBeTruthy();
    expect(container.querySelector('rect.sel').dataset.component).toBe('q_proj');
  });
});

describe('TokenStream', () => {
  it('shows a hover card with time, energy and power; unavailable energy is not 0', async () => {
    const tokens = tokenRows(makeRecord({ energy: false, tokens: 3 }));
    const { container } = render(TokenStream, { tokens });
    const tok = container.querySelector('[data-index="1"]');
    await fireEvent.mouseEnter(tok);
    const card = screen.getByRole('tooltip').textContent;
    expect(card).toMatch(/energy: unavailable/);
    expect(card).toMatch(/power: unavailable/);
    expect(card).toMatch(/time: [\d.]+ [µm]?s/);
  });
});

describe('SourceBanner', () => {
  it('shows the fixes when no measured source is available', () => {
    render(SourceBanner, { health });
    const b = screen.getByRole('status').textContent;
    expect(b).toMatch(/No measured power source/);
    expect(b).toContain('sudo energyprofiler doctor --fix-rapl');
    expect(b).not.toContain('ioreport'); // a source for another OS is not a fix
  });
  it('is hidden when a measured source is available', () => {
    const h = { ...health, power_sources: [{ ...health.power_sources[0], available: true }] };
    const { container } = render(SourceBanner, { health: h });
    expect(container.textContent.trim()).toBe('');
  });
});

describe('RunView', () => {
  it('renders a loaded run and an error state', async () => {
    const rec = makeRecord({ id: 'r1' });
    render(RunView, { id: 'r1', load: vi.fn().mockResolvedValue(rec) });
    expect(screen.getByText(/Loading run/)).toBeTruthy();
    await waitFor(() => expect(screen.getByText('Export CSV')).toBeTruthy());
    expect(screen.getByText('Export Perfetto').getAttribute('href')).toBe('/api/profiling/export/r1?format=perfetto');
  });
  it('shows a chat run\'s rendered prompt beside the raw one', async () => {
    const rec = makeRecord({ id: 'r2' });
    rec.run.prompt = 'What is 2+2?';
    rec.run.settings.chat = { template: 'tokenizer_config.json', rendered_prompt: '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n', stop_tokens: ['<|im_end|>'] };
    const { container } = render(RunView, { id: 'r2', load: vi.fn().mockResolvedValue(rec) });
    await waitFor(() => expect(screen.getByText('Export CSV')).toBeTruthy());
    expect(container.querySelector('.prompt').textContent).toBe('“What is 2+2?”');
    expect(screen.getByLabelText('the prompt as the model received it').textContent).toBe(rec.run.settings.chat.rendered_prompt);
    expect(container.querySelector('.chat summary').textContent).toContain('tokenizer_config.json');
  });
  it('says when the run does not exist', async () => {
    const err = Object.assign(new Error('not found'), { status: 404 });
    render(RunView, { id: 'nope', load: vi.fn().mockRejectedValue(err) });
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/no such run/));
  });
});

import HistoryView from '../views/HistoryView.svelte';
import TokenSlider from './TokenSlider.svelte';
import { runsPage } from '../lib/fixtures/record.js';

describe('HistoryView', () => {
  it('lists runs, shows unavailable numbers as such, and asks the server to sort and search', async () => {
    const list = vi.fn().mockResolvedValue(runsPage);
    const { container } = render(HistoryView, { list, models: vi.fn().mockResolvedValue({ models: [] }) });
    await waitFor(() => expect(container.querySelectorAll('tbody tr')).toHaveLength(3));
    const b = container.querySelector('tr[data-run="run-b"]').textContent;
    expect(b).toContain('unavailable');
    expect(b).not.toMatch(/\b0 J/);
    await fireEvent.click(screen.getByRole('button', { name: /^Energy/ }));
    await waitFor(() => expect(list).toHaveBeenLastCalledWith(expect.objectContaining({ sort: 'energy', order: 'desc', offset: 0 })));
    await fireEvent.input(screen.getByLabelText('Search prompts'), { target: { value: 'fox' } });
    await waitFor(() => expect(list).toHaveBeenLastCalledWith(expect.objectContaining({ search: 'fox' })));
    // Compare needs 2–4 selected runs.
    const link = screen.getByText('Compare selected (2–4)');
    expect(link.getAttribute('href')).toBeNull();
    const boxes = container.querySelectorAll('tbody input[type=checkbox]');
    await fireEvent.click(boxes[0]);
    await fireEvent.click(boxes[1]);
    expect(link.getAttribute('href')).toBe('#/compare?ids=run-a,run-b');
  });
  it('shows the error state', async () => {
    render(HistoryView, { list: vi.fn().mockRejectedValue(new Error('database locked')), models: vi.fn().mockResolvedValue({ models: [] }) });
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('database locked'));
  });
});

describe('TokenSlider', () => {
  it('steps through tokens and back to all', async () => {
    const tokens = tokenRows(makeRecord({ tokens: 4 }));
    const { container } = render(TokenSlider, { tokens });
    const range = screen.getByRole('slider');
    expect(container.textContent).toContain('all tokens');
    await fireEvent.input(range, { target: { value: '2' } });
    expect(container.querySelector('.pos').textContent).toMatch(/token 2 \/ 3/);
    await fireEvent.click(screen.getByText('show all'));
    expect(container.querySelector('.pos').textContent).toContain('all tokens');
  });
});

import TradeoffChart from './TradeoffChart.svelte';
import CompareView from './CompareView.svelte';
import AnalysisView from '../views/AnalysisView.svelte';
import { comparison as cmpFixture } from '../lib/fixtures/record.js';
import { edpLevels, paretoFrontier, tradeoffPoints } from '../lib/tradeoff.js';

describe('TradeoffChart', () => {
  const runs = [
    { id: 'fast', model_name: 'a', backend: 'cpu-avx512 x2', dtype: 'BF16', tokens_per_second: 100, tokens_per_joule: 2 },
    { id: 'frugal', model_name: 'b', backend: 'cpu-avx2 x2', dtype: 'Q4_K', tokens_per_second: 20, tokens_per_joule: 9 },
    { id: 'dominated', model_name: 'a', backend: 'cpu-avx512 x2', dtype: 'BF16', tokens_per_second: 15, tokens_per_joule: 1.5 },
  ];
  it('marks the Pareto frontier, draws EDP iso-lines and opens a run on click', async () => {
    const points = tradeoffPoints(runs);
    const opened = [];
    const { container } = render(TradeoffChart, { points, frontier: paretoFrontier(points), levels: edpLevels(points), onopen: (id) => opened.push(id) });
    const marks = container.querySelectorAll('g.run');
    expect(marks.length).toBe(3);
    expect(container.querySelector('g.run[data-run="fast"]').getAttribute('aria-label')).toContain('on the Pareto frontier');
    expect(container.querySelector('g.run[data-run="dominated"]').getAttribute('aria-label')).not.toContain('frontier');
    expect(container.querySelectorAll('path.iso').length).toBeGreaterThan(0);
    expect(container.querySelector('path.frontier')).not.toBeNull();
    // Shapes differ by backend; axes come from D3.
    const shape = (id) => container.querySelector(`g.run[data-run="${id}"] path.mark`).getAttribute('d');
    expect(shape('fast')).not.toBe(shape('frugal'));
    expect(container.querySelectorAll('g.axis .tick').length).toBeGreaterThan(2);
    await fireEvent.click(container.querySelector('g.run[data-run="frugal"]'));
    expect(opened).toEqual(['frugal']);
  });
  it('names each iso-line off the line: at the bottom, right of where it meets the axis', () => {
    // jsdom lays nothing out: give the chart the width a browser would.
    const width = Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'clientWidth');
    Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 760 });
    try {
      const points = tradeoffPoints(runs);
      const { container } = render(TradeoffChart, { points, frontier: paretoFrontier(points), levels: edpLevels(points) });
      const bottom = [...container.querySelectorAll('text.iso-label[data-exit="bottom"]')];
      expect(bottom.length).toBeGreaterThan(0);
      for (const label of bottom) {
        // The line reaches the axis from the upper left: a label that starts
        // right of that point (or ends 56 px past it) is off the line.
        const exitX = Number(label.getAttribute('data-exit-x'));
        const x = Number(label.getAttribute('x'));
        if (label.getAttribute('text-anchor') === 'start') expect(x).toBeGreaterThan(exitX);
        else expect(x - 56).toBeGreaterThan(exitX);
      }
    } finally {
      if (width) Object.defineProperty(HTMLElement.prototype, 'clientWidth', width);
      else delete HTMLElement.prototype.clientWidth; // back to Element's
    }
  });
});

describe('CompareView', () => {
  it('warns when the arms ran under different conditions', () => {
    const rec = makeRecord();
    render(CompareView, { comparison: { ...cmpFixture, warnings: ['A ran on mains, B on battery'] }, arms: [{ label: 'A', records: [rec] }, { label: 'B', records: [rec, rec] }] });
    expect(screen.getByRole('alert').textContent).toContain('A ran on mains, B on battery');
    expect(screen.getByText('Statistics')).toBeTruthy();
  });
  // Net J per output token reads ≈0 where it is idle noise: a negative
  // mean, or an arm whose runs' net energy was all within its noise bound;
  // a clear one keeps its number and ratio.
  it('shows net figures within idle noise as ≈0', () => {
    const noisy = makeRecord();
    noisy.summary = { ...noisy.summary, net_within_noise: true };
    const clear = makeRecord();
    const cmp = structuredClone(cmpFixture);
    cmp.metrics = ['net_joules_per_output_token'];
    cmp.groups[0].metrics.net_joules_per_output_token = { n: 1, mean: 0.002, normalized: 1, unit: 'J/token', label: 'measured rapl' };
    cmp.groups[1].metrics.net_joules_per_output_token = { n: 1, mean: 0.03, normalized: 15, unit: 'J/token', label: 'measured rapl' };
    const { container, unmount } = render(CompareView, { comparison: cmp, arms: [{ label: 'A', records: [noisy] }, { label: 'B', records: [clear] }] });
    const cells = [...container.querySelectorAll('table.stats tbody tr')[0].querySelectorAll('td')].map((td) => td.textContent);
    expect(cells[0]).toContain('≈0 (within idle noise)');
    expect(cells[0]).not.toContain('×1');
    expect(cells[1]).toMatch(/0\.03 J\/token/);
    expect(cells[1]).toContain('×15');
    unmount();
    cmp.groups[1].metrics.net_joules_per_output_token.mean = -0.01;
    render(CompareView, { comparison: cmp, arms: [{ label: 'A', records: [clear] }, { label: 'B', records: [clear] }] });
    const row = screen.getAllByText('≈0 (within idle noise)');
    expect(row.length).toBe(1);
  });
  // Power is piecewise constant, as the profiler integrates it: the total
  // power path has only horizontal and vertical segments, one level per
  // sample (three samples at 10, 30 and 20 W), never a slope between them.
  it('draws total power as steps', () => {
    const rec = makeRecord();
    rec.power_samples = [
      { t0_ns: 0, t1_ns: 1e9, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 10_000 } } },
      { t0_ns: 1e9, t1_ns: 2e9, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 30_000 } } },
      { t0_ns: 2e9, t1_ns: 4e9, source: 'rapl', kind: 'measured_counter', domains: { package: { has_energy: true, energy_mj: 40_000 } } },
    ];
    rec.summary = { ...rec.summary, run_start_ns: 0, run_end_ns: 4e9 };
    const { container } = render(CompareView, { comparison: cmpFixture, arms: [{ label: 'A', records: [rec] }, { label: 'B', records: [rec] }] });
    const path = container.querySelector('svg[aria-label="total power per run"] path[data-series="0-0"]');
    const pts = path.getAttribute('d').replace(/^M/, '').split('L').map((p) => p.split(',').map(Number));
    for (let i = 1; i < pts.length; i++) {
      const [[x0, y0], [x1, y1]] = [pts[i - 1], pts[i]];
      expect(x0 === x1 || y0 === y1, `segment ${i}: (${x0},${y0}) → (${x1},${y1})`).toBe(true);
    }
    const levels = [...new Set(pts.map((p) => p[1]))];
    expect(levels.length).toBe(3);
    // Each level lasts as long as its sample: 1 s, 1 s and 2 s.
    const xs = [...new Set(pts.map((p) => p[0]))];
    expect(xs.length).toBe(4);
    expect((xs[3] - xs[2]) / (xs[1] - xs[0])).toBeCloseTo(2, 6);
  });
});

describe('AnalysisView', () => {
  it('opens the latest finished run and offers the others', async () => {
    const list = vi.fn(async () => ({ runs: [{ id: 'run-new', status: 'running', model_name: 'm', prompt: 'p' }, { id: 'run-a', status: 'completed', model_name: 'm', prompt: 'q' }], total: 2 }));
    render(AnalysisView, { list });
    const picker = await screen.findByLabelText('run to analyse');
    expect(picker.value).toBe('run-a');
    expect(picker.querySelectorAll('option').length).toBe(2);
  });
});
