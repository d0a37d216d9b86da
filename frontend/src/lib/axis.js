// A Svelte action that draws a D3 axis into an SVG <g>: use:axis={{ scale,
// side: 'bottom' | 'left', ticks, format }}. D3 owns the axis's ticks and
// labels; Svelte owns everything else in the chart.
import { axisBottom, axisLeft, select } from 'd3';

function draw(node, { scale, side = 'bottom', ticks = 6, format = null, size = 0 }) {
  const make = side === 'left' ? axisLeft : axisBottom;
  const a = make(scale).ticks(ticks, format ?? undefined).tickSizeOuter(0);
  if (size) a.tickSizeInner(-size);
  select(node).call(a);
}

export function axis(node, params) {
  draw(node, params);
  return {
    update(p) {
      draw(node, p);
    },
  };
}
