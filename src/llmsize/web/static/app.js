// llmsize serve: the page is a view. Every number and chart comes from the JSON API (/api/view);
// this file only reads the form, calls the API, and puts the answer on the page.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("query");

function taskOf() { return $("task").value; }

// The fields of the current task: serve → infer's options, finetune/train → train's.
function activeFields() {
  const task = taskOf();
  const out = [];
  for (const set of form.querySelectorAll("fieldset[data-task]")) {
    const on = set.dataset.task.split(" ").includes(task);
    set.hidden = !on;
    set.disabled = !on;
    if (on) out.push(...set.querySelectorAll("input[name], select[name]"));
  }
  if (!$("gpu").hidden) out.push($("gpu"));
  out.push($("gpu_mem"));
  return out;
}

function readOptions() {
  const options = {};
  for (const el of activeFields()) {
    if (el.type === "checkbox") { if (el.checked) options[el.name] = true; continue; }
    const text = el.value.trim();
    if (text === "") continue;
    options[el.name] = (el.type === "number" || el.name === "zero") && /^\d+$/.test(text) ? Number(text) : text;
  }
  return options;
}

// The model: a catalog name, or the pasted config.json (an error here if it is not JSON).
function readSource() {
  if (!$("use-config").checked) return $("model").value.trim();
  try { return JSON.parse($("config").value); } catch (e) { throw new Error("config.json is not JSON: " + e.message); }
}

// URL state: ?task=…&model=…&option=value (a pasted config stays out of the URL).
function permalink(options) {
  const params = new URLSearchParams({ task: taskOf() });
  if (!$("use-config").checked) params.set("model", $("model").value.trim());
  for (const [k, v] of Object.entries(options)) params.set(k, String(v));
  return "?" + params.toString();
}

function restore() {
  const params = new URLSearchParams(location.search);
  if (params.has("task")) $("task").value = params.get("task");
  if (params.has("model")) $("model").value = params.get("model");
  for (const [k, v] of params) {
    const el = form.elements.namedItem(k);
    if (!el || k === "task" || k === "model") continue;
    if (el.type === "checkbox") el.checked = v === "true"; else el.value = v;
  }
  return params.has("model");
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function fillFits(rows) {
  const body = $("fits").querySelector("tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.gpu = r.gpu;
    tr.dataset.fits = String(r.fits);
    for (const cell of [r.name, r.text]) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    body.append(tr);
  }
}

function fillExplain(rows) {
  const body = $("explain").querySelector("tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const cell of [r.term, r.gib.toFixed(2), r.how, r.numbers, r.source, r.error_bar]) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    body.append(tr);
  }
}

// The throughput panel: the API's curve (figures.throughput) as the SVG it drew and a table of
// the same numbers; hidden when the answer has none (no GPU, or an engine without batches).
function fillThroughput(figure, svg) {
  const panel = $("throughput");
  panel.hidden = !figure;
  if (!figure) return;
  $("chart-throughput").innerHTML = svg;
  $("throughput-caption").textContent = figure.notes.join(" ");
  const [rate, tpot] = figure.lines;
  const body = panel.querySelector("tbody");
  body.replaceChildren();
  figure.xs.forEach((x, i) => {
    const tr = document.createElement("tr");
    for (const cell of [String(x), Math.round(rate.values[i]).toLocaleString("en"), tpot.values[i].toFixed(1)]) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.append(td);
    }
    body.append(tr);
  });
}

async function submit(event) {
  if (event) event.preventDefault();
  const options = readOptions();
  let source;
  try { source = readSource(); } catch (e) { showError(e.message); return; }
  const body = { task: taskOf(), source, options };
  $("submit").disabled = true;
  try {
    const response = await fetch("/api/view", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) { showError(answer.error); return; }
    showError("");
    $("verdict").textContent = answer.verdict.text;
    $("verdict").dataset.fits = String(answer.verdict.fits);
    $("verdict").dataset.totalBytes = String(answer.verdict.total_bytes);
    for (const kind of ["breakdown", "context", "batch"]) $("chart-" + kind).innerHTML = answer.charts[kind];
    fillThroughput(answer.figures.throughput, answer.charts.throughput);
    fillExplain(answer.explain);
    fillFits(answer.fit_table);
    $("command").value = answer.command;
    const link = permalink(options);
    $("permalink").href = link;
    history.replaceState(null, "", link);
  } catch (e) {
    showError("no answer from the server: " + e.message);
  } finally {
    $("submit").disabled = false;
  }
}

async function copyCommand() {
  const text = $("command").value;
  try { await navigator.clipboard.writeText(text); } catch (e) { $("command").select(); }
  $("copy").textContent = "Copied";
  setTimeout(() => { $("copy").textContent = "Copy the llmsize command"; }, 1500);
}

let searchTimer = 0;
function searchCatalog() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const q = $("model").value.trim();
    const response = await fetch("/api/catalog?q=" + encodeURIComponent(q));
    if (!response.ok) return;
    const list = $("model-list");
    list.replaceChildren();
    for (const m of (await response.json()).models.slice(0, 50)) {
      const option = document.createElement("option");
      option.value = m.name;
      option.label = m.aliases.slice(1).join(" · ") + " · " + m.model_type;
      list.append(option);
    }
  }, 150);
}

async function init() {
  const choices = await (await fetch("/api/options")).json();
  for (const select of form.querySelectorAll("select[data-choices]")) {
    for (const value of choices[select.dataset.choices]) select.add(new Option(String(value), String(value)));
  }
  for (const select of form.querySelectorAll("select[data-choices]")) {
    const value = choices.defaults[select.name];
    if (value !== undefined && value !== null) select.value = String(value);
  }
  if (choices.gpus.length) {  // the GPU catalog, when llmsize has one
    $("gpu").hidden = false;
    form.querySelector("label[for=gpu]").hidden = false;
    $("gpu").add(new Option("(only the memory below)", ""));
    for (const g of choices.gpus) $("gpu").add(new Option(g.label, g.name));
    $("gpu").value = choices.default_gpu;
  }
  const restored = restore();
  activeFields();
  form.addEventListener("submit", submit);
  $("task").addEventListener("change", activeFields);
  $("model").addEventListener("input", searchCatalog);
  $("copy").addEventListener("click", copyCommand);
  searchCatalog();
  if (restored) await submit();
  document.body.dataset.ready = "true";
}

init();
