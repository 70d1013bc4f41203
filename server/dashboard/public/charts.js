// Two small SVG charts drawn by hand: bars (payments per bucket) and a filled line (running
// revenue). Each redraw replaces the SVG's content; the viewBox is fixed and the SVG stretches.
const NS = "http://www.w3.org/2000/svg";
const W = 560;
const H = 200;
const PAD = { left: 46, right: 10, top: 10, bottom: 22 };

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A "nice" axis maximum (1, 2, 5 × 10^n) at or above `max`. */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function frame(svg, maxY, formatY, points, xLabel) {
  svg.replaceChildren();
  const plotH = H - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    svg.append(svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "axis" }));
    svg.append(svgEl("text", { x: PAD.left - 6, y: y + 3, "text-anchor": "end", class: "tick" }, formatY((maxY * i) / 4)));
  }
  if (points.length > 0) {
    const first = points[0].t;
    const last = points[points.length - 1].t;
    svg.append(svgEl("text", { x: PAD.left, y: H - 6, class: "tick" }, xLabel(first)));
    svg.append(svgEl("text", { x: W - PAD.right, y: H - 6, "text-anchor": "end", class: "tick" }, xLabel(last)));
  }
}

const clock = (ms) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false });

export function barChart(svg, points, { value, formatY = (v) => String(Math.round(v * 10) / 10), empty = "no data yet" }) {
  const values = points.map(value);
  const maxY = niceMax(Math.max(0, ...values));
  frame(svg, maxY, formatY, points, clock);
  if (values.every((v) => v === 0)) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, empty));
    return;
  }
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / values.length;
  values.forEach((v, i) => {
    if (v <= 0) return;
    const h = (plotH * v) / maxY;
    svg.append(
      svgEl(
        "rect",
        { x: PAD.left + i * slot + slot * 0.1, y: PAD.top + plotH - h, width: Math.max(1, slot * 0.8), height: h, class: "bar" },
        undefined,
      ),
    );
  });
}

export function lineChart(svg, points, { value, formatY = (v) => String(v), empty = "no data yet" }) {
  const values = points.map(value);
  const maxY = niceMax(Math.max(0, ...values));
  frame(svg, maxY, formatY, points, clock);
  if (values.length === 0 || values.every((v) => v === 0)) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, empty));
    return;
  }
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (values.length === 1 ? plotW : (plotW * i) / (values.length - 1));
  const y = (v) => PAD.top + plotH - (plotH * v) / maxY;
  const path = values.map((v, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  svg.append(
    svgEl("path", {
      d: `${path} L${x(values.length - 1).toFixed(1)},${PAD.top + plotH} L${x(0).toFixed(1)},${PAD.top + plotH} Z`,
      class: "area",
    }),
  );
  svg.append(svgEl("path", { d: path, class: "line" }));
}
