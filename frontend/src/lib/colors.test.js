import { describe, expect, it } from 'vitest';
import { color } from 'd3';
import { valueScale } from './colors.js';

// The guide: "Color intensity: Energy consumption (darker = more energy)"
// and "Dark red cells = high energy". Lightness (relative luminance) must
// fall from the least to the most, ending in a dark red.
describe('valueScale', () => {
  const luminance = (c) => {
    const { r, g, b } = color(c).rgb();
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  it('is darker for more, and dark red at the top', () => {
    const s = valueScale([0, 10]);
    const ls = [0, 2.5, 5, 7.5, 10].map((v) => luminance(s(v)));
    for (let i = 1; i < ls.length; i++) expect(ls[i]).toBeLessThan(ls[i - 1]);
    const top = color(s(10)).rgb();
    expect(top.r).toBeGreaterThan(100);
    expect(top.r).toBeGreaterThan(2 * top.g);
    expect(top.r).toBeGreaterThan(2 * top.b);
    expect(luminance(s(10))).toBeLessThan(80);
  });
});
