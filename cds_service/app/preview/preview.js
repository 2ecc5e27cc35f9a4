// Radix card preview: renders a CDS Hooks response the way an EHR shows it, and the assessment
// as a picture. Everything shown comes from the service's answer or from what was pasted, so
// it is all untrusted text: it is only ever put into the page with textContent and attributes,
// never parsed as HTML.
"use strict";

const CES_ITEMS = {
  "urinary-retention": "Urinary retention",
  "urinary-incontinence": "Urinary incontinence",
  "faecal-incontinence": "Faecal incontinence",
  "saddle-anaesthesia": "Saddle anaesthesia",
  "sexual-dysfunction": "New sexual dysfunction",
  "bilateral-symptoms": "Symptoms in both legs",
  "anal-tone": "Anal tone",
};
// Which cauda-equina rules answer which screening item (fallback when cesScreen has no
// present/absent arrays: a documented item is present when its rule raised the flag).
const CES_RULE_ITEMS = {
  "urinary-retention": "urinary-retention",
  "post-void-residual": "urinary-retention",
  "urinary-incontinence": "urinary-incontinence",
  "faecal-incontinence": "faecal-incontinence",
  "saddle-anaesthesia": "saddle-anaesthesia",
  "sensation-saddle": "saddle-anaesthesia",
  "sexual-dysfunction": "sexual-dysfunction",
  "anal-tone": "anal-tone",
  "bilateral": "bilateral-symptoms",
};
const RED_FLAGS = {
  "cauda-equina": "Cauda equina syndrome",
  "severe-motor-deficit": "Severe motor deficit",
  "progressive-motor-deficit": "Progressive motor deficit",
  "multilevel-motor-deficit": "Multilevel motor deficit",
  "cord-compression": "Spinal cord compression",
  "malignancy": "Malignancy",
  "infection": "Infection",
  "fracture": "Fracture",
  "upper-motor-neuron": "Upper motor neuron signs",
};
const PRIMARY_OPACITY = 0.85;

// --- small DOM helpers ---------------------------------------------------------------------

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function byId(id) {
  return document.getElementById(id);
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function text(value) {
  return typeof value === "string" ? value : "";
}

// --- markdown: the subset the cards use ------------------------------------------------------
// Paragraphs, "- " bullets (nested by two spaces), **bold**, `code` and backslash escapes.
// Anything else (HTML, links, images) stays literal text.

const ESCAPABLE = /[!-/:-@[-`{-~]/;

function renderInline(source, parent) {
  let buffer = "";
  let target = parent;
  const flush = () => {
    if (buffer) target.append(document.createTextNode(buffer));
    buffer = "";
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === "\\" && i + 1 < source.length && ESCAPABLE.test(source[i + 1])) {
      buffer += source[i + 1];
      i += 2;
    } else if (c === "`") {
      const end = source.indexOf("`", i + 1);
      if (end === -1) {
        buffer += c;
        i += 1;
      } else {
        flush();
        target.append(el("code", {}, source.slice(i + 1, end)));
        i = end + 1;
      }
    } else if (source.startsWith("**", i)) {
      if (target !== parent) {
        flush();
        target = parent;
      } else if (source.indexOf("**", i + 2) !== -1) {
        flush();
        target = el("strong");
        parent.append(target);
      } else {
        buffer += "**";
      }
      i += 2;
    } else {
      buffer += c;
      i += 1;
    }
  }
  flush();
}

function renderMarkdown(source, container) {
  for (const block of source.split(/\n\s*\n/)) {
    let paragraph = null;
    const lists = []; // stack of [indent, ul]
    for (const line of block.split("\n")) {
      const bullet = /^(\s*)[-*] (.*)$/.exec(line);
      if (!bullet) {
        if (!line.trim()) continue;
        lists.length = 0;
        if (paragraph) paragraph.append(el("br"));
        else {
          paragraph = el("p");
          container.append(paragraph);
        }
        renderInline(line.trim(), paragraph);
        continue;
      }
      paragraph = null;
      const indent = bullet[1].length;
      while (lists.length && lists[lists.length - 1][0] > indent) lists.pop();
      if (!lists.length || lists[lists.length - 1][0] < indent) {
        const list = el("ul");
        const parentList = lists.length ? lists[lists.length - 1][1] : null;
        const host = parentList && parentList.lastElementChild ? parentList.lastElementChild : container;
        host.append(list);
        lists.push([indent, list]);
      }
      const item = el("li");
      renderInline(bullet[2], item);
      lists[lists.length - 1][1].append(item);
    }
  }
}

// --- cards -----------------------------------------------------------------------------------

function codeDisplay(resource) {
  const code = resource && resource.code;
  if (!code) return "";
  if (text(code.text)) return code.text;
  for (const coding of code.coding || []) if (text(coding.display)) return coding.display;
  return "";
}

// The coded display (what is ordered) and, when it says more, the order's own text.
function codeLabel(resource) {
  const code = (resource && resource.code) || {};
  const coding = (code.coding || []).find((c) => c && text(c.display)) || {};
  const display = text(coding.display);
  const own = text(code.text);
  if (display && own && own !== display) return `${display} (${own})`;
  return display || own;
}

function resourceIds(action) {
  const ids = action.resourceId;
  if (Array.isArray(ids)) return ids.filter((id) => typeof id === "string");
  return typeof ids === "string" ? [ids] : [];
}

function describeAction(action) {
  const verb = { create: "Create", update: "Update", delete: "Delete" }[action.type] || text(action.type);
  const resource = action.resource && typeof action.resource === "object" ? action.resource : null;
  const parts = [verb];
  if (resource) {
    parts.push(resource.id ? `${text(resource.resourceType)}/${text(resource.id)}` : text(resource.resourceType));
    const display = codeLabel(resource);
    if (display) parts.push(`· ${display}`);
    if (text(resource.priority)) parts.push(`· priority ${resource.priority}`);
  } else {
    parts.push(resourceIds(action).join(", "));
  }
  return el("li", { class: "action", "data-type": text(action.type), title: text(action.description) }, parts.join(" "));
}

function renderSuggestion(suggestion) {
  const button = el("button", { type: "button", class: "suggestion-button" }, text(suggestion.label));
  const state = el("span", { class: "suggestion-state" });
  button.addEventListener("click", () => {
    const chosen = button.classList.toggle("chosen");
    state.textContent = chosen ? "accepted here only: a preview sends nothing to an EHR" : "";
  });
  const box = el("div", { class: "suggestion" }, button);
  if (suggestion.isRecommended) box.append(el("span", { class: "recommended" }, "Recommended"));
  box.append(state);
  const actions = (suggestion.actions || []).map(describeAction);
  if (actions.length) box.append(el("ul", { class: "actions-list" }, ...actions));
  return box;
}

function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch (error) {
    return null;
  }
}

function renderCard(card) {
  const indicator = ["info", "warning", "critical"].includes(card.indicator) ? card.indicator : "info";
  const article = el("article", { class: `card indicator-${indicator}`, "data-indicator": text(card.indicator) });
  article.append(el("span", { class: "indicator-badge" }, text(card.indicator)));
  article.append(el("h3", { class: "card-summary" }, text(card.summary)));
  const source = card.source || {};
  const topic = source.topic && text(source.topic.display);
  article.append(el("p", { class: "card-source" }, [text(source.label), topic].filter(Boolean).join(" · ")));
  if (text(card.detail)) {
    const detail = el("div", { class: "card-detail" });
    renderMarkdown(card.detail, detail);
    article.append(detail);
  }
  const suggestions = (card.suggestions || []).map(renderSuggestion);
  if (suggestions.length) article.append(el("div", { class: "card-suggestions" }, ...suggestions));
  const links = [];
  for (const link of card.links || []) {
    const href = safeUrl(link.url);
    if (!href) continue;
    links.push(el("li", {}, el("a", { href, target: "_blank", rel: "noopener noreferrer" }, text(link.label) || href)));
  }
  if (links.length) article.append(el("ul", { class: "card-links" }, ...links));
  const reasons = (card.overrideReasons || []).map((reason) => el("li", {}, text(reason.display) || text(reason.code)));
  if (reasons.length) {
    article.append(el("details", { class: "override-reasons" }, el("summary", {}, "Override reasons"), el("ul", {}, ...reasons)));
  }
  return article;
}

function ratingOf(resource) {
  for (const extension of (resource && resource.extension) || []) {
    // The URL is moving from .../StructureDefinition/pama-rating to .../Extension/pama-rating:
    // read whichever ends with /pama-rating (and not -consult-id or -auc-applied).
    if (extension && typeof extension.url === "string" && extension.url.endsWith("/pama-rating")) {
      const coding = ((extension.valueCodeableConcept || {}).coding || [])[0] || {};
      return text(coding.code);
    }
  }
  return "";
}

function renderRatings(actions) {
  const rows = byId("rating-rows");
  clear(rows);
  let count = 0;
  for (const action of actions || []) {
    const resource = action.resource;
    const rating = ratingOf(resource);
    if (!rating) continue;
    const reference = `${text(resource.resourceType)}/${text(resource.id)}`;
    rows.append(
      el("tr", { class: "rating-row", "data-reference": reference, "data-rating": rating },
        el("td", {}, codeDisplay(resource) ? `${codeDisplay(resource)} (${reference})` : reference),
        el("td", {}, el("span", { class: `rating rating-${rating}` }, rating)),
        el("td", { class: "rating-why" }, text(action.description))));
    count += 1;
  }
  byId("ratings").hidden = count === 0;
}

// --- the assessment picture --------------------------------------------------------------------

function sidesOf(side) {
  return side === "bilateral" ? ["left", "right"] : [side];
}

function shade(root, side, kind, opacity) {
  for (const region of document.querySelectorAll(`#limbs .dermatome[data-root="${root}"]`)) {
    if (!sidesOf(side).includes(region.getAttribute("data-side"))) continue;
    if (region.getAttribute("data-shade") === "primary") continue;
    region.setAttribute("data-shade", kind);
    region.setAttribute("fill-opacity", opacity.toFixed(3));
  }
}

function percent(value) {
  return `${Math.round(Number(value) * 100)}%`;
}

function renderPicture(assessment) {
  for (const region of document.querySelectorAll("#limbs .dermatome")) {
    region.removeAttribute("data-shade");
    region.removeAttribute("fill-opacity");
  }
  for (const muscle of document.querySelectorAll("#limbs .muscle")) muscle.classList.remove("implicated");
  const caption = byId("localisation-text");
  const localisation = assessment && assessment.localisation;
  if (localisation && /^(L2|L3|L4|L5|S1)$/.test(localisation.root)) {
    shade(localisation.root, localisation.side, "primary", PRIMARY_OPACITY);
    for (const muscle of document.querySelectorAll("#limbs .muscle")) {
      const roots = (muscle.getAttribute("data-roots") || "").split(" ");
      if (roots.includes(localisation.root) && sidesOf(localisation.side).includes(muscle.getAttribute("data-side"))) {
        muscle.classList.add("implicated");
      }
    }
    const candidates = (localisation.candidates || []).filter((c) => /^(L2|L3|L4|L5|S1)$/.test(c.root));
    for (const candidate of candidates) {
      shade(candidate.root, candidate.side, "candidate", PRIMARY_OPACITY * Math.max(0, Math.min(1, Number(candidate.score) || 0)));
    }
    let line = `${localisation.side} ${localisation.root}, confidence ${percent(localisation.confidence)}`;
    if ((localisation.discLevels || []).length) line += ` · disc ${localisation.discLevels.join(" or ")}`;
    if (candidates.length) {
      line += ` · also considered: ${candidates.map((c) => `${c.side} ${c.root} ${percent(c.score)}`).join(", ")}`;
    }
    caption.textContent = line.charAt(0).toUpperCase() + line.slice(1);
  } else {
    caption.textContent = assessment ? "No nerve root localised." : "No assessment yet.";
  }
  const flags = (assessment && assessment.redFlags) || [];
  const saddle = byId("saddle");
  if (saddle) saddle.classList.toggle("flagged", flags.some((f) => f.id === "cauda-equina"));
  renderRedFlags(flags, Boolean(assessment));
  renderCesScreen(assessment);
  const disposition = byId("disposition");
  if (!assessment) {
    disposition.textContent = "";
    return;
  }
  const course = [`Disposition: ${text(assessment.disposition)}`];
  course.push(assessment.symptomWeeks === undefined ? "onset not documented" : `symptoms ${assessment.symptomWeeks} weeks`);
  course.push(assessment.conservativeCareWeeks === undefined ? "no conservative care documented" : `conservative care ${assessment.conservativeCareWeeks} weeks`);
  disposition.textContent = course.join(" · ");
}

function checkItem(id, label, status, note) {
  const marks = { present: "●", absent: "○", unknown: "?", documented: "◐", "not-found": "–" };
  return el("li", { class: `check check-${status}`, "data-item": id, "data-status": status },
    el("span", { class: "mark", "aria-hidden": "true" }, marks[status] || "·"),
    el("span", { class: "check-label" }, label),
    el("span", { class: "check-status" }, note || status));
}

function renderRedFlags(flags, assessed) {
  const list = byId("red-flags");
  clear(list);
  if (!assessed) return;
  const present = new Map(flags.map((flag) => [flag.id, flag]));
  const ids = [...Object.keys(RED_FLAGS), ...[...present.keys()].filter((id) => !(id in RED_FLAGS))];
  for (const id of ids) {
    const flag = present.get(id);
    const label = RED_FLAGS[id] || id;
    list.append(flag ? checkItem(id, label, "present", `present (${text(flag.tier)})`) : checkItem(id, label, "not-found", "not found"));
  }
}

function cesStatuses(assessment) {
  const screen = (assessment && assessment.cesScreen) || {};
  const statuses = new Map();
  const has = (name) => Array.isArray(screen[name]);
  if (has("present") || has("absent")) {
    for (const item of screen.documented || []) statuses.set(item, "documented");
    for (const name of ["present", "absent", "unknown"]) for (const item of screen[name] || []) statuses.set(item, name);
    return statuses;
  }
  // Older answers say only "documented" (either way) and "unknown"; an item whose rule raised
  // the cauda-equina flag is present.
  const raised = new Set();
  for (const flag of (assessment && assessment.redFlags) || []) {
    if (flag.id !== "cauda-equina") continue;
    for (const rule of flag.rules || []) {
      const item = CES_RULE_ITEMS[String(rule).split("/")[1]];
      if (item) raised.add(item);
    }
  }
  for (const item of screen.documented || []) statuses.set(item, raised.has(item) ? "present" : "documented");
  for (const item of screen.unknown || []) statuses.set(item, "unknown");
  return statuses;
}

function renderCesScreen(assessment) {
  const list = byId("ces-screen");
  clear(list);
  if (!assessment) return;
  const statuses = cesStatuses(assessment);
  const ids = [...Object.keys(CES_ITEMS), ...[...statuses.keys()].filter((id) => !(id in CES_ITEMS))];
  for (const id of ids) {
    const status = statuses.get(id) || "unknown";
    const note = { documented: "documented, no flag" }[status];
    list.append(checkItem(id, CES_ITEMS[id] || id, status, note));
  }
}

// --- request and answer ----------------------------------------------------------------------

function setState(state, message) {
  document.body.setAttribute("data-state", state);
  byId("status").textContent = message || "";
  if (state === "done" || state === "error") {
    // How many answers have been shown: lets a test wait for "the next one", not "any".
    const count = Number(document.body.getAttribute("data-answers") || "0") + 1;
    document.body.setAttribute("data-answers", String(count));
  }
}

function renderNotices(notices) {
  const list = byId("notices");
  clear(list);
  for (const notice of notices || []) list.append(el("li", {}, text(notice)));
  list.hidden = !list.firstChild;
}

function renderError(status, body) {
  const box = byId("error");
  clear(box);
  box.append(el("h3", {}, `The service answered ${status}`));
  const issues = body && body.resourceType === "OperationOutcome" && Array.isArray(body.issue) ? body.issue : [];
  if (!issues.length) box.append(el("p", {}, "No OperationOutcome came back."));
  for (const issue of issues) {
    box.append(el("p", { class: "issue" }, el("span", { class: "issue-code" }, `${text(issue.severity)} · ${text(issue.code)}`), " ", text(issue.diagnostics)));
  }
  box.hidden = false;
}

function resetAnswer() {
  clear(byId("cards"));
  byId("error").hidden = true;
  byId("ratings").hidden = true;
  byId("notes").hidden = true;
  byId("no-cards").hidden = true;
  byId("evaluated").hidden = true;
  renderNotices([]);
}

// --- notes: the pasted notes with the sentences the cards quote highlighted --------------------

function quotesOf(cards) {
  const quotes = new Set();
  for (const card of cards) {
    for (const match of text(card.detail).matchAll(/“([^”]+)”/g)) {
      const quote = match[1].replace(/\\(.)/g, "$1").replace(/^…|…$/g, "").trim();
      if (quote) quotes.add(quote);
    }
  }
  return [...quotes];
}

function pastedNotes(request) {
  const notes = [];
  for (const value of Object.values((request && request.prefetch) || {})) {
    for (const entry of (value && value.entry) || []) {
      const resource = entry && entry.resource;
      if (!resource || resource.resourceType !== "DocumentReference") continue;
      for (const content of resource.content || []) {
        const attachment = (content && content.attachment) || {};
        if (!text(attachment.data)) continue;
        let body = "";
        try {
          body = new TextDecoder().decode(Uint8Array.from(atob(attachment.data), (c) => c.charCodeAt(0)));
        } catch (error) {
          continue;
        }
        if (text(attachment.contentType).startsWith("text/html")) {
          // DOMParser builds an inert document: its scripts never run, its images never load.
          const doc = new DOMParser().parseFromString(body, "text/html");
          for (const node of doc.querySelectorAll("script, style, template")) node.remove();
          for (const node of doc.querySelectorAll("p, div, li, br, h1, h2, h3, h4, h5, h6, tr")) node.append(doc.createTextNode("\n"));
          body = doc.body ? doc.body.textContent : "";
        }
        notes.push({ id: `DocumentReference/${text(resource.id)}`, date: text(resource.date), body: body.replace(/\s+/g, " ").trim() });
      }
    }
  }
  return notes;
}

function renderNotes(request, cards) {
  const list = byId("note-list");
  clear(list);
  const quotes = quotesOf(cards);
  for (const note of pastedNotes(request)) {
    const spans = [];
    for (const quote of quotes) {
      const at = note.body.indexOf(quote);
      if (at !== -1) spans.push([at, at + quote.length]);
    }
    if (!spans.length) continue;
    spans.sort((a, b) => a[0] - b[0]);
    const paragraph = el("p", { class: "note-text" });
    let done = 0;
    for (const [start, end] of spans) {
      if (start < done) continue;
      paragraph.append(document.createTextNode(note.body.slice(done, start)), el("mark", {}, note.body.slice(start, end)));
      done = end;
    }
    paragraph.append(document.createTextNode(note.body.slice(done)));
    list.append(el("div", { class: "note" }, el("p", { class: "note-name" }, `${note.id} ${note.date.slice(0, 10)}`), paragraph));
  }
  byId("notes").hidden = !list.firstChild;
}

function renderAnswer(answer) {
  renderNotices(answer.notices);
  const response = answer.response || {};
  const cards = byId("cards");
  for (const card of response.cards || []) cards.append(renderCard(card));
  renderNotes(answer.request, response.cards || []);
  byId("no-cards").hidden = (response.cards || []).length > 0;
  renderRatings(response.systemActions);
  renderPicture(answer.assessment || null);
  byId("evaluated-json").textContent = JSON.stringify(answer.request, null, 2);
  byId("evaluated").hidden = false;
}

async function evaluate() {
  resetAnswer();
  setState("loading", "Evaluating…");
  let response;
  try {
    response = await fetch("/preview/evaluate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: byId("request").value,
    });
  } catch (error) {
    renderError("nothing (the service could not be reached)", null);
    setState("error");
    return;
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  if (!response.ok || !body) {
    renderPicture(null);
    renderError(`${response.status}`, body);
    setState("error");
    return;
  }
  renderAnswer(body);
  setState("done");
}

async function loadExamples() {
  const select = byId("example");
  let examples = [];
  try {
    const response = await fetch("/preview/examples");
    examples = (await response.json()).examples || [];
  } catch (error) {
    examples = [];
  }
  for (const example of examples) select.append(el("option", { value: example.id }, text(example.title)));
  const show = () => {
    const example = examples.find((e) => e.id === select.value);
    byId("example-expect").textContent = example ? `Expected: ${text(example.expect)}` : "";
    if (!example) return false;
    byId("request").value = JSON.stringify(example.request, null, 2);
    return true;
  };
  select.addEventListener("change", () => {
    if (show()) evaluate();
  });
  if (examples.length) {
    select.value = examples[0].id;
    show();
    await evaluate();
  } else {
    setState("idle");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  byId("evaluate").addEventListener("click", evaluate);
  renderPicture(null);
  loadExamples();
});
