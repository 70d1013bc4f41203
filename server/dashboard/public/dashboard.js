// The dashboard's main page: polls /dashboard/api/summary every second and redraws.
import { barChart, lineChart } from "./charts.js";
import { colourOf, el, getJson, percent, short, timeOf, units } from "./format.js";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);
let polls = 0;

function money(atomic, token) {
  return el("span", { dataset: { atomic: String(atomic) } }, units(atomic, token.decimals));
}

function renderModels(models, token) {
  const cards = models.map((m) => {
    const contributorBps = m.split.contributorBps;
    return el(
      "div",
      { class: "card model", dataset: { model: m.id, payto: m.payTo, price: m.price.default } },
      el("h3", {}, el("span", {}, m.id), el("span", { class: "muted" }, m.backend)),
      el("div", { class: "desc" }, m.description || ""),
      el(
        "div",
        { class: "row" },
        el("span", { class: "k" }, "price per call"),
        el("span", { class: "v price" }, money(m.price.default, token), ` ${token.symbol}`),
      ),
      el(
        "div",
        { class: "row" },
        el("span", { class: "k" }, "pricing"),
        el(
          "span",
          { class: "v muted" },
          `${units(m.price.perRequest, token.decimals)} + ` +
            `${units(m.price.perMaxToken, token.decimals)} × max_tokens (default ` +
            `${m.price.defaultMaxTokens})`,
        ),
      ),
      el(
        "div",
        { class: "row" },
        el("span", { class: "k" }, "splitter (payTo)"),
        el("code", { class: "v payto", title: m.deployed === false ? "predicted, not deployed yet" : "RoyaltySplitter" }, m.payTo),
      ),
      el(
        "div",
        { class: "splitbar", title: "where each payment goes" },
        el("span", { class: "c-contrib", style: `width:${contributorBps / 100}%` }),
        el("span", { class: "c-owner", style: `width:${m.split.ownerBps / 100}%` }),
        el("span", { class: "c-protocol", style: `width:${m.split.protocolBps / 100}%` }),
      ),
      el(
        "div",
        { class: "split-legend" },
        el("span", {}, el("i", { class: "c-contrib" }), `contributors ${contributorBps / 100}%`),
        el("span", {}, el("i", { class: "c-owner" }), `owner ${m.split.ownerBps / 100}%`),
        el("span", {}, el("i", { class: "c-protocol" }), `protocol ${m.split.protocolBps / 100}%`),
      ),
      el("div", { class: "row" }, el("span", { class: "k" }, "paid outputs"), el("span", { class: "v payments" }, String(m.payments))),
      el(
        "div",
        { class: "row" },
        el("span", { class: "k" }, "revenue"),
        el("span", { class: "v revenue" }, money(m.revenue, token), ` ${token.symbol}`),
      ),
    );
  });
  $("models").replaceChildren(...cards);
}

function renderContributors(rows, token) {
  $("contributors-empty").hidden = rows.length > 0;
  $("contributors")
    .querySelector("tbody")
    .replaceChildren(
      ...rows.map((c) =>
        el(
          "tr",
          { dataset: { address: c.address } },
          el(
            "td",
            {},
            el("span", { class: "swatch", style: `background:${colourOf(c.address, 0.85)}` }),
            " ",
            el("code", { title: c.address }, short(c.address, 10, 6)),
          ),
          el("td", { class: "num outputs" }, String(c.outputs)),
          el("td", { class: "num earned" }, money(c.earned, token)),
          el("td", { class: "num claimed" }, money(c.claimed, token)),
          el("td", { class: "num claimable" }, money(c.claimable, token)),
        ),
      ),
    );
}

function renderEpochs(epochs, token) {
  $("epochs-empty").hidden = epochs.length > 0;
  const newestFirst = [...epochs].sort((a, b) => b.createdAt - a.createdAt || b.epoch - a.epoch);
  $("epochs")
    .querySelector("tbody")
    .replaceChildren(
      ...newestFirst.map((e) =>
        el(
          "tr",
          { dataset: { splitter: e.splitter, epoch: String(e.epoch), tx: e.txHash ?? "" } },
          el("td", {}, e.model ?? short(e.splitter)),
          el("td", { class: "num" }, String(e.epoch)),
          el("td", {}, el("span", { class: `state ${e.status}` }, e.status)),
          el("td", { class: "num" }, String(e.outputs)),
          el("td", { class: "num allocated" }, money(e.cumulativeAllocated, token)),
          el(
            "td",
            { class: "tx" },
            e.txHash ? el("code", { title: e.txHash }, short(e.txHash, 10, 8)) : el("span", { class: "muted" }, "posting…"),
          ),
        ),
      ),
    );
}

function renderRecent(recent, token) {
  $("recent-empty").hidden = recent.length > 0;
  $("recent")
    .querySelector("tbody")
    .replaceChildren(
      ...recent.map((o) =>
        el(
          "tr",
          { dataset: { output: o.outputId } },
          el("td", {}, timeOf(o.at)),
          el("td", {}, el("a", { class: "output-link", href: `/outputs/${o.outputId}` }, el("code", {}, short(o.outputId, 10, 6)))),
          el("td", {}, o.model),
          el("td", { class: "num" }, money(o.amount, token)),
          el(
            "td",
            {},
            o.lead
              ? [
                  el("span", { class: "swatch", style: `background:${colourOf(o.lead.address, 0.85)}` }),
                  " ",
                  el("code", {}, short(o.lead.address)),
                  ` ${percent(o.lead.ppm)}`,
                ]
              : el("span", { class: "muted" }, "unattributed"),
          ),
          el("td", { class: "num" }, String(o.contributors)),
          el("td", {}, o.txHash ? el("code", { title: o.txHash }, short(o.txHash, 8, 6)) : "–"),
        ),
      ),
    );
}

function render(s) {
  const token = s.token;
  $("network").textContent = `${s.network} · ${token.symbol}`;
  $("block").textContent = s.blockNumber ?? "?";
  $("kpi-payments").textContent = String(s.totals.payments);
  $("kpi-revenue").textContent = units(s.totals.revenue, token.decimals);
  $("kpi-revenue").dataset.atomic = s.totals.revenue;
  $("kpi-symbol").textContent = token.symbol;
  $("kpi-contributors").textContent = String(s.totals.contributorsCredited);
  $("kpi-epochs").textContent = String(s.totals.epochs);
  $("revenue-unit").textContent = `(${token.symbol}, cumulative)`;
  renderModels(s.models, token);
  const perSecond = 1000 / s.series.bucketMs;
  barChart($("chart-rate"), s.series.points, { value: (p) => p.payments * perSecond, empty: "waiting for payments" });
  lineChart($("chart-revenue"), s.series.points, {
    value: (p) => Number(BigInt(p.cumulativeRevenue)) / 10 ** token.decimals,
    formatY: (v) => (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : String(Number(v.toFixed(3)))),
    empty: "waiting for payments",
  });
  renderContributors(s.contributors, token);
  renderEpochs(s.epochs, token);
  renderRecent(s.recent, token);
}

async function poll() {
  try {
    const summary = await getJson("/dashboard/api/summary");
    render(summary);
    polls++;
    document.body.dataset.polls = String(polls);
    document.body.dataset.payments = String(summary.totals.payments);
    $("live").className = "live on";
    $("updated").textContent = `live · ${timeOf(summary.now)}`;
  } catch (e) {
    $("live").className = "live off";
    $("updated").textContent = `offline (${e.message})`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
