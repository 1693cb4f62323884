// Atomo admin UI (issue 19, "Admin UI at /_/"): the main module.
//
// README. There is no build step: index.html, admin.js, api.js and admin.css in atomo/http/static/admin/
// are both the source and the shipped assets (served by atomo/http/admin_ui.py, packaged in the wheel and
// the PyInstaller binary as they are), so "the shipped bundle matches the source" holds by construction.
// Nothing is loaded from elsewhere (no CDN): the page works offline against its own server.
// Rules: the DOM is built with createElement/textContent (never innerHTML with data); the app talks to the
// public API only (/auth/*, /meta/schema, /graphql, the admin routes of /jobs/*) with the admin's token (api.js).
// Screens: log-in (admins only), models (with counts), a model's records (filter with a `where` JSON,
// click-to-sort, 50 per page, deleted rows), a record (its fields, rendered blocks and history timeline with
// diffs; delete / restore / hard delete), the create and edit forms (generated from the field types, with the
// server's validation details next to the fields). The records table and the record view follow
// modelChanges(model) over /graphql/ws and refresh (at most every 500 ms) when the model changes.
// Operations (header nav): Events (the latest 200 events of the log, live: one modelChanges per model on one
// socket), Jobs (per-queue counts, recent jobs by status/queue, a job's detail, retry of dead/cancelled jobs),
// Workers (create: the token is shown once; revoke) and Users (/auth/users: search, create, role, deactivate).

import { ApiError, gql, live, request, session } from "./api.js";

const BASE = "/_/";
const PAGE = 50;
const app = document.getElementById("app");
let me = null;        // GET /auth/me of the logged-in admin
let schema = null;    // GET /meta/schema
let rendering = 0;    // the latest render; older ones stop writing
let stopLive = null;  // closes the live subscription of the current screen

// ---------------------------------------------------------------------------------------------- DOM

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value" || key === "checked") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function link(path, ...children) {
  return h("a", {
    href: path,
    onclick: (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      go(path);
    },
  }, ...children);
}

function go(path, replace = false) {
  history[replace ? "replaceState" : "pushState"](null, "", path);
  render();
}

window.addEventListener("popstate", () => render());

const modelPath = (model) => `${BASE}models/${encodeURIComponent(model)}`;
const recordPath = (model, id) => `${modelPath(model)}/${encodeURIComponent(id)}`;

function shorten(text, max = 80) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function cell(field, value) {
  if (value === null || value === undefined) return h("span", { class: "null" }, "—");
  if (field && field.type === "blocks" && Array.isArray(value)) {
    return h("span", { class: "muted" }, `${value.length} block${value.length === 1 ? "" : "s"}`);
  }
  const text = typeof value === "string" ? value : Array.isArray(value) && value.length && value.every((v) => typeof v !== "object")
    ? value.join(", ") : JSON.stringify(value);
  return text.length > 80 ? h("span", { title: shorten(text, 1000) }, shorten(text)) : text;
}

function pretty(value) {
  if (value === null || value === undefined) return h("span", { class: "null" }, "—");
  if (typeof value === "object") return h("pre", null, JSON.stringify(value, null, 2));
  return String(value);
}

function when(iso) {
  const date = new Date(iso);
  return h("time", { datetime: iso, title: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

// -------------------------------------------------------------------------------------------- session

function unwatch() {
  if (stopLive) stopLive();
  stopLive = null;
}

// refresh the screen when `model` changes: coalesced, at most once per 500 ms
function watch(model, refresh) {
  let last = 0;
  let timer = null;
  const close = live(model, () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      refresh().catch((error) => { if (error instanceof ApiError && error.unauthenticated) ended(); });
    }, Math.max(0, last + 500 - Date.now()));
  }, (on) => { app.dataset.live = on ? "on" : "off"; });
  stopLive = () => {
    clearTimeout(timer);
    close();
  };
}

function ended() {
  dropSession();
  showLogin("Your session ended: log in again.");
}

function dropSession() {
  unwatch();
  session.token = null;
  me = null;
  schema = null;
}

async function logout() {
  const token = session.token;
  dropSession();
  if (token) request("POST", "/auth/logout", {}, token).catch(() => {});
  go(BASE);
}

function showLogin(message = "") {
  const email = h("input", { name: "email", type: "email", required: true, autocomplete: "username", placeholder: "email" });
  const password = h("input", { name: "password", type: "password", required: true, autocomplete: "current-password",
    placeholder: "password" });
  const button = h("button", { type: "submit" }, "Log in");
  const status = h("p", { id: "login-status", class: message ? "status error" : "status", role: "alert" }, message);
  const form = h("form", { id: "login", class: "login", method: "post", action: "/auth/login" },
    h("h1", null, "Atomo admin"),
    h("label", null, "Email", email), h("label", null, "Password", password), button, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.className = "status";
    status.textContent = "Logging in…";
    try {
      const answer = await request("POST", "/auth/login", { email: email.value, password: password.value }, null);
      const who = await request("GET", "/auth/me", undefined, answer.token);
      password.value = "";
      if (who.role !== "admin") {            // drop the token (and end that session on the server)
        request("POST", "/auth/logout", {}, answer.token).catch(() => {});
        status.className = "status error";
        status.textContent = "admin role required";
        return;
      }
      session.token = answer.token;
      me = who;
      render();
    } catch (error) {
      status.className = "status error";
      status.textContent = `Log-in failed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  app.replaceChildren(form);
  email.focus();
}

function header() {
  const here = location.pathname.slice(BASE.length).split("/")[0] || "models";
  const items = [link(BASE, h("strong", null, "Atomo admin")), h("nav", { id: "nav", class: "nav" },
    [["models", "Models"], ["events", "Events"], ["jobs", "Jobs"], ["workers", "Workers"], ["users", "Users"]].map(([key, label]) =>
      link(key === "models" ? BASE : `${BASE}${key}`, h("span", { "data-nav": key, "aria-current": key === here ? "page" : null }, label))))];
  if (me.tenant_id === null || me.tenant_id === undefined) {
    const input = h("input", { id: "tenant", name: "tenant", placeholder: "all tenants", value: session.tenant,
      "aria-label": "Tenant (X-Tenant-ID)" });
    const form = h("form", { id: "tenant-form", class: "tenant" }, h("label", null, "Tenant ", input),
      h("button", { type: "submit" }, "Switch"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      session.tenant = input.value.trim();
      render();
    });
    items.push(form);
  } else {
    items.push(h("span", { class: "tenant" }, `Tenant ${me.tenant_id}`));
  }
  items.push(h("span", { id: "who", class: "who" }, `${me.email} (${me.role})`),
    h("button", { id: "logout", type: "button", onclick: logout }, "Log out"));
  return h("header", { class: "bar" }, items);
}

// -------------------------------------------------------------------------------------------- screens

async function modelsScreen(main) {
  const models = schema.models;
  const counts = {};
  if (models.length) {
    const vars = models.map((_, i) => `$m${i}: String!`).join(", ");
    const fields = models.map((_, i) => `m${i}: count(model: $m${i})`).join(" ");
    const variables = Object.fromEntries(models.map((m, i) => [`m${i}`, m.name]));
    try {
      const data = await gql(`query Counts(${vars}) { ${fields} }`, variables);
      models.forEach((m, i) => { counts[m.name] = data[`m${i}`]; });
    } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) throw error;
    }
  }
  main.replaceChildren(h("h2", null, "Models"), h("ul", { id: "models", class: "models" },
    models.map((m) => h("li", { "data-model": m.name }, link(modelPath(m.name), m.name),
      h("span", { class: "muted" }, ` ${m.fields.filter((f) => !f.system).length} fields`,
        m.name in counts ? ` · ${counts[m.name]} records` : "")))));
}

function columnsOf(model, deleted) {
  const columns = model.fields.filter((f) => f.name === "id" || !f.system);
  columns.push(model.fields.find((f) => f.name === (deleted ? "deletedAt" : "updatedAt")));
  return columns.filter(Boolean);
}

const UNSORTABLE = new Set(["blocks", "json", "array"]);

async function recordsScreen(main, model) {
  const params = new URLSearchParams(location.search);
  const whereText = params.get("where") || "";
  const [sortField, sortDir] = (params.get("sort") || "").split(":");
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const deleted = params.get("deleted") === "1";
  const update = (changes) => {
    const next = new URLSearchParams(location.search);
    for (const [key, value] of Object.entries(changes)) value ? next.set(key, value) : next.delete(key);
    if (!("page" in changes)) next.delete("page");
    const query = next.toString();
    go(modelPath(model.name) + (query ? `?${query}` : ""));
  };

  const whereInput = h("input", { id: "where", name: "where", value: whereText, spellcheck: "false",
    placeholder: '{"lastName": {"startsWith": "L"}}', "aria-label": "Filter (where JSON)" });
  const problem = h("p", { id: "records-error", class: "status error", role: "alert" });
  const filter = h("form", { id: "filter", class: "filter" }, whereInput, h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", onclick: () => update({ where: "" }) }, "Clear"),
    h("label", null, h("input", { id: "show-deleted", type: "checkbox", checked: deleted,
      onchange: (e) => update({ deleted: e.target.checked ? "1" : "" }) }), " show deleted"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = whereInput.value.trim();
    if (text) {
      try { JSON.parse(text); } catch (error) {
        problem.textContent = `The filter is not JSON: ${error.message}`;
        return;
      }
    }
    update({ where: text });
  });
  const holder = h("div", { id: "records-holder" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(h("nav", { class: "crumbs" }, link(BASE, "Models"), " / ", model.name),
    h("h2", null, model.name, deleted ? " (deleted)" : ""),
    h("p", null, link(`${modelPath(model.name)}/new`, h("span", { id: "new-record", class: "button" }, `New ${model.name}`))),
    filter, problem, holder);

  let where = null;
  if (whereText) {
    try { where = JSON.parse(whereText); } catch (error) {
      problem.textContent = `The filter is not JSON: ${error.message}`;
      holder.remove();
      return null;
    }
  }
  const fill = () => recordsTable(model, holder, problem, { where, sortField, sortDir, page, deleted, update });
  await fill();
  return fill;
}

async function recordsTable(model, holder, problem, { where, sortField, sortDir, page, deleted, update }) {
  const root = deleted ? "deletedRecords" : "paginatedRecords";
  let result;
  try {
    const data = await gql(`query Records($model: String!, $where: JSON, $orderBy: JSON, $limit: Int, $offset: Int) {
      page: ${root}(model: $model, where: $where, orderBy: $orderBy, limit: $limit, offset: $offset) {
        data pageInfo { totalCount hasNextPage hasPreviousPage } } }`, {
      model: model.name, where, orderBy: sortField ? { [sortField]: sortDir === "desc" ? "desc" : "asc" } : null,
      limit: PAGE, offset: (page - 1) * PAGE,
    });
    result = data.page;
  } catch (error) {
    if (error instanceof ApiError && error.unauthenticated) throw error;
    problem.textContent = error.message;
    holder.replaceChildren();
    return;
  }

  const columns = columnsOf(model, deleted);
  const head = h("tr", null, columns.map((f) => {
    if (UNSORTABLE.has(f.type)) return h("th", { scope: "col" }, f.name);
    const active = f.name === sortField;
    const next = active && sortDir !== "desc" ? "desc" : "asc";
    return h("th", { scope: "col", "aria-sort": active ? (sortDir === "desc" ? "descending" : "ascending") : null },
      h("button", { type: "button", class: "sort", "data-field": f.name, onclick: () => update({ sort: `${f.name}:${next}` }) },
        f.name, active ? (sortDir === "desc" ? " ▼" : " ▲") : ""));
  }));
  const rows = result.data.map((record) => h("tr", { "data-id": record.id }, columns.map((f) => h("td", { "data-field": f.name },
    f.name === "id" ? link(recordPath(model.name, record.id), record.id) : cell(f, record[f.name])))));
  const total = result.pageInfo.totalCount;
  const first = total ? (page - 1) * PAGE + 1 : 0;
  const last = (page - 1) * PAGE + result.data.length;
  const pages = Math.max(1, Math.ceil(total / PAGE));
  const pager = h("nav", { class: "pager" },
    h("button", { id: "prev", type: "button", disabled: !result.pageInfo.hasPreviousPage,
      onclick: () => update({ page: String(page - 1) }) }, "‹ Previous"),
    h("span", { id: "page-info" }, `${first}–${last} of ${total} · page ${page} of ${pages}`),
    h("button", { id: "next", type: "button", disabled: !result.pageInfo.hasNextPage,
      onclick: () => update({ page: String(page + 1) }) }, "Next ›"));
  holder.replaceChildren(h("div", { class: "scroll" }, h("table", { id: "records", class: "records" },
    h("thead", null, head), h("tbody", null, rows.length ? rows
      : h("tr", null, h("td", { colspan: columns.length, class: "muted" }, "No records"))))), pager);
}

function diff(event) {
  const data = event.data && typeof event.data === "object" ? event.data : {};
  const before = event.previousData && typeof event.previousData === "object" ? event.previousData : null;
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(data)])];
  const changed = keys.filter((k) => (before ? JSON.stringify(before[k]) !== JSON.stringify(data[k])
    : data[k] !== null && data[k] !== undefined));
  if (!changed.length) return h("p", { class: "muted" }, "no field changed");
  return h("table", { class: "diff" }, h("tbody", null, changed.map((k) => h("tr", { "data-key": k },
    h("th", { scope: "row" }, k),
    h("td", { class: "old" }, before ? cell(null, before[k]) : ""),
    h("td", { class: "arrow" }, "→"),
    h("td", { class: "new" }, cell(null, data[k]))))));
}

async function recordScreen(main, model, id) {
  const data = await gql(`query Record($model: String!, $id: String!) {
    record(model: $model, id: $id)
    history(model: $model, id: $id) { position type actor recordedAt data previousData } }`, { model: model.name, id });
  const record = data.record;
  const events = data.history;
  const shown = record || (events.length ? events[events.length - 1].data : null);
  const blocks = record ? await renderedBlocks(model, record) : {};
  const status = h("p", { id: "action-status", class: "status error", role: "alert" });
  const vars = { model: model.name, id };
  const act = (key, label, question, query, after) => h("button", { id: key, type: "button", onclick: async () => {
    if (!window.confirm(question)) return;
    try {
      await gql(query, vars);
      after();
    } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) return ended();
      status.textContent = error.message;
    }
  } }, label);
  const again = () => recordScreen(main, model, id).catch((error) => { status.textContent = error.message; });
  const hard = act("hard-delete", "Delete for good", `Delete ${model.name} ${id} for good? This cannot be undone.`,
    "mutation Hard($model: String!, $id: String) { n: hardDelete(model: $model, id: $id) }", () => go(modelPath(model.name)));
  const actions = h("div", { id: "actions", class: "actions" }, record
    ? [link(`${recordPath(model.name, id)}/edit`, h("span", { id: "edit", class: "button" }, "Edit")),
      act("delete", "Delete", `Delete ${model.name} ${id}? It can be restored.`,
        "mutation Del($model: String!, $id: String) { n: delete(model: $model, id: $id) }", again), hard]
    : shown ? [act("restore", "Restore", `Restore ${model.name} ${id}?`,
      "mutation Restore($model: String!, $id: String) { n: restore(model: $model, id: $id) }", again), hard] : []);
  main.replaceChildren(h("nav", { class: "crumbs" }, link(BASE, "Models"), " / ", link(modelPath(model.name), model.name),
    " / ", id), h("h2", null, `${model.name} ${id}`), actions, status);
  if (!record) main.append(h("p", { class: "status error" }, shown ? "This record is deleted (last known data below)." : "No such record."));
  if (shown) {
    main.append(h("dl", { id: "fields", class: "fields" }, model.fields.map((f) => [
      h("dt", null, f.name), h("dd", { "data-field": f.name }, blocks[f.name] || pretty(shown[f.name]))])));
  }
  main.append(h("h3", null, "History"), h("ol", { id: "history", class: "timeline" }, events.map((event) =>
    h("li", { "data-type": event.type, "data-position": event.position },
      h("div", { class: "event-head" }, h("strong", { class: "event-type" }, event.type), " · ",
        h("span", { class: "actor" }, event.actor || "system"), " · ", when(event.recordedAt),
        h("span", { class: "muted" }, ` · #${event.position}`)),
      diff(event)))));
}

// ------------------------------------------------------------------------------------------- blocks

// The server's HTML of a blocks field (escaped, URL allow-list), imported node by node after dropping
// anything active (defence in depth: scripts, event handlers, inline styles, javascript: URLs).
function safeHtml(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  for (const bad of doc.body.querySelectorAll("script,style,iframe,object,embed,link,meta,base,form")) bad.remove();
  for (const el of doc.body.querySelectorAll("*")) {
    for (const { name, value } of [...el.attributes]) {
      const key = name.toLowerCase();
      if (key.startsWith("on") || key === "style" || key === "srcdoc"
        || (/(href|src|action)$/.test(key) && /^\s*(javascript|vbscript|data):/i.test(value))) el.removeAttribute(name);
    }
  }
  return h("div", { class: "blocks" }, [...doc.body.childNodes].map((node) => document.importNode(node, true)));
}

async function renderedBlocks(model, record) {
  const fields = model.fields.filter((f) => f.type === "blocks" && Array.isArray(record[f.name]) && record[f.name].length);
  if (!fields.length) return {};
  const parts = fields.map((f, i) => `b${i}: renderBlocks(model: $model, id: $id, field: ${JSON.stringify(f.name)}, format: "html")`);
  try {
    const data = await gql(`query Blocks($model: String!, $id: String!) { ${parts.join(" ")} }`, { model: model.name, id: record.id });
    return Object.fromEntries(fields.map((f, i) => [f.name, safeHtml(data[`b${i}`])]));
  } catch (error) {
    if (error instanceof ApiError && error.unauthenticated) throw error;
    return {};
  }
}

// -------------------------------------------------------------------------------------------- forms

const INPUT_TYPES = { email: "email", url: "url", number: "number", datetime: "datetime-local" };

function localTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const two = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}`;
}

// One field's control: the element, its value (throws on input that cannot be sent) and whether it changed.
function control(field, value) {
  const t = field.type;
  const props = { id: `f-${field.name}`, name: field.name };
  let el;
  let get;
  if (t === "boolean") {
    el = h("input", { ...props, type: "checkbox", checked: value === true });
    get = () => el.checked;
  } else if (t === "select") {
    const options = field.options || [];
    el = h("select", props, h("option", { value: "" }, "—"), options.map((o) => h("option", { value: String(o) }, String(o))));
    el.value = value === null || value === undefined ? "" : String(value);
    get = () => (el.value === "" ? null : options.find((o) => String(o) === el.value) ?? el.value);
  } else if (t === "json") {
    el = h("textarea", { ...props, rows: 4, spellcheck: "false", value: value === null || value === undefined ? "" : JSON.stringify(value, null, 2) });
    get = () => {
      const text = el.value.trim();
      if (!text) return null;
      try { return JSON.parse(text); } catch (error) { throw new Error(`not JSON: ${error.message}`); }
    };
  } else {
    const rule = String(field.validation || "").split("|");
    const type = INPUT_TYPES[t] || (rule.includes("email") ? "email" : rule.includes("url") ? "url" : "text");
    const raw = value === null || value === undefined ? "" : t === "datetime" ? localTime(value)
      : Array.isArray(value) ? value.join(", ") : typeof value === "object" ? JSON.stringify(value) : String(value);
    el = h("input", { ...props, type, value: raw, step: t === "number" ? "any" : null,
      placeholder: t === "array" ? "comma, separated" : t === "relation" ? `${field.target || ""} id` : null });
    get = () => {
      const text = el.value.trim();
      if (!text) return t === "array" ? [] : null;
      if (t === "number") {
        const n = Number(text);
        if (!Number.isFinite(n)) throw new Error("not a number");
        return n;
      }
      if (t === "datetime") {
        const date = new Date(text);
        if (Number.isNaN(date.getTime())) throw new Error("not a date");
        return date.toISOString();
      }
      return t === "array" ? text.split(",").map((x) => x.trim()).filter(Boolean) : text;
    };
  }
  const now = () => (t === "boolean" ? el.checked : el.value);
  const initial = now();
  return { el, get, dirty: () => now() !== initial };
}

async function formScreen(main, model, id) {
  let record = null;
  if (id) {
    record = (await gql("query Edit($model: String!, $id: String!) { record(model: $model, id: $id) }",
      { model: model.name, id })).record;
    if (!record) return main.replaceChildren(h("p", { class: "status error" }, "No such record."));
  }
  const controls = {};
  const errors = {};
  const rows = model.fields.filter((f) => !f.system && f.name !== "id").map((f) => {
    if (f.type === "blocks") {
      const count = record && Array.isArray(record[f.name]) ? record[f.name].length : 0;
      return h("div", { class: "form-row", "data-field": f.name }, h("span", { class: "label" }, f.name),
        h("span", { class: "muted" }, `${count} block${count === 1 ? "" : "s"} (read-only here)`));
    }
    const c = controls[f.name] = control(f, record ? record[f.name] : f.default);
    errors[f.name] = h("span", { id: `error-${f.name}`, class: "field-error", role: "alert" });
    return h("div", { class: "form-row", "data-field": f.name },
      h("label", { for: c.el.id, class: "label" }, f.name, f.required ? " *" : ""), c.el, errors[f.name]);
  });
  const status = h("div", { id: "form-status", class: "status error", role: "alert" });
  const button = h("button", { type: "submit" }, id ? "Save" : "Create");
  const form = h("form", { id: "record-form", class: "record-form", novalidate: true }, rows, status,
    h("div", { class: "actions" }, button, link(id ? recordPath(model.name, id) : modelPath(model.name), "Cancel")));
  const fail = (name, message) => {
    errors[name].textContent = message;
    controls[name].el.setAttribute("aria-invalid", "true");
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    for (const [name, c] of Object.entries(controls)) {
      errors[name].textContent = "";
      c.el.removeAttribute("aria-invalid");
    }
    const data = {};
    let bad = false;
    for (const [name, c] of Object.entries(controls)) {
      if (record && !c.dirty()) continue;
      let value;
      try { value = c.get(); } catch (error) {
        fail(name, error.message);
        bad = true;
        continue;
      }
      if (!record && (value === null || (Array.isArray(value) && !value.length))) continue;
      data[name] = value;
    }
    if (bad) return;
    if (record && !Object.keys(data).length) return status.append("Nothing changed.");
    button.disabled = true;
    try {
      const saved = record
        ? await gql(`mutation Save($model: String!, $id: String!, $data: JSON!, $version: Int) {
            saved: update(model: $model, id: $id, data: $data, expectedVersion: $version) }`,
        { model: model.name, id, data, version: record._version })
        : await gql("mutation Create($model: String!, $data: JSON!) { saved: create(model: $model, data: $data) }",
          { model: model.name, data });
      go(recordPath(model.name, saved.saved.id));
    } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) return ended();
      if (error.code === "VALIDATION_ERROR" && Array.isArray(error.details)) {
        const general = error.details.filter((d) => !(d.field in controls));
        error.details.filter((d) => d.field in controls).forEach((d) => fail(d.field, d.message));
        status.append(...general.map((d) => h("div", null, d.field ? `${d.field}: ${d.message}` : d.message)));
        if (!error.details.length) status.append(error.message);
      } else if (error.code === "CONFLICT") {
        status.append("This record was changed by someone else — reload. ",
          h("button", { id: "reload", type: "button", onclick: () => render() }, "Reload"));
      } else {
        status.append(error.message);
      }
    } finally {
      button.disabled = false;
    }
  });
  const back = id ? [" / ", link(recordPath(model.name, id), id), " / edit"] : " / new";
  main.replaceChildren(h("nav", { class: "crumbs" }, link(BASE, "Models"), " / ", link(modelPath(model.name), model.name), back),
    h("h2", null, id ? `Edit ${model.name} ${id}` : `New ${model.name}`), form);
  const first = form.querySelector("input,select,textarea");
  if (first) first.focus();
}

// ------------------------------------------------------------------------------------ operations screens
// Jobs, workers, the event log tail and users: the REST admin routes (/jobs/*, /auth/users) and GraphQL events.

const api = (method, path, body) => request(method, path, body, session.token, true);
const STATUSES = ["queued", "leased", "succeeded", "dead", "cancelled"];
const list = (text) => text.split(",").map((x) => x.trim()).filter(Boolean);
const table = (id, heads, rows, empty = "Nothing here") => h("div", { class: "scroll" }, h("table", { id, class: "records" },
  h("thead", null, h("tr", null, heads.map((x) => h("th", { scope: "col" }, x)))),
  h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: heads.length, class: "muted" }, empty)))));
const td = (key, ...children) => h("td", { "data-field": key }, ...children);
const maybe = (value) => (value === null || value === undefined || value === "" ? h("span", { class: "null" }, "—") : String(value));

// an action button: runs `fn`, reports errors in `status` (a session that ended goes back to the log-in)
function doer(props, label, fn, status, question) {
  return h("button", { type: "button", ...props, onclick: async (event) => {
    if (question && !window.confirm(question)) return;
    event.target.disabled = true;
    try { await fn(); } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) return ended();
      status.textContent = error.message;
    } finally { event.target.disabled = false; }
  } }, label);
}

const retryable = (job) => job.status === "dead" || job.status === "cancelled";

async function jobsScreen(main) {
  const params = new URLSearchParams(location.search);
  const status = params.get("status") || "";
  const queue = params.get("queue") || "";
  const query = new URLSearchParams({ limit: "100" });
  if (status) query.set("status", status);
  if (queue) query.set("queue", queue);
  const [stats, recent] = await Promise.all([api("GET", "/jobs/stats"), api("GET", `/jobs/recent?${query}`)]);
  const problem = h("p", { id: "jobs-error", class: "status error", role: "alert" });
  const queues = {};
  for (const { queue: q, status: s, count } of stats.byQueue) (queues[q] ||= {})[s] = count;
  const counts = (key, by) => h("tr", { "data-queue": key }, h("th", { scope: "row" }, key),
    STATUSES.map((s) => td(s, String(by[s] || 0))));
  const select = h("select", { id: "job-status", name: "status", "aria-label": "Status" }, h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s }, s)));
  select.value = status;
  const queueInput = h("input", { id: "job-queue", name: "queue", value: queue, placeholder: "queue", "aria-label": "Queue" });
  const filter = h("form", { id: "job-filter", class: "filter" }, select, queueInput, h("button", { type: "submit" }, "Filter"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (select.value) next.set("status", select.value);
    if (queueInput.value.trim()) next.set("queue", queueInput.value.trim());
    go(`${BASE}jobs${next.toString() ? `?${next}` : ""}`);
  });
  const again = () => jobsScreen(main);
  const rows = recent.jobs.map((job) => h("tr", { "data-id": job.id, "data-status": job.status },
    td("id", link(`${BASE}jobs/${encodeURIComponent(job.id)}`, shorten(job.id, 13))), td("queue", job.queue), td("kind", job.kind),
    td("status", h("span", { class: `badge ${job.status}` }, job.status)), td("attempts", `${job.attempts}/${job.maxAttempts}`),
    td("error", job.error ? cell(null, job.error) : maybe(null)), td("updatedAt", when(job.updatedAt)),
    td("actions", retryable(job) ? doer({ class: "retry" }, "Retry", async () => {
      await api("POST", `/jobs/${encodeURIComponent(job.id)}/retry`, {});
      await again();
    }, problem) : "")));
  main.replaceChildren(h("h2", null, "Jobs"),
    table("job-stats", ["queue", ...STATUSES], [...Object.keys(queues).sort().map((q) => counts(q, queues[q])),
      counts("all", stats.byStatus)], "No jobs"),
    h("p", { class: "muted" }, stats.oldestQueuedSeconds === null ? "Nothing queued."
      : `Oldest queued job: ${Math.round(stats.oldestQueuedSeconds)} s.`),
    h("h3", null, "Recent jobs"), filter, problem,
    table("jobs", ["id", "queue", "kind", "status", "attempts", "error", "updated", ""], rows, "No jobs"),
    h("p", null, h("button", { id: "jobs-refresh", type: "button", onclick: again }, "Refresh")));
}

async function jobScreen(main, id) {
  const job = await api("GET", `/jobs/${encodeURIComponent(id)}`);
  const status = h("p", { id: "action-status", class: "status error", role: "alert" });
  const keys = ["status", "queue", "kind", "attempts", "maxAttempts", "priority", "payload", "progress", "error", "result",
    "tenantId", "createdBy", "createdAt", "updatedAt"].filter((k) => k in job);
  main.replaceChildren(h("nav", { class: "crumbs" }, link(`${BASE}jobs`, "Jobs"), " / ", id), h("h2", null, `${job.kind} job`),
    h("div", { class: "actions" }, retryable(job) ? doer({ id: "retry" }, "Retry", async () => {
      await api("POST", `/jobs/${encodeURIComponent(id)}/retry`, {});
      await jobScreen(main, id);
    }, status) : "", doer({ id: "job-refresh" }, "Refresh", () => jobScreen(main, id), status)), status,
    h("dl", { id: "job", class: "fields" }, keys.map((k) => [h("dt", null, k), h("dd", { "data-field": k },
      k.endsWith("At") && job[k] ? when(job[k]) : pretty(job[k]))])));
}

async function workersScreen(main, created = null) {
  const { workers } = await api("GET", "/jobs/workers");
  const status = h("p", { id: "workers-error", class: "status error", role: "alert" });
  const name = h("input", { id: "w-name", name: "name", required: true, placeholder: "name" });
  const queues = h("input", { id: "w-queues", name: "queues", placeholder: "queues: actions, mail or *" });
  const caps = h("input", { id: "w-capabilities", name: "capabilities", placeholder: "capabilities: crud:Deal, action:*" });
  const form = h("form", { id: "worker-form", class: "filter" }, name, queues, caps, h("button", { type: "submit" }, "Create worker"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await api("POST", "/jobs/workers", { name: name.value.trim(), queues: list(queues.value), capabilities: list(caps.value) });
      await workersScreen(main, made);
    } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) return ended();
      status.textContent = error.message;
    }
  });
  const token = created && h("div", { id: "new-token", class: "notice" },
    h("strong", null, `Token of ${created.name}: copy it now, it is not shown again.`),
    h("input", { id: "worker-token", readonly: true, value: created.token, "aria-label": "Worker token", onfocus: (e) => e.target.select() }));
  const rows = workers.map((w) => h("tr", { "data-id": w.id, "data-revoked": w.isRevoked ? "1" : "0" },
    td("name", w.name), td("queues", w.queues.join(", ")), td("capabilities", w.capabilities.join(", ")),
    td("state", w.isRevoked ? h("span", { class: "badge dead" }, "revoked") : "active"),
    td("lastSeenAt", w.lastSeenAt ? when(w.lastSeenAt) : maybe(null)), td("createdAt", when(w.createdAt)),
    td("actions", w.isRevoked ? "" : doer({ class: "revoke" }, "Revoke", async () => {
      await api("DELETE", `/jobs/workers/${encodeURIComponent(w.id)}`);
      await workersScreen(main);
    }, status, `Revoke the worker ${w.name}? Its token stops working at once.`))));
  main.replaceChildren(h("h2", null, "Workers"), form, status, token || "",
    table("workers", ["name", "queues", "capabilities", "state", "last seen", "created", ""], rows, "No workers"));
}

// The event log: the latest 100 events (the head found by probing `events(after, limit: 1)`), then live.
const TAIL = 200;

async function head() {
  const probe = async (points) => {
    const parts = points.map((p, i) => `p${i}: events(after: ${p}, limit: 1) { position }`);
    const data = await gql(`query Head { ${parts.join(" ")} }`);
    return points.map((_, i) => data[`p${i}`].length > 0);
  };
  const powers = Array.from({ length: 32 }, (_, k) => 2 ** k - 1);      // GraphQL Int: 32 bits
  const found = await probe(powers);
  const k = found.lastIndexOf(true);
  if (k < 0) return 0;
  let lo = powers[k];            // an event is after lo
  let hi = k < 31 ? powers[k + 1] : powers[k];        // none after hi
  while (hi - lo > 100) {
    const step = Math.ceil((hi - lo) / 40);
    const points = [];
    for (let p = lo + step; p < hi; p += step) points.push(p);
    const more = await probe(points);
    const last = more.lastIndexOf(true);
    if (last >= 0) lo = points[last];
    hi = last + 1 < points.length ? points[last + 1] : hi;
  }
  return hi;
}

async function eventsScreen(main) {
  const rows = new Map();
  const body = h("tbody");
  const state = h("span", { id: "tail-state", class: "muted" }, "connecting…");
  const draw = () => {
    const kept = [...rows.values()].sort((a, b) => b.position - a.position).slice(0, TAIL);
    rows.clear();
    kept.forEach((e) => rows.set(e.position, e));
    body.replaceChildren(...kept.map((e) => h("tr", { "data-position": e.position, "data-id": e.recordId || "" },
      td("position", String(e.position)), td("time", when(e.time)), td("model", e.model || maybe(null)),
      td("record", e.model && e.recordId && schema.models.some((m) => m.name === e.model)
        ? link(recordPath(e.model, e.recordId), e.recordId) : maybe(e.recordId)),
      td("type", e.type), td("actor", e.actor || "system"))));
  };
  const add = (e) => { if (e && !rows.has(e.position)) rows.set(e.position, e); };
  main.replaceChildren(h("h2", null, "Events ", state), h("p", { class: "muted" }, `The latest ${TAIL} events, newest first.`),
    h("div", { class: "scroll" }, h("table", { id: "events", class: "records" }, h("thead", null, h("tr", null,
      ["position", "time", "model", "record", "type", "actor"].map((x) => h("th", { scope: "col" }, x)))), body)));
  // each live event asks for the events after the newest shown (coalesced), so both paths show the stored rows
  let newest = 0;
  let busy = null;
  const pull = async (after) => {
    const data = await gql(`query Tail($after: Int) { events(after: $after, limit: 100) {
      position type model recordId actor recordedAt } }`, { after });
    data.events.forEach((e) => add({ position: e.position, time: e.recordedAt, model: e.model, recordId: e.recordId,
      type: e.type, actor: e.actor }));
    newest = Math.max(newest, after, ...data.events.map((e) => e.position));
    draw();
    return data.events.length;
  };
  let again = false;
  const more = () => {
    again = true;
    busy ||= (async () => {
      try {
        while (again) {
          again = false;
          while (await pull(newest) === 100) again = false;
        }
      } catch (error) {
        if (error instanceof ApiError && error.unauthenticated) ended();
      } finally { busy = null; }
    })();
    return busy;
  };
  let ready = false;
  stopLive = live(schema.models.map((m) => m.name), () => { if (ready) more(); }, (on) => {
    app.dataset.live = on ? "on" : "off";
    state.textContent = on ? "· live" : "· reconnecting…";
  });
  const top = await head();
  await pull(Math.max(0, top - 100));
  ready = true;
  await more();                  // anything written while the tail was filled
}

const USER_PAGE = 50;

async function usersScreen(main, shown = null) {
  const params = new URLSearchParams(location.search);
  const q = params.get("q") || "";
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  let answer;
  try {
    answer = await request("GET", `/auth/users?${new URLSearchParams({ limit: USER_PAGE, offset, q })}`);
  } catch (error) {
    if (error.status !== 404) throw error;
    return main.replaceChildren(h("h2", null, "Users"), h("p", { id: "users-missing", class: "status error" },
      "This server has no users API (GET /auth/users)."));
  }
  const status = h("p", { id: "users-error", class: "status error", role: "alert" });
  const again = (made = null) => usersScreen(main, made);
  const search = h("input", { id: "user-search", name: "q", value: q, placeholder: "email or name", "aria-label": "Search" });
  const finder = h("form", { id: "user-find", class: "filter" }, search, h("button", { type: "submit" }, "Search"));
  finder.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`${BASE}users${search.value.trim() ? `?q=${encodeURIComponent(search.value.trim())}` : ""}`);
  });
  const input = (key, props = {}) => h("input", { id: `u-${key}`, name: key, placeholder: key, ...props });
  const fields = { email: input("email", { type: "email", required: true }), password: input("password",
    { type: "password", placeholder: "password (blank: generated)", autocomplete: "new-password" }), role: input("role", { value: "viewer" }),
  tenantId: input("tenantId"), firstName: input("firstName"), lastName: input("lastName") };
  const form = h("form", { id: "user-form", class: "filter" }, Object.values(fields), h("button", { type: "submit" }, "Create user"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [key, el] of Object.entries(fields)) if (el.value.trim()) body[key] = key === "password" ? el.value : el.value.trim();
    try { await again(await request("POST", "/auth/users", body)); } catch (error) {
      if (error instanceof ApiError && error.unauthenticated) return ended();
      status.textContent = error.message;
    }
  });
  const patch = async (user, change) => {
    await request("PATCH", `/auth/users/${encodeURIComponent(user.id)}`, change);
    await again();
  };
  const rows = answer.users.map((u) => {
    const role = h("input", { class: "role", value: u.role, "aria-label": `Role of ${u.email}`, size: 10 });
    return h("tr", { "data-id": u.id, "data-email": u.email, "data-active": u.isActive ? "1" : "0" },
      td("email", u.email), td("name", [u.firstName, u.lastName].filter(Boolean).join(" ") || maybe(null)),
      td("role", role, " ", doer({ class: "set-role" }, "Set", () => patch(u, { role: role.value.trim() }), status)),
      td("tenantId", maybe(u.tenantId)), td("active", u.isActive ? "active" : h("span", { class: "badge dead" }, "inactive")),
      td("createdAt", when(u.createdAt)),
      td("actions", u.id === me.id ? h("span", { class: "muted" }, "you") : doer({ class: "toggle" }, u.isActive ? "Deactivate" : "Activate",
        () => patch(u, { isActive: !u.isActive }), status, u.isActive ? `Deactivate ${u.email}? They cannot log in any more.` : null)));
  });
  const page = (to) => go(`${BASE}users?${new URLSearchParams({ ...(q ? { q } : {}), offset: String(to) })}`);
  main.replaceChildren(h("h2", null, "Users"), form, status,
    shown && shown.password ? h("div", { id: "new-password", class: "notice" },
      h("strong", null, `Password of ${shown.email}: copy it now, it is not shown again.`),
      h("input", { id: "user-password", readonly: true, value: shown.password, "aria-label": "Generated password" })) : "",
    finder, table("users", ["email", "name", "role", "tenant", "state", "created", ""], rows, "No users"),
    h("nav", { class: "pager" }, h("button", { type: "button", disabled: offset === 0, onclick: () => page(Math.max(0, offset - USER_PAGE)) }, "‹ Previous"),
      h("span", { id: "users-info" }, `${answer.users.length ? offset + 1 : 0}–${offset + answer.users.length} of ${answer.total}`),
      h("button", { type: "button", disabled: offset + USER_PAGE >= answer.total, onclick: () => page(offset + USER_PAGE) }, "Next ›")));
}

// ---------------------------------------------------------------------------------------------- main

const SCREENS = { workers: workersScreen, events: eventsScreen, users: usersScreen };

async function render() {
  const mine = ++rendering;
  unwatch();
  if (!session.token) return showLogin();
  try {
    if (!me) me = await request("GET", "/auth/me");
    if (me.role !== "admin") {
      dropSession();
      return showLogin("admin role required");
    }
    if (!schema) schema = await request("GET", "/meta/schema");
    if (mine !== rendering) return;
    const main = h("main", { id: "main" }, h("p", { class: "muted" }, "Loading…"));
    app.replaceChildren(header(), main);
    const parts = location.pathname.slice(BASE.length).split("/").filter(Boolean).map(decodeURIComponent);
    const model = parts[0] === "models" && schema.models.find((m) => m.name === parts[1]);
    if (!parts.length || (parts.length === 1 && parts[0] === "index.html")) await modelsScreen(main);
    else if (model && parts.length === 2) {
      const fill = await recordsScreen(main, model);
      if (fill && mine === rendering) watch(model.name, fill);
    } else if (model && parts.length === 3 && parts[2] === "new") await formScreen(main, model, null);
    else if (model && parts.length === 3) {
      await recordScreen(main, model, parts[2]);
      if (mine === rendering) watch(model.name, () => recordScreen(main, model, parts[2]));
    } else if (model && parts.length === 4 && parts[3] === "edit") await formScreen(main, model, parts[2]);
    else if (parts[0] === "jobs" && parts.length <= 2) await (parts[1] ? jobScreen(main, parts[1]) : jobsScreen(main));
    else if (parts.length === 1 && SCREENS[parts[0]]) await SCREENS[parts[0]](main);
    else main.replaceChildren(h("h2", null, "Not found"), h("p", null, link(BASE, "Back to the models")));
  } catch (error) {
    if (mine !== rendering) return;
    if (error instanceof ApiError && error.unauthenticated) {
      dropSession();
      return showLogin("Your session ended: log in again.");
    }
    const main = document.getElementById("main") || app;
    main.replaceChildren(h("p", { class: "status error", role: "alert" }, `Error: ${error.message}`));
  }
}

render();
