// Colours: domain lines use the seed's CSS variables; value scales run from
// light yellow to dark red (ColorBrewer YlOrRd: lightness falls steadily, so
// it reads in greyscale and with colour-vision deficiency), so that, as the
// guide says, darker means more and the hotspots are the dark red cells;
// runs in a comparison use the Okabe–Ito palette.
import { color as d3color, interpolateYlOrRd, scaleSequential } from 'd3';

export function domainColor(family) {
  return `var(--${['cpu', 'gpu', 'ane', 'dram', 'total', 'package'].includes(family) ? family : 'other'})`;
}

export function valueScale(extent) {
  const [lo, hi] = extent ?? [0, 1];
  return scaleSequential(interpolateYlOrRd).domain(lo === hi ? [lo - 1e-12, hi + 1e-12] : [lo, hi]);
}

// Text colour readable on a cell of the value scale.
export function textOn(color) {
  const c = d3color(color)?.rgb();
  if (!c) return '#000';
  return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b > 140 ? '#000' : '#fff';
}

export const RUN_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7'];

// seriesColor is the i-th category colour (models in the trade-off view).
export const SERIES_COUNT = 8;
export function seriesColor(i) {
  return `var(--series-${((i % SERIES_COUNT) + SERIES_COUNT) % SERIES_COUNT})`;
}
