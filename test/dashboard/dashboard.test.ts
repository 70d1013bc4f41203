/// <reference lib="dom" />
// The dashboard in a real browser (Debian's chromium driven by playwright-core) during a demo run:
// the page is opened before the agent pays and must update itself to the final figures; every
// figure shown is checked against the public API (models, epochs, contributors, the published
// epoch documents); an output's page must show its spans credited to the contributors its
// attribution record names. Screenshots go to test/artifacts/.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANNEL_CALLS, DEMO_DEFAULTS, runDemo, type DemoResult } from "../../server/cli/demo.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = resolve(import.meta.dirname, "../artifacts");
const INFERENCES = 60;
/** What the demo pays in all: its inferences, and the calls its second agent pays through a channel. */
const PAID = INFERENCES + CHANNEL_CALLS;

let browser: BrowserContext;
let page: Page;
let demo: DemoResult;
let base = "";
const userDataDir = mkdtempSync(join(tmpdir(), "r402-chromium-"));
const log: string[] = [];
const navigations: string[] = [];
let paymentsWhenOpened = "";
const errors: string[] = [];

const api = async (path: string) => {
  const res = await fetch(`${base}${path}`);
  expect(res.status, path).toBe(200);
  return (await res.json()) as any;
};

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => void (m.type() === "error" && errors.push(`console: ${m.text()}`)));
  page.on("framenavigated", (f) => void (f === page.mainFrame() && navigations.push(f.url())));
  demo = await runDemo({
    ...DEMO_DEFAULTS,
    once: false,
    port: 0,
    inferences: INFERENCES,
    concurrency: 2,
    documents: 36,
    contributors: 30,
    epochEvery: 20,
    out: { write: (s: string) => log.push(s) },
    progress: false,
    // The page opens before the first payment: what it shows later it learned by itself.
    onServing: async (url) => {
      base = url;
      await page.goto(`${url}/`);
      await page.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 1);
      paymentsWhenOpened = (await page.textContent("[data-testid=total-payments]")) ?? "";
    },
  });
}, 110_000);

afterAll(async () => {
  await browser?.close();
  await demo?.close();
  rmSync(userDataDir, { recursive: true, force: true });
});

describe("dashboard during a demo run", () => {
  it("the demo itself balanced", () => {
    expect(demo.ok, log.join("")).toBe(true);
    expect(demo.paidCalls).toBe(PAID);
  });

  it("was opened before any payment and updated itself to the final figures without reloading", async () => {
    expect(paymentsWhenOpened).toBe("0");
    await page.waitForFunction((n) => document.body.dataset.payments === String(n), PAID, { timeout: 15_000 });
    expect(await page.textContent("[data-testid=total-payments]")).toBe(String(PAID));
    expect(navigations).toEqual([`${base}/`]);
    expect(await page.getAttribute("#live", "class")).toBe("live on");
  });

  it("shows the figures the API serves: models, totals, epochs, contributors", async () => {
    // Let one more poll land after the demo's last claim.
    const polls = Number(await page.getAttribute("body", "data-polls"));
    await page.waitForFunction((p) => Number(document.body.dataset.polls) > p + 1, polls, { timeout: 10_000 });

    const models = (await api("/v1/models")).data as any[];
    const epochs = (await api("/epochs")).epochs as any[];
    const docs = await Promise.all(epochs.map((e) => api(`/epochs/${e.splitter}/${e.epoch}`)));
    const payments = docs.flatMap((d, i) => d.payments.map((p: any) => ({ ...p, model: epochs[i].model })));
    expect(payments).toHaveLength(PAID); // the demo closed every output into an epoch

    // Totals.
    const revenue = payments.reduce((s, p) => s + BigInt(p.amount), 0n);
    expect(await page.getAttribute("#kpi-revenue", "data-atomic")).toBe(revenue.toString());
    expect(await page.textContent("[data-testid=total-epochs]")).toBe(String(epochs.length));
    const credited = new Set(payments.flatMap((p) => p.record.contributors.map((c: any) => c.address)));
    expect(await page.textContent("[data-testid=total-contributors]")).toBe(String(credited.size));

    // Models: price, splitter, payments and revenue.
    expect(await page.locator(".model").count()).toBe(2);
    for (const m of models) {
      const card = page.locator(`.model[data-model="${m.id}"]`);
      expect(await card.getAttribute("data-price")).toBe(m.price.default);
      expect(await card.locator(".payto").textContent()).toBe(m.payTo);
      const mine = payments.filter((p) => p.model === m.id);
      expect(mine.length).toBeGreaterThan(0);
      expect(await card.locator(".payments").textContent()).toBe(String(mine.length));
      expect(await card.locator(".revenue [data-atomic]").getAttribute("data-atomic")).toBe(
        mine.reduce((s, p) => s + BigInt(p.amount), 0n).toString(),
      );
    }

    // Epochs: state, outputs, allocation and transaction hash of each.
    expect(epochs.length).toBeGreaterThanOrEqual(2);
    for (const e of epochs) {
      const row = page.locator(`#epochs tr[data-splitter="${e.splitter}"][data-epoch="${e.epoch}"]`);
      expect(await row.count()).toBe(1);
      expect(await row.getAttribute("data-tx")).toBe(e.txHash);
      expect(await row.locator(".tx code").getAttribute("title")).toBe(e.txHash);
      expect(await row.locator(".state").textContent()).toBe(e.status);
      expect(e.status).toBe("active");
      expect(await row.locator(".allocated [data-atomic]").getAttribute("data-atomic")).toBe(e.cumulativeAllocated);
    }

    // Top contributors: earnings and on-chain claims as GET /contributors/:address reports them.
    const rows = page.locator("#contributors tbody tr");
    expect(await rows.count()).toBe(10);
    let previous = Infinity;
    for (let i = 0; i < 10; i++) {
      const row = rows.nth(i);
      const address = (await row.getAttribute("data-address"))!;
      const c = await api(`/contributors/${address}`);
      const cell = async (name: string) => row.locator(`.${name} [data-atomic]`).getAttribute("data-atomic");
      expect(await cell("earned")).toBe(c.totals.earned);
      expect(await cell("claimed")).toBe(c.totals.claimed);
      expect(await cell("claimable")).toBe(c.totals.claimable);
      expect(c.totals.claimed).toBe(c.totals.earned); // the demo's keeper claimed for everyone
      expect(BigInt(c.totals.earned)).toBeGreaterThan(0n);
      expect(Number(c.totals.earned)).toBeLessThanOrEqual(previous); // ranked by earnings
      previous = Number(c.totals.earned);
      const outputs = payments.filter((p) => p.record.contributors.some((x: any) => x.address === address)).length;
      expect(await row.locator(".outputs").textContent()).toBe(String(outputs));
    }

    // Charts are drawn: bars for payments per second, a line for revenue.
    expect(await page.locator("#chart-rate rect.bar").count()).toBeGreaterThan(0);
    expect(await page.locator("#chart-revenue path.line").count()).toBe(1);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
  });

  it("opens an output's page: each span highlighted for the contributor its record credits", async () => {
    // An output crediting several contributors (the storyteller weaves passages).
    const rows = await page.locator("#recent tbody tr").all();
    let target: string | null = null;
    for (const row of rows) {
      const n = Number(await row.locator("td").nth(5).textContent());
      if (n >= 2) {
        target = await row.getAttribute("data-output");
        break;
      }
    }
    expect(rows.length).toBeGreaterThan(0);
    expect(target, "no recent output credits two or more contributors").not.toBeNull();
    await page.locator(`#recent tr[data-output="${target}"] a.output-link`).click();
    await page.waitForFunction(() => document.body.dataset.ready === "true");
    expect(page.url()).toBe(`${base}/outputs/${target}`);

    const attribution = await api(`/attributions/${target}`);
    const record = attribution.record;
    expect(record.contributors.length).toBeGreaterThanOrEqual(2);

    // The legend lists the record's contributors and shares.
    const legend = await page
      .locator("#legend tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [(tr as HTMLElement).dataset.address, Number((tr as HTMLElement).dataset.ppm)]));
    expect(Object.fromEntries(legend)).toEqual(Object.fromEntries(record.contributors.map((c: any) => [c.address, c.ppm])));

    // The highlighted spans: every credited token belongs to the contributor the record credits it to.
    const pieces = await page.locator("#text .piece").evaluateAll((spans) =>
      spans.map((s) => ({
        text: s.textContent ?? "",
        kind: s.className.replace("piece ", ""),
        contributor: (s as HTMLElement).dataset.contributor ?? null,
        start: Number((s as HTMLElement).dataset.start),
        end: Number((s as HTMLElement).dataset.end),
      })),
    );
    const tokensBy = new Map<string, number>();
    for (const p of pieces.filter((p) => p.kind === "credited"))
      tokensBy.set(p.contributor!, (tokensBy.get(p.contributor!) ?? 0) + p.end - p.start);
    expect(Object.fromEntries(tokensBy)).toEqual(Object.fromEntries(record.contributors.map((c: any) => [c.address, c.tokens])));
    const segments = record.spans.flatMap((s: any) => s.segments);
    // (A piece may run across adjacent segments of the same contributor: check token by token.)
    for (const p of pieces.filter((p) => p.kind === "credited")) {
      for (let t = p.start; t < p.end; t++) {
        expect(
          segments.some((g: any) => g.contributor === p.contributor && g.start <= t && t < g.end),
          `${JSON.stringify(p)} token ${t}`,
        ).toBe(true);
      }
    }
    // Pieces tile the output: in order, no gap, and their text is the published output text.
    expect(pieces[0].start).toBe(0);
    for (let i = 1; i < pieces.length; i++) expect(pieces[i].start).toBe(pieces[i - 1].end);
    expect(pieces.at(-1)!.end).toBe(record.outputTokens);
    const epochDoc = await api(`/epochs/${attribution.epoch.splitter}/${attribution.epoch.epoch}`);
    expect(pieces.map((p) => p.text).join("")).toBe(epochDoc.texts[target!].output.normalize("NFC"));
    expect(await page.getAttribute("#text", "data-matches-record")).toBe("true");

    // Colours: one per contributor, distinct, the same in the text and in the legend.
    const inText = await page
      .locator("#text .piece.credited")
      .evaluateAll((spans) => [
        ...new Set(spans.map((s) => `${(s as HTMLElement).dataset.contributor}=${getComputedStyle(s).backgroundColor}`)),
      ]);
    const inLegend = await page
      .locator("#legend tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => `${(tr as HTMLElement).dataset.address}=${getComputedStyle(tr.querySelector(".swatch")!).backgroundColor}`),
      );
    expect(inText.sort()).toEqual([...inLegend].sort());
    expect(new Set(inLegend.map((c) => c.split("=")[1])).size).toBe(record.contributors.length);
    expect(await page.textContent("#facts")).toContain(attribution.payment.txHash);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-output.png"), fullPage: true });
  });
});
