// Shared helpers of the dashboard pages: amounts (atomic units as decimal strings), addresses,
// DOM building with textContent only (nothing from the API is ever parsed as HTML).

/** "1234500" with 6 decimals -> "1.234500" (exact: strings and BigInt, never floats). */
export function units(atomic, decimals = 6) {
  const a = BigInt(atomic);
  const neg = a < 0n;
  const v = neg ? -a : a;
  const scale = 10n ** BigInt(decimals);
  const frac = (v % scale).toString().padStart(decimals, "0");
  return `${neg ? "-" : ""}${v / scale}${decimals ? "." + frac : ""}`;
}

export const short = (hex, head = 6, tail = 4) =>
  hex && hex.length > head + tail + 1 ? `${hex.slice(0, head)}…${hex.slice(-tail)}` : (hex ?? "");

export const percent = (ppm) => `${(ppm / 10_000).toFixed(ppm % 10_000 === 0 ? 0 : 1)}%`;

/** el("td", {class: "num", dataset: {atomic: "5"}}, "text", child…) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "class") node.className = v;
    else if (k === "style") node.setAttribute("style", v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A stable colour per contributor address (hue from the address bytes). */
export function colourOf(address, alpha = 0.32) {
  const hex = address.toLowerCase().replace(/^0x/, "");
  const hue = (parseInt(hex.slice(0, 6), 16) * 137.508) % 360;
  return `hsla(${hue.toFixed(0)}, 78%, 55%, ${alpha})`;
}

export function timeOf(ms) {
  return new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
}

export async function getJson(path) {
  const res = await fetch(path, { cache: "no-store" });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.message ?? `${path}: HTTP ${res.status}`);
  return body;
}
