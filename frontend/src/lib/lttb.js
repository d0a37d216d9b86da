// Largest-Triangle-Three-Buckets down-sampling (Steinarsson 2013): keeps the
// visual shape of a long series with `threshold` points, so the live power
// chart draws a few hundred points whatever the number of samples.

// lttb takes points [{x, y}] sorted by x and returns at most `threshold` of
// them, always keeping the first and the last.
export function lttb(points, threshold) {
  const n = points.length;
  if (threshold >= n || threshold < 3) return points.slice();
  const out = [points[0]];
  const every = (n - 2) / (threshold - 2);
  let a = 0;
  for (let i = 0; i < threshold - 2; i++) {
    // Average of the next bucket: the third point of the triangle.
    let avgStart = Math.floor((i + 1) * every) + 1;
    let avgEnd = Math.min(Math.floor((i + 2) * every) + 1, n);
    let avgX = 0;
    let avgY = 0;
    const avgLen = avgEnd - avgStart;
    for (let j = avgStart; j < avgEnd; j++) {
      avgX += points[j].x;
      avgY += points[j].y;
    }
    avgX /= avgLen;
    avgY /= avgLen;
    // This bucket: pick the point making the largest triangle with a and avg.
    const start = Math.floor(i * every) + 1;
    const end = Math.floor((i + 1) * every) + 1;
    const ax = points[a].x;
    const ay = points[a].y;
    let maxArea = -1;
    let next = start;
    for (let j = start; j < end; j++) {
      const area = Math.abs((ax - avgX) * (points[j].y - ay) - (ax - points[j].x) * (avgY - ay));
      if (area > maxArea) {
        maxArea = area;
        next = j;
      }
    }
    out.push(points[next]);
    a = next;
  }
  out.push(points[n - 1]);
  return out;
}

// downsample keeps gaps: points with a null y split the series into runs,
// each down-sampled in proportion to its length, and a null point is kept
// between runs so the line shows the gap.
export function downsample(points, threshold) {
  if (points.length <= threshold) return points;
  const runs = [];
  let cur = [];
  for (const p of points) {
    if (p.y == null || !Number.isFinite(p.y)) {
      if (cur.length) runs.push(cur);
      cur = [];
    } else cur.push(p);
  }
  if (cur.length) runs.push(cur);
  const defined = runs.reduce((s, r) => s + r.length, 0);
  const out = [];
  runs.forEach((r, i) => {
    if (i > 0) out.push({ x: r[0].x, y: null });
    const share = Math.max(3, Math.round((threshold * r.length) / defined));
    out.push(...lttb(r, share));
  });
  return out;
}
