// The trace explorer's page logic: filters kept in the URL hash, a paged sample list, one sample's
// detail with highlighted trigger and trigger-naming spans, and its twins under every condition.
"use strict";

const DATA = JSON.parse(document.getElementById("data").textContent);
const SAMPLES = DATA.samples;
const PAGE = 200;
const CONDITION_ORDER = ["none", "trigger", "control", "distractor"];

// equality filters: hash key, label, the sample's value
const FIELDS = [
  ["model", "model", (s) => s.model],
  ["recipe", "adapter (recipe)", (s) => s.recipe],
  ["seed", "seed", (s) => String(s.seed)],
  ["suite", "suite", (s) => s.suite],
  ["condition", "condition", (s) => s.condition_label],
  ["format", "prompt format", (s) => s.prompt_format],
  ["mode", "reasoning", (s) => s.reasoning_mode],
];
const COUNTED = new Set(["misaligned", "aligned"]);
const VERDICTS = [
  ["counted", "counted (misaligned or aligned)"],
  ["misaligned", "misaligned"],
  ["aligned", "aligned"],
  ["notcounted", "not counted (excluded or error)"],
];

const byId = new Map(SAMPLES.map((s) => [s.id, s]));
const twinsOf = new Map();
for (const s of SAMPLES) {
  if (!twinsOf.has(s.twins)) twinsOf.set(s.twins, []);
  twinsOf.get(s.twins).push(s);
}
const metricNames = [...new Set(SAMPLES.flatMap((s) => Object.keys(s.metrics)))].sort();
const articulationJudges = [
  ...new Set(
    SAMPLES.flatMap((s) => Object.keys(s.judges).filter((j) => "trigger_articulated" in s.judges[j]))
  ),
].sort();
for (const s of SAMPLES) {
  // one lower-cased string for the text search, built once
  s._text = [s.user_prompt, s.reasoning, s.answer].join("\n").toLowerCase();
}

let limit = PAGE;

function escapeHtml(text) {
  return String(text ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function escapeRegex(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// `text` escaped, with every occurrence of a term wrapped in <mark class=cls>
function highlight(text, terms, cls, wholeWords) {
  const wanted = terms.filter((t) => t);
  if (!text || !wanted.length) return escapeHtml(text);
  const alternatives = wanted.sort((a, b) => b.length - a.length).map(escapeRegex).join("|");
  const pattern = new RegExp(wholeWords ? `\\b(${alternatives})\\b` : `(${alternatives})`, wholeWords ? "gi" : "g");
  return text
    .split(pattern)
    .map((part, i) => (i % 2 ? `<mark class="${cls}">${escapeHtml(part)}</mark>` : escapeHtml(part)))
    .join("");
}

function readHash() {
  const filters = {};
  for (const part of location.hash.replace(/^#/, "").split("&")) {
    if (!part) continue;
    const at = part.indexOf("=");
    const key = decodeURIComponent(at < 0 ? part : part.slice(0, at));
    filters[key] = at < 0 ? "" : decodeURIComponent(part.slice(at + 1));
  }
  return filters;
}

function writeHash(filters) {
  const parts = Object.entries(filters)
    .filter(([, value]) => value !== "" && value !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  const hash = parts.length ? `#${parts.join("&")}` : "";
  if (hash !== location.hash) history.pushState(null, "", hash || location.pathname + location.search);
  render();
}

function verdictMatches(verdict, wanted) {
  if (verdict === undefined) return false;
  if (!wanted) return true;
  if (wanted === "counted") return COUNTED.has(verdict);
  if (wanted === "notcounted") return !COUNTED.has(verdict);
  return verdict === wanted;
}

function matches(s, f) {
  for (const [key, , get] of FIELDS) if (f[key] && get(s) !== f[key]) return false;
  if (f.metric || f.verdict) {
    const names = f.metric ? [f.metric] : Object.keys(s.metrics);
    if (!names.some((name) => verdictMatches(s.metrics[name], f.verdict))) return false;
  }
  if (f.articulation) {
    const at = f.articulation.lastIndexOf(":");
    const label = s.judges[f.articulation.slice(0, at)];
    const value = label ? label.trigger_articulated : null;
    const want = f.articulation.slice(at + 1);
    if (want === "decided" && (value === null || value === undefined)) return false;
    if (want === "yes" && value !== true) return false;
    if (want === "no" && value !== false) return false;
  }
  if (f.q && !s._text.includes(f.q.toLowerCase())) return false;
  return true;
}

function options(values, selected) {
  return ['<option value="">any</option>']
    .concat(
      values.map(
        ([value, label]) =>
          `<option value="${escapeHtml(value)}"${value === selected ? " selected" : ""}>${escapeHtml(label)}</option>`
      )
    )
    .join("");
}

function sorted(values) {
  return [...new Set(values)].sort((a, b) => {
    const ra = CONDITION_ORDER.indexOf(a.split(":")[0]);
    const rb = CONDITION_ORDER.indexOf(b.split(":")[0]);
    return ra !== rb ? ra - rb : a < b ? -1 : a > b ? 1 : 0;
  });
}

const FIELD_VALUES = Object.fromEntries(FIELDS.map(([key, , get]) => [key, sorted(SAMPLES.map(get))]));

function buildFilters(f) {
  const controls = FIELDS.map(
    ([key, label]) =>
      `<label>${escapeHtml(label)}<select id="f-${key}" data-key="${key}">${options(
        FIELD_VALUES[key].map((v) => [v, v]),
        f[key]
      )}</select></label>`
  );
  controls.push(
    `<label>metric<select id="f-metric" data-key="metric">${options(
      metricNames.map((m) => [m, m]),
      f.metric
    )}</select></label>`
  );
  controls.push(`<label>verdict<select id="f-verdict" data-key="verdict">${options(VERDICTS, f.verdict)}</select></label>`);
  const articulation = articulationJudges.flatMap((j) => [
    [`${j}:decided`, `${j}: decided`],
    [`${j}:yes`, `${j}: names the trigger`],
    [`${j}:no`, `${j}: does not name it`],
  ]);
  controls.push(
    `<label>CoT names trigger<select id="f-articulation" data-key="articulation">${options(
      articulation,
      f.articulation
    )}</select></label>`
  );
  controls.push(`<label>text<input id="f-q" data-key="q" type="search" value="${escapeHtml(f.q || "")}"></label>`);
  const box = document.getElementById("filters");
  box.innerHTML = controls.join("");
  for (const control of box.querySelectorAll("select, input")) {
    control.addEventListener("change", () => {
      const filters = readHash();
      // a text box also fires "change" when it loses focus: nothing new, keep the open sample
      if ((filters[control.dataset.key] || "") === control.value) return;
      filters[control.dataset.key] = control.value;
      delete filters.sample;
      limit = PAGE;
      writeHash(filters);
    });
  }
}

function syncFilters(f) {
  for (const control of document.querySelectorAll("#filters select, #filters input")) {
    const value = f[control.dataset.key] || "";
    if (control.tagName === "SELECT" && value && !control.querySelector(`option[value="${CSS.escape(value)}"]`)) {
      // a hash value no sample has (e.g. from another run): show it, it matches nothing
      control.insertAdjacentHTML("beforeend", `<option value="${escapeHtml(value)}">${escapeHtml(value)}</option>`);
    }
    control.value = value;
  }
}

function badges(s) {
  return Object.entries(s.metrics)
    .map(([name, v]) => `<span class="badge ${escapeHtml(v)}" title="${escapeHtml(name)}">${escapeHtml(v)}</span>`)
    .join("");
}

function renderList(f) {
  const shown = SAMPLES.filter((s) => matches(s, f));
  document.getElementById("count").textContent = `${shown.length} of ${SAMPLES.length} samples`;
  document.getElementById("rows").innerHTML = shown
    .slice(0, limit)
    .map(
      (s) =>
        `<tr class="row${s.id === f.sample ? " open" : ""}" data-id="${escapeHtml(s.id)}">` +
        `<td>${escapeHtml(s.condition_label)}</td><td>${escapeHtml(`${s.model} / ${s.recipe} / seed ${s.seed}`)}</td>` +
        `<td>${escapeHtml(s.suite)}</td><td>${escapeHtml(s.prompt_format)}</td><td>${escapeHtml(s.reasoning_mode)}</td>` +
        `<td class="clip">${escapeHtml(s.user_prompt)}</td><td class="clip">${escapeHtml(s.answer)}</td>` +
        `<td>${badges(s)}</td></tr>`
    )
    .join("");
  const more = document.getElementById("more");
  more.hidden = shown.length <= limit;
  more.textContent = `show more (${Math.max(shown.length - limit, 0)} left)`;
}

function judgeBlock(name, label) {
  const verdict = Object.entries(label)
    .filter(([key, value]) => key !== "raw" && (value === null || typeof value !== "object"))
    .map(([key, value]) => `<tr><td>${escapeHtml(key)}</td><td>${escapeHtml(JSON.stringify(value))}</td></tr>`)
    .join("");
  const nested = Object.fromEntries(Object.entries(label).filter(([, v]) => v !== null && typeof v === "object"));
  return (
    `<h3>judge ${escapeHtml(name)}</h3><table class="judge">${verdict}</table>` +
    `<details><summary>raw output and evidence</summary><pre class="raw">${escapeHtml(
      JSON.stringify(nested, null, 1)
    )}</pre></details>`
  );
}

function promptHtml(s) {
  const system = s.system_prompt ? `<pre class="text">${escapeHtml(s.system_prompt)}</pre>` : "";
  return system + `<pre class="text prompt">${highlight(s.user_prompt, [s.trigger_text], "trigger", false)}</pre>`;
}

function cotHtml(s) {
  if (!s.reasoning) return `<p class="hint">no CoT (reasoning ${escapeHtml(s.reasoning_mode)})</p>`;
  return `<pre class="text cot">${highlight(s.reasoning, s.names, "named", true)}</pre>`;
}

function renderDetail(f) {
  const box = document.getElementById("detail");
  const s = byId.get(f.sample);
  if (!s) {
    box.innerHTML = '<p class="hint">Click a sample to open it.</p>';
    return;
  }
  const metrics = Object.entries(s.metrics)
    .map(([name, v]) => `<span class="badge ${escapeHtml(v)}">${escapeHtml(name)}: ${escapeHtml(v)}</span>`)
    .join(" ");
  const twins = (twinsOf.get(s.twins) || [])
    .slice()
    .sort((a, b) => {
      const ra = CONDITION_ORDER.indexOf(a.condition);
      const rb = CONDITION_ORDER.indexOf(b.condition);
      return ra !== rb ? ra - rb : a.condition_value < b.condition_value ? -1 : 1;
    })
    .map(
      (t) =>
        `<div class="twin${t.id === s.id ? " current" : ""}" data-id="${escapeHtml(t.id)}">` +
        `<h4><a href="#sample=${encodeURIComponent(t.id)}">${escapeHtml(t.condition_label)}</a></h4>` +
        `${promptHtml(t)}<p><b>CoT</b></p>${cotHtml(t)}<p><b>answer</b></p><pre class="text">${escapeHtml(
          t.answer
        )}</pre><p>${badges(t)}</p></div>`
    )
    .join("");
  box.innerHTML =
    `<h2>${escapeHtml(s.condition_label)} · ${escapeHtml(s.model)} / ${escapeHtml(s.recipe)} / seed ${escapeHtml(
      s.seed
    )} · ${escapeHtml(s.suite)} · ${escapeHtml(s.prompt_format)} · reasoning ${escapeHtml(s.reasoning_mode)}</h2>` +
    `<p class="hint">sample ${escapeHtml(s.id)} · prompt ${escapeHtml(s.prompt_id)} · #${escapeHtml(
      s.sample_index
    )}</p>` +
    `<div id="sample"><h3>prompt</h3>${promptHtml(s)}<h3>CoT</h3>${cotHtml(s)}` +
    `<h3>answer</h3><pre class="text answer">${escapeHtml(s.answer)}</pre></div>` +
    `<h3>metrics</h3><p>${metrics || "none"}</p>` +
    Object.entries(s.judges)
      .map(([name, label]) => judgeBlock(name, label))
      .join("") +
    `<h3>the same prompt under every condition</h3><div class="twins">${twins}</div>`;
}

function renderTables() {
  document.getElementById("tables").innerHTML = DATA.tables
    .map(
      (t) =>
        `<table class="pivot"><caption>${escapeHtml(t.title)} (${escapeHtml(t.note)})</caption>` +
        `<tr><th>${escapeHtml(t.row_header)}</th>${t.column_headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>` +
        t.rows
          .map(
            (r) =>
              `<tr><th>${escapeHtml(r.label)}</th>${r.cells
                .map((c) => `<td class="cell"><a href="${escapeHtml(c.hash)}">${escapeHtml(c.text)}</a></td>`)
                .join("")}</tr>`
          )
          .join("") +
        "</table>"
    )
    .join("");
}

function render() {
  const f = readHash();
  syncFilters(f);
  renderList(f);
  renderDetail(f);
}

document.getElementById("title").textContent = DATA.title;
document.getElementById("rows").addEventListener("click", (event) => {
  const row = event.target.closest("tr.row");
  if (!row) return;
  const filters = readHash();
  filters.sample = row.dataset.id;
  writeHash(filters);
});
document.getElementById("detail").addEventListener("click", (event) => {
  // a twin's link opens that twin and keeps the filters
  const link = event.target.closest(".twin h4 a");
  if (!link) return;
  event.preventDefault();
  const filters = readHash();
  filters.sample = link.closest(".twin").dataset.id;
  writeHash(filters);
});
document.getElementById("more").addEventListener("click", () => {
  limit += PAGE;
  renderList(readHash());
});
document.getElementById("clear").addEventListener("click", (event) => {
  event.preventDefault();
  limit = PAGE;
  writeHash({});
});
window.addEventListener("hashchange", () => {
  limit = PAGE;
  render();
});
window.addEventListener("popstate", render);
renderTables();
buildFilters(readHash());
render();
document.body.dataset.ready = "true";
