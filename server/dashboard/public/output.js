// One output's page: its text with each span coloured by the contributor it is credited to,
// the contributors' shares, the payment that bought it and the epoch that paid them.
import { el, getJson, percent, short, units } from "./format.js";

// Well-separated hues, given to the output's contributors in order of their share.
const PALETTE = [210, 28, 130, 340, 265, 55, 180, 5, 95, 300, 240, 155];
const colour = (i, alpha) => `hsla(${PALETTE[i % PALETTE.length]}, 80%, ${i < PALETTE.length ? 55 : 40}%, ${alpha})`;

const $ = (id) => document.getElementById(id);
const outputId = decodeURIComponent(location.pathname.split("/").pop() ?? "");

function facts(target, entries) {
  target.replaceChildren(
    ...entries.filter(([, v]) => v !== null && v !== undefined && v !== "").flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
  );
}

function highlight(address) {
  for (const node of document.querySelectorAll(".piece.credited")) node.classList.toggle("hl", node.dataset.contributor === address);
}

async function main() {
  $("output-id").textContent = outputId;
  let o;
  try {
    o = await getJson(`/dashboard/api/outputs/${encodeURIComponent(outputId)}`);
  } catch (e) {
    $("error").hidden = false;
    $("error").textContent = e.message;
    return;
  }
  const decimals = 6;
  const p = o.payment;
  facts($("facts"), [
    ["model", o.model],
    ["paid", p ? `${units(p.amount, decimals)} USDC (${p.status})` : null],
    ["payer", p ? el("code", {}, p.payer) : null],
    ["paid to (splitter)", p ? el("code", {}, p.payTo) : null],
    ["settlement tx", p?.txHash ? el("code", {}, p.txHash) : null],
    [
      "epoch",
      o.epoch
        ? [
            `${o.epoch.epoch} (${o.epoch.status}) `,
            el("code", {}, o.epoch.txHash ?? ""),
            ` · inclusion proof of ${o.epoch.proof.length} hashes`,
          ]
        : "not in an epoch yet",
    ],
    ["created", new Date(o.createdAt).toLocaleString("en-GB")],
  ]);

  if (o.prompt) {
    $("prompt").hidden = false;
    $("prompt-text").textContent = o.prompt;
  }
  const rows = [...o.contributors].sort((a, b) => b.ppm - a.ppm || (a.address < b.address ? -1 : 1));
  const rank = new Map(rows.map((c, i) => [c.address, i]));
  const text = $("text");
  if (!o.text) {
    text.append(
      el("p", { class: "muted" }, "This server does not publish output texts (epochs.publishTexts is off): only the record is shown."),
    );
  } else {
    text.dataset.matchesRecord = String(o.text.matchesRecord);
    text.replaceChildren(
      ...o.text.pieces.map((piece) =>
        piece.kind === "credited"
          ? el(
              "span",
              {
                class: "piece credited",
                style: `background:${colour(rank.get(piece.contributor) ?? rows.length, 0.35)}`,
                title: `${piece.contributor} · contribution #${piece.contribution} · tokens ${piece.start}–${piece.end}`,
                dataset: {
                  contributor: piece.contributor,
                  contribution: String(piece.contribution),
                  start: String(piece.start),
                  end: String(piece.end),
                },
              },
              piece.text,
            )
          : el("span", { class: `piece ${piece.kind}`, dataset: { start: String(piece.start), end: String(piece.end) } }, piece.text),
      ),
    );
  }

  $("legend")
    .querySelector("tbody")
    .replaceChildren(
      ...rows.map((c) => {
        const row = el(
          "tr",
          { dataset: { address: c.address, ppm: String(c.ppm) } },
          el("td", {}, el("span", { class: "swatch", style: `background:${colour(rank.get(c.address), 0.35)}` })),
          el("td", {}, el("code", { title: c.address }, short(c.address, 10, 6))),
          el("td", { class: "num" }, percent(c.ppm)),
          el("td", { class: "num" }, String(c.tokens)),
        );
        row.addEventListener("mouseenter", () => highlight(c.address));
        row.addEventListener("mouseleave", () => highlight(null));
        return row;
      }),
    );
  $("unattributed").textContent =
    `Unattributed: ${percent(o.unattributedPpm)} of the output's weight (goes to the model owner). ${o.outputTokens} output tokens.`;
  facts($("record"), [
    ["record hash", el("code", {}, o.recordHash)],
    ["committed on-chain in", o.payment?.txHash ? "the PaymentSettled event of the settlement (attributionRoot)" : null],
    ["algorithm", o.record.algorithm],
    [
      "parameters",
      `min span ${o.record.params.minSpanTokens} tokens, common ` +
        `knowledge above ${o.record.params.maxContributions} ` +
        `contributions, ${o.record.params.weighting}`,
    ],
    ["tokenizer", o.record.params.tokenizer],
    ["datanet indexRoot", el("code", {}, o.record.indexRoot)],
    ["text matches record", o.text ? (o.text.matchesRecord ? "yes (outputHash and token count)" : "NO") : null],
    ["raw record", el("a", { href: `/attributions/${o.outputId}` }, `/attributions/${o.outputId}`)],
  ]);
  document.body.dataset.ready = "true";
}

main();
