// app.js — the single-page application: sign-in with a token, the header and navigation
// by role, hash routing, and the five pages (upload portal, dashboard, SQL console,
// tables and plugins, audit log). Every datum comes from the server's own /api.

import {
  t, T, L, lang, pick, setLang, onLangChange, translateAttrs, translateTree, applyDocumentLang,
} from './i18n.js';
import { sparkline, hbars, STATUS_COLOURS } from './charts.js';

/* ------------------------------------------------------------------ constants */

const TOKEN_KEY = 'sannong.token';
const SQL_HISTORY_KEY = 'sannong.sql.history';
const PAGE_SIZE = 50;
const YEARS = [2020, 2021, 2022];
const DEFAULT_YEAR = 2021;
/** The system tables (docs/sql.md); sys.audit_log for auditors and admins only. */
const SYSTEM_TABLES = [
  'sys.tables', 'sys.table_versions', 'sys.submissions', 'sys.submission_problems', 'sys.plugins',
  'sys.departments', 'sys.duties', 'sys.kpis', 'sys.milestones', 'sys.duty_status', 'sys.audit_log',
];

/** The pages: who may see each, in navigation order. */
const PAGES = [
  { id: 'upload', label: 'nav.upload', roles: ['department', 'admin'], render: renderUpload },
  { id: 'dashboard', label: 'nav.dashboard', roles: ['admin', 'analyst', 'auditor', 'department'], render: renderDashboard },
  { id: 'sql', label: 'nav.sql', roles: ['admin', 'analyst', 'auditor'], render: renderSql },
  { id: 'tables', label: 'nav.tables', roles: ['admin', 'analyst', 'auditor', 'department'], render: renderTables },
  { id: 'audit', label: 'nav.audit', roles: ['admin', 'auditor'], render: renderAudit },
];

/* ------------------------------------------------------------------ DOM helpers */

/**
 * Makes an element: `props` sets attributes (`class`, `for`, `aria-*`…), listeners
 * (`onclick`: a function), properties (`value`, `checked`, `disabled`) and translated
 * attributes (`i18n: {placeholder: key}`); children are nodes or strings (as text).
 */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key === 'class') el.className = v;
    else if (key === 'i18n') translateAttrs(el, v);
    else if (key === 'dataset') Object.assign(el.dataset, v);
    else if (key.startsWith('on') && typeof v === 'function') el.addEventListener(key.slice(2), v);
    else if (key === 'value') value = v;
    else if (key === 'checked' || key === 'selected') el[key] = Boolean(v);
    else el.setAttribute(key, v === true ? '' : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

/** Appends nodes, strings (as text) and arrays of them; skips null, undefined and false. */
function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let idCounter = 0;
/** A fresh element id, for pairing a <label> with its input. */
function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A column heading for a field the API names: translated when known, else the name. */
function fieldHead(name) {
  const key = `field.${name}`;
  return t(key) === key ? h('span', null, name) : T(key);
}

/** A value of a field the API names, as shown: times in Beijing time, sizes in KB/MB. */
function fieldText(name, value) {
  if (value === null || value === undefined) return '—';
  if (name === 'bytes' && typeof value === 'number') return fmtSize(value);
  if (name.endsWith('_at') || name === 'at') return fmtTime(value);
  if (name === 'mode') {
    const key = value === 'period' ? 'tables.mode_period' : value === 'snapshot' ? 'tables.mode_snapshot' : null;
    return key ? T(key) : String(value);
  }
  return cellText(value);
}

/** A section of a page: a card with a heading. */
function card(titleKey, ...children) {
  const headingId = uid('h');
  return h('section', { class: 'card', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, typeof titleKey === 'string' ? T(titleKey) : titleKey),
    ...children);
}

/** An <option> whose text follows the language: a key, or a Chinese and an English text. */
function option(value, text, selected = false) {
  const el = h('option', { value, selected });
  if (typeof text === 'string') {
    el.dataset.i18n = text;
    el.textContent = t(text);
  } else {
    el.dataset.zh = text.zh;
    el.dataset.en = text.en;
    el.textContent = pick(text.zh, text.en);
  }
  return el;
}

function loadingNote() {
  return h('p', { class: 'muted loading', role: 'status' }, T('app.loading'));
}

/** A labelled form field: the label above its control. */
function field(labelKey, control, hintKey) {
  const id = control.id || uid('f');
  control.id = id;
  const hint = hintKey ? h('small', { class: 'hint', id: `${id}-hint` }, T(hintKey)) : null;
  if (hint) control.setAttribute('aria-describedby', hint.id);
  return h('div', { class: 'field' }, h('label', { for: id }, T(labelKey)), control, hint);
}

/* ------------------------------------------------------------------ formatting */

const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const numFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

function fmtPercent(v, signed = false) {
  if (!isNum(v)) return '—';
  const text = `${(v * 100).toFixed(1)}%`;
  return signed && v > 0 ? `+${text}` : text;
}

function fmtInt(v) {
  return isNum(v) ? intFormat.format(v) : '—';
}

function fmtNum(v) {
  return isNum(v) ? numFormat.format(v) : '—';
}

/** A KPI value in its unit: ratios and growths as percent, counts whole, areas in m². */
function fmtKpi(v, unit) {
  if (!isNum(v)) return '—';
  switch (unit) {
    case 'ratio': return fmtPercent(v);
    case 'growth': return fmtPercent(v, true);
    case 'm2': return `${intFormat.format(v)} m²`;
    case 'person-times':
    case 'count': return intFormat.format(v);
    default: return numFormat.format(v);
  }
}

/** The raw numbers behind a KPI (numerator, current…) are counts or sums. */
function fmtRaw(v) {
  if (!isNum(v)) return '—';
  return Number.isInteger(v) ? intFormat.format(v) : numFormat.format(v);
}

const OPS = { '>=': '≥', '<=': '≤', '>': '>', '<': '<', '=': '=', '==': '=' };

function fmtTarget(kpi) {
  return `${OPS[kpi.op] || kpi.op} ${fmtKpi(kpi.target, kpi.unit)}`;
}

/** A time from the API as Beijing wall-clock time, to the minute. */
function fmtTime(value) {
  if (value === null || value === undefined || value === '') return '—';
  const text = String(value);
  if (/[zZ]|[+-]\d\d:?\d\d$/.test(text) && text.includes('T')) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) {
      return new Date(ms + 8 * 3600e3).toISOString().slice(0, 16).replace('T', ' ');
    }
  }
  return text.replace('T', ' ').slice(0, 16);
}

function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A cell value of a query result, as text. */
function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A quoted SQL string literal. */
function sqlString(text) {
  return `'${String(text).replace(/'/g, "''")}'`;
}

/* ------------------------------------------------------------------ widgets */

const STATUS_ICONS = {
  met: '✔', on_time: '✔', accepted: '✔', done_on_time: '✔', would_be_accepted: '✔', already_accepted: '✔',
  not_met: '✘', late: '⚠', missing: '✘', refused: '✘', failed: '✘', overdue: '✘', error: '✘',
  done_late: '⚠', warning: '⚠', in_progress: '◐',
  no_data: '–', not_yet_due: '○', not_started: '○', not_reported: '–',
};

/** A status in words, with a colour and an icon (never colour alone). */
function badge(status) {
  const key = `status.${status}`;
  const known = t(key) !== key;
  return h('span', { class: `badge badge-${status}`, dataset: { status } },
    h('span', { class: 'badge-icon', 'aria-hidden': 'true' }, STATUS_ICONS[status] || '•'),
    known ? T(key) : String(status));
}

/** An API error, said clearly in the current language. */
function errorBox(err) {
  const box = h('div', { class: 'error-box', role: 'alert' });
  const title = h('strong', { class: 'error-title' }, T('app.error'));
  if (err instanceof ApiError) {
    append(box, title, err.status ? ` (${err.status} ${err.code})` : '', ': ', L(err.zh, err.en));
    if (err.details && typeof err.details === 'string') {
      append(box, h('div', { class: 'error-details' }, err.details));
    }
  } else {
    append(box, title, ': ', String(err && err.message ? err.message : err));
  }
  return box;
}

/**
 * A table in a horizontally scrolling box. `columns`: [{head: key or node, cell(row) →
 * node or text, num: right-aligned, class}]. `onRow(row)` makes rows clickable.
 */
function dataTable(columns, rows, { caption, onRow, rowClass, compact } = {}) {
  const table = h('table', { class: compact ? 'data compact' : 'data' });
  if (caption) table.append(h('caption', { class: 'sr-only' }, caption));
  table.append(h('thead', null, h('tr', null, columns.map((c) => h('th', {
    scope: 'col', class: c.num ? 'num' : null,
  }, typeof c.head === 'string' ? (c.raw ? c.head : T(c.head)) : c.head)))));
  const body = h('tbody');
  for (const row of rows) {
    const tr = h('tr', { class: rowClass ? rowClass(row) : null });
    for (const c of columns) {
      const content = c.cell(row);
      tr.append(h('td', { class: [c.num ? 'num' : '', c.class || ''].join(' ').trim() || null }, content));
    }
    if (onRow) {
      tr.classList.add('clickable');
      tr.tabIndex = 0;
      tr.addEventListener('click', () => onRow(row, tr));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onRow(row, tr);
        }
      });
    }
    body.append(tr);
  }
  table.append(body);
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || null }, table);
}

/** A table shown `PAGE_SIZE` rows at a time, with previous/next buttons. */
function pagedTable(columns, rows, options = {}) {
  const box = h('div', { class: 'paged' });
  let page = 0;
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const draw = () => {
    const slice = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    const pager = pages > 1 ? h('div', { class: 'pager' },
      h('button', { type: 'button', class: 'btn btn-small', disabled: page === 0, onclick: () => { page -= 1; draw(); } }, T('app.prev')),
      h('span', { class: 'pager-info', 'aria-live': 'polite' }, T('app.page', { page: page + 1, pages })),
      h('button', { type: 'button', class: 'btn btn-small', disabled: page >= pages - 1, onclick: () => { page += 1; draw(); } }, T('app.next')),
    ) : null;
    clear(box, dataTable(columns, slice, options), pager);
  };
  draw();
  return box;
}

/** A short message that goes away by itself (errors stay until closed). */
function toast(content, kind = 'info') {
  const area = document.getElementById('toasts');
  const close = h('button', { type: 'button', class: 'toast-close', i18n: { 'aria-label': 'app.close' } }, '×');
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, h('div', { class: 'toast-body' }, content), close);
  close.addEventListener('click', () => item.remove());
  area.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 6000);
}

/** A button that downloads what `request()` answers (a fetch Response), with its busy state. */
function downloadButton(labelNode, request, { fallbackName = 'download', small = false, extraClass = '' } = {}) {
  const button = h('button', { type: 'button', class: `btn ${small ? 'btn-small' : ''} ${extraClass}`.trim() }, labelNode);
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await saveResponse(await request(), fallbackName);
    } catch (err) {
      toast(errorBox(err), 'error');
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  });
  return button;
}

/** Saves a response's body as a file, named by its Content-Disposition. */
async function saveResponse(response, fallbackName) {
  const blob = await response.blob();
  const name = fileNameOf(response.headers.get('Content-Disposition')) || fallbackName;
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, class: 'sr-only' });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function fileNameOf(disposition) {
  if (!disposition) return null;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      // fall through to the plain name
    }
  }
  const plain = /filename="([^"]+)"/i.exec(disposition);
  return plain ? plain[1] : null;
}

/* ------------------------------------------------------------------ API */

/** An error answered by the API ({"error": {code, message_zh, message_en, details}}). */
class ApiError extends Error {
  constructor(status, code, zh, en, details) {
    super(en || zh);
    this.status = status;
    this.code = code;
    this.zh = zh;
    this.en = en;
    this.details = details;
  }
}

const session = {
  token: null,
  me: null,
  /** admin, analyst, auditor or department. */
  get kind() {
    const role = this.me ? this.me.role : '';
    return role.startsWith('department:') ? 'department' : role;
  },
  /** The department id of a department token. */
  get department() {
    const role = this.me ? this.me.role : '';
    return role.startsWith('department:') ? role.slice('department:'.length) : null;
  },
};

/** The error of a request that never reached the server. */
function networkError() {
  return new ApiError(0, 'network', '无法连接服务器，请检查网络后重试。',
    'Cannot reach the server. Check the network and try again.');
}

/** The ApiError of a failed response. */
async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: described by the status below
  }
  if (body && body.error) {
    const e = body.error;
    return new ApiError(response.status, e.code, e.message_zh, e.message_en, e.details);
  }
  return new ApiError(response.status, 'http', `服务器返回 ${response.status}`, `The server answered ${response.status}`);
}

/**
 * Calls the API with the session's token. `json`: a body to send as JSON; `raw`: return
 * the Response (for files) instead of its parsed JSON. A 401 signs the session out.
 */
async function api(path, { method = 'GET', json, body, raw = false, token = session.token } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: 'no-store' });
  } catch {
    throw networkError();
  }
  if (!response.ok) {
    const err = await errorOf(response);
    if (response.status === 401 && token && token === session.token) expireSession();
    throw err;
  }
  return raw ? response : response.json();
}

function query(params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') search.set(k, String(v));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Fetches a duty's blank template. */
function templateRequest(dutyId) {
  return () => api(`/api/duties/${encodeURIComponent(dutyId)}/template`, { raw: true });
}

function templateButton(duty, small = true) {
  const button = downloadButton(T('upload.template'), templateRequest(duty.id),
    { fallbackName: `${duty.id}.xlsx`, small, extraClass: 'btn-template' });
  button.dataset.duty = duty.id;
  translateAttrs(button, { title: ['upload.template_for', { name: duty.name_zh || duty.id }] });
  return button;
}

/* ------------------------------------------------------------------ plugins and duties */

let manifestsCache = null;

/** Every installed plugin with its manifest (cached for the session). */
async function manifests() {
  if (!manifestsCache) {
    manifestsCache = (async () => {
      const plugins = await api('/api/plugins');
      const full = await Promise.all(plugins.map(async (p) => {
        const manifest = await api(`/api/plugins/${encodeURIComponent(p.plugin_id)}`);
        return { ...p, manifest };
      }));
      return full;
    })();
    manifestsCache.catch(() => { manifestsCache = null; });
  }
  return manifestsCache;
}

/** Every duty of every plugin: {id, name_zh, name_en, table, mode, department, columns…}. */
async function allDuties() {
  const plugins = await manifests();
  const duties = [];
  for (const p of plugins) {
    for (const d of p.manifest.duties || []) {
      duties.push({ ...d, department: p.manifest.department || { id: p.department }, plugin: p.plugin_id });
    }
  }
  return duties;
}

function isMonthly(duty) {
  return String(duty.mode).toLowerCase() === 'period';
}

/* ------------------------------------------------------------------ shell: header, routing */

function renderHeader() {
  const nav = document.getElementById('site-nav');
  translateAttrs(nav, { 'aria-label': 'nav.label' });
  nav.replaceChildren();
  if (session.me) {
    const list = h('ul', { class: 'nav-list' });
    for (const page of PAGES) {
      if (!page.roles.includes(session.kind)) continue;
      const label = page.id === 'tables' && session.kind === 'department' ? 'nav.plugins' : page.label;
      list.append(h('li', null, h('a', { href: `#/${page.id}`, class: 'nav-link', dataset: { page: page.id } }, T(label))));
    }
    nav.append(list);
  }
  const box = document.getElementById('session');
  box.replaceChildren();
  const langButton = h('button', {
    type: 'button', class: 'btn btn-ghost lang-switch', id: 'lang-switch', lang: lang() === 'en' ? 'zh-CN' : 'en',
    i18n: { 'aria-label': 'lang.switch_label' },
  }, T('lang.switch'));
  langButton.addEventListener('click', () => {
    setLang(lang() === 'en' ? 'zh' : 'en');
    langButton.setAttribute('lang', lang() === 'en' ? 'zh-CN' : 'en');
  });
  if (session.me) {
    box.append(
      h('span', { class: 'who' },
        h('span', { class: 'who-name' }, session.me.name || ''),
        session.me.county
          ? h('span', { class: 'county-badge', id: 'county', title: T('county.label') },
            h('span', { class: 'sr-only' }, T('county.label'), ': '), session.me.county)
          : null,
        h('span', { class: 'role-badge', id: 'role', title: session.me.role, dataset: { role: session.me.role } },
          h('span', { class: 'sr-only' }, T('role.label'), ': '), roleLabel(session.me.role))),
    );
  }
  box.append(langButton);
  if (session.me) {
    box.append(h('button', { type: 'button', class: 'btn btn-ghost', id: 'sign-out', onclick: signOut }, T('logout')));
  }
  markCurrentNav();
}

function roleLabel(role) {
  if (role.startsWith('department:')) return T('role.department', { id: role.slice('department:'.length) });
  return T(`role.${role}`);
}

function currentRoute() {
  const match = /^#\/([\w-]+)/.exec(window.location.hash);
  return match ? match[1] : '';
}

function defaultPage() {
  return session.kind === 'department' ? 'upload' : 'dashboard';
}

function markCurrentNav() {
  const route = currentRoute();
  for (const link of document.querySelectorAll('.nav-link')) {
    if (link.dataset.page === route) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** Draws the page the hash names, if the role may see it. */
function route() {
  const main = document.getElementById('main');
  if (!session.me) {
    renderLogin(main);
    return;
  }
  const id = currentRoute();
  if (!id) {
    window.location.replace(`#/${defaultPage()}`);
    return;
  }
  markCurrentNav();
  const page = PAGES.find((p) => p.id === id);
  main.replaceChildren();
  if (!page) {
    main.append(h('div', { class: 'notice' }, T('app.notfound')));
    return;
  }
  if (!page.roles.includes(session.kind)) {
    main.append(h('div', { class: 'notice notice-warn', role: 'alert' }, T('app.forbidden')));
    return;
  }
  main.dataset.page = id;
  page.render(main);
}

/* ------------------------------------------------------------------ sign in and out */

function renderLogin(main, messageKey) {
  document.getElementById('site-nav').replaceChildren();
  renderHeader();
  const input = h('input', {
    type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false',
    required: true, placeholder: 'sn_…', class: 'input-wide',
  });
  const status = h('div', { class: 'login-status', 'aria-live': 'polite' });
  if (messageKey) status.append(h('div', { class: 'notice notice-warn' }, T(messageKey)));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'sign-in' }, T('login.submit'));
  const form = h('form', { class: 'login-form', id: 'login-form', novalidate: true },
    field('login.token', input), submit, status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    status.replaceChildren();
    if (!token.startsWith('sn_')) {
      status.append(h('div', { class: 'error-box', role: 'alert' }, T('login.bad_format')));
      input.focus();
      return;
    }
    submit.disabled = true;
    status.append(h('p', { class: 'muted' }, T('login.signing')));
    try {
      await signIn(token);
    } catch (err) {
      status.replaceChildren(errorBox(err));
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  clear(main, h('div', { class: 'login' },
    h('section', { class: 'card login-card', 'aria-labelledby': 'login-title' },
      h('h1', { id: 'login-title' }, T('login.title')),
      h('p', { class: 'muted' }, T('login.intro')),
      form)));
  main.dataset.page = 'login';
  input.focus();
}

async function signIn(token) {
  const me = await api('/api/me', { token });
  session.token = token;
  session.me = me;
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // storage refused: the session lasts as long as the page
  }
  manifestsCache = null;
  renderHeader();
  const wanted = currentRoute();
  const page = PAGES.find((p) => p.id === wanted);
  if (page && page.roles.includes(session.kind)) route();
  else window.location.hash = `#/${defaultPage()}`;
}

function forget() {
  session.token = null;
  session.me = null;
  manifestsCache = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

function signOut() {
  forget();
  history.replaceState(null, '', window.location.pathname);
  renderLogin(document.getElementById('main'));
}

function expireSession() {
  forget();
  renderLogin(document.getElementById('main'), 'app.expired');
}

/* ------------------------------------------------------------------ upload portal */

function renderUpload(main) {
  const dutiesBox = h('div', null, loadingNote());
  const formBox = h('div', null, loadingNote());
  const resultBox = h('div', { class: 'upload-result', id: 'upload-result', 'aria-live': 'polite' });
  const resultCard = card('upload.outcome', resultBox);
  resultCard.hidden = true;
  const historyBox = h('div', null, loadingNote());
  const detailBox = h('div', { class: 'submission-detail', id: 'submission-detail', 'aria-live': 'polite' });

  append(main,
    h('div', { class: 'page-head' }, h('h1', null, T('upload.title')), h('p', { class: 'muted' }, T('upload.intro'))),
    h('div', { class: 'grid-2' },
      card('upload.form', formBox),
      card('upload.duties', h('p', { class: 'muted' }, T('upload.duties_intro')), dutiesBox)),
    resultCard,
    card(session.kind === 'department' ? 'upload.history' : 'upload.history_all', historyBox, detailBox));

  let form = null;
  const loadHistory = () => {
    api('/api/submissions')
      .then((rows) => clear(historyBox, submissionsTable(rows, detailBox)))
      .catch((err) => clear(historyBox, errorBox(err)));
  };

  let mine = [];
  const loadPeriods = () => api('/api/duties?periods=true')
    .then((periods) => clear(dutiesBox, dutyPeriods(periods, mine, (duty, period) => form.choose(duty, period))))
    .catch((err) => clear(dutiesBox, errorBox(err)));
  const afterUpload = () => {
    loadHistory();
    loadPeriods();
  };

  allDuties()
    .then((duties) => {
      mine = session.kind === 'department'
        ? duties.filter((d) => d.department.id === session.department)
        : duties;
      form = uploadForm(mine, resultBox, resultCard, afterUpload);
      clear(formBox, form.element);
      return loadPeriods();
    })
    .catch((err) => {
      clear(formBox, errorBox(err));
      clear(dutiesBox, errorBox(err));
    });
  loadHistory();
}

/** "My duties": each duty's periods with their due date and status, newest first. */
function dutyPeriods(periods, duties, onChoose) {
  const byId = new Map(duties.map((d) => [d.id, d]));
  const box = h('div', { class: 'duty-periods' });
  if (duties.length === 0) {
    box.append(h('p', { class: 'notice' }, T('upload.no_duties')));
    return box;
  }
  // Templates of my duties, one button each.
  box.append(h('ul', { class: 'duty-list' }, duties.map((d) => h('li', null,
    h('span', { class: 'duty-name' }, L(d.name_zh, d.name_en), ' ', h('code', null, d.id)),
    templateButton(d)))));

  const statuses = ['all', 'missing', 'late', 'not_yet_due', 'on_time'];
  const statusSelect = h('select', { id: 'duty-status-filter' },
    statuses.map((s) => option(s, s === 'all' ? 'upload.all' : `status.${s}`)));
  const departments = [...new Set(periods.map((p) => p.department))].sort();
  const deptSelect = departments.length > 1 ? h('select', { id: 'duty-dept-filter' },
    option('', 'upload.all'), departments.map((d) => h('option', { value: d }, d))) : null;
  const counts = h('p', { class: 'counts' });
  const tableBox = h('div', { class: 'scroll-y' });

  // What needs doing first: missing, then not yet due, then the rest; newest first.
  const urgency = { missing: 0, not_yet_due: 1, late: 2, on_time: 3 };
  const sorted = [...periods].sort((a, b) => (urgency[a.status] ?? 4) - (urgency[b.status] ?? 4)
    || String(b.period || '').localeCompare(String(a.period || ''))
    || String(a.duty_id).localeCompare(String(b.duty_id)));
  const draw = () => {
    const status = statusSelect.value;
    const dept = deptSelect ? deptSelect.value : '';
    const rows = sorted.filter((p) => (status === 'all' || p.status === status) && (!dept || p.department === dept));
    const tally = {};
    for (const p of periods) tally[p.status] = (tally[p.status] || 0) + 1;
    clear(counts, statuses.slice(1).map((s) => h('span', { class: 'count-item' }, badge(s), ` ${tally[s] || 0}`)));
    clear(tableBox, pagedTable([
      { head: 'col.duty', cell: (p) => { const d = byId.get(p.duty_id); return d ? L(d.name_zh, d.name_en) : p.duty_id; } },
      deptSelect ? { head: 'col.department', cell: (p) => p.department } : null,
      { head: 'col.period', cell: (p) => p.period || '—' },
      { head: 'col.due', cell: (p) => p.due_on || '—' },
      { head: 'col.status', cell: (p) => badge(p.status) },
      { head: 'col.received', cell: (p) => fmtTime(p.received_at) },
      {
        head: 'col.action',
        cell: (p) => (byId.has(p.duty_id) && p.status !== 'on_time' && p.status !== 'late'
          ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => onChoose(p.duty_id, p.period) }, T('upload.report'))
          : ''),
      },
    ].filter(Boolean), rows, { caption: t('upload.duties') }));
  };
  statusSelect.addEventListener('change', draw);
  if (deptSelect) deptSelect.addEventListener('change', draw);
  box.append(h('div', { class: 'filters' },
    field('upload.filter_status', statusSelect),
    deptSelect ? field('upload.filter_department', deptSelect) : null), counts, tableBox);
  draw();
  return box;
}

/** The upload form: duty, period, file (chosen or dropped), dry run; sends with progress. */
function uploadForm(duties, resultBox, resultCard, afterUpload) {
  const dutySelect = h('select', { id: 'upload-duty', name: 'duty', required: true },
    h('option', { value: '' }, '—'),
    duties.map((d) => option(d.id, { zh: `${d.name_zh} (${d.id})`, en: `${d.name_en || d.name_zh} (${d.id})` })));
  const periodInput = h('input', { type: 'month', id: 'upload-period', name: 'period', placeholder: 'YYYY-MM', pattern: '\\d{4}-\\d{2}' });
  const periodField = field('upload.period', periodInput, 'upload.period_hint');
  const snapshotNote = h('p', { class: 'muted', hidden: true }, T('upload.period_none'));
  const fileInput = h('input', { type: 'file', id: 'upload-file', name: 'file', accept: '.csv,.xlsx,.xls,.json,.ndjson,.txt,.tsv', class: 'file-input' });
  const chosen = h('p', { class: 'chosen', 'aria-live': 'polite' });
  const drop = h('label', { class: 'dropzone', for: 'upload-file' },
    h('span', { class: 'dropzone-main' }, T('upload.drop')),
    h('small', { class: 'muted' }, T('upload.drop_hint')));
  const dryRun = h('input', { type: 'checkbox', id: 'upload-dry-run', name: 'dry_run' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'upload-submit' }, T('upload.submit'));
  const progress = h('progress', { max: '100', value: '0', id: 'upload-progress', hidden: true });
  const progressText = h('span', { class: 'progress-text', 'aria-live': 'polite' });
  const templateBox = h('div', { class: 'template-box' });
  const message = h('div', { class: 'form-message' });
  let file = null;

  const setFile = (f) => {
    file = f || null;
    clear(chosen, file ? T('upload.chosen', { name: file.name, size: fmtSize(file.size) }) : '');
  };
  fileInput.addEventListener('change', () => setFile(fileInput.files[0]));
  for (const name of ['dragenter', 'dragover']) {
    drop.addEventListener(name, (e) => {
      e.preventDefault();
      drop.classList.add('dragging');
    });
  }
  for (const name of ['dragleave', 'drop']) {
    drop.addEventListener(name, () => drop.classList.remove('dragging'));
  }
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) setFile(e.dataTransfer.files[0]);
  });

  const syncDuty = () => {
    const duty = duties.find((d) => d.id === dutySelect.value);
    const monthly = duty ? isMonthly(duty) : true;
    periodField.hidden = !monthly;
    snapshotNote.hidden = !duty || monthly;
    periodInput.required = monthly;
    clear(templateBox, duty ? templateButton(duty, false) : null);
  };
  dutySelect.addEventListener('change', syncDuty);
  if (duties.length === 1) dutySelect.value = duties[0].id;
  syncDuty();

  const element = h('form', { class: 'upload-form', id: 'upload-form', novalidate: true },
    field('upload.duty', dutySelect), templateBox, periodField, snapshotNote,
    h('div', { class: 'field' }, h('span', { class: 'field-label', id: 'upload-file-label' }, T('upload.file')), fileInput, drop, chosen),
    h('div', { class: 'check' }, dryRun, h('label', { for: 'upload-dry-run' }, T('upload.dry_run'))),
    h('div', { class: 'actions' }, submit, progress, progressText),
    message);
  fileInput.setAttribute('aria-labelledby', 'upload-file-label');

  element.addEventListener('submit', async (e) => {
    e.preventDefault();
    message.replaceChildren();
    const duty = duties.find((d) => d.id === dutySelect.value);
    const problem = !duty ? 'upload.need_duty'
      : isMonthly(duty) && !/^\d{4}-\d{2}$/.test(periodInput.value) ? 'upload.need_period'
        : !file ? 'upload.need_file' : null;
    if (problem) {
      message.append(h('div', { class: 'error-box', role: 'alert' }, T(problem)));
      return;
    }
    const data = new FormData();
    data.append('duty', duty.id);
    if (isMonthly(duty)) data.append('period', periodInput.value);
    if (dryRun.checked) data.append('dry_run', 'true');
    data.append('file', file, file.name);
    submit.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    clear(progressText, T('upload.sending', { pct: 0 }));
    resultBox.replaceChildren();
    resultCard.hidden = true;
    try {
      const outcome = await sendUpload(data, (fraction) => {
        const pct = Math.round(fraction * 100);
        progress.value = pct;
        clear(progressText, fraction >= 1 ? T('upload.checking') : T('upload.sending', { pct }));
      });
      clear(resultBox, uploadResult(outcome));
      afterUpload();
    } catch (err) {
      clear(resultBox, errorBox(err));
    } finally {
      submit.disabled = false;
      progress.hidden = true;
      progressText.replaceChildren();
    }
    resultCard.hidden = false;
    resultCard.scrollIntoView({ block: 'start' });
  });

  return {
    element,
    choose(dutyId, period) {
      dutySelect.value = dutyId;
      syncDuty();
      if (period) periodInput.value = period;
      dutySelect.focus();
      element.scrollIntoView({ block: 'nearest' });
    },
  };
}

/**
 * Posts the form with XMLHttpRequest (for upload progress). Resolves with the outcome
 * (accepted, duplicate, dry run or refused with its problems); rejects with an ApiError.
 */
function sendUpload(data, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/uploads');
    xhr.setRequestHeader('Authorization', `Bearer ${session.token}`);
    xhr.responseType = 'text';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.upload.addEventListener('load', () => onProgress(1));
    xhr.addEventListener('error', () => reject(networkError()));
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // described by the status below
      }
      if (xhr.status === 200 && body) {
        resolve(body);
      } else if (xhr.status === 422 && body && body.error && body.error.details && body.error.details.problems) {
        resolve({ ...body.error.details, refusal: body.error });
      } else if (body && body.error) {
        if (xhr.status === 401) expireSession();
        const e = body.error;
        reject(new ApiError(xhr.status, e.code, e.message_zh, e.message_en, e.details));
      } else {
        reject(new ApiError(xhr.status, 'http', `服务器返回 ${xhr.status}`, `The server answered ${xhr.status}`));
      }
    });
    xhr.send(data);
  });
}

/** Problems from an upload outcome or from sys.submission_problems, as one shape. */
function normaliseProblems(problems) {
  return (problems || []).map((p) => ({
    row: p.row,
    column: p.column ?? p.column_key ?? null,
    column_zh: p.column_zh ?? null,
    value: p.value,
    rule: p.rule,
    message_zh: p.message_zh,
    message_en: p.message_en,
    severity: String(p.severity || 'error').toLowerCase(),
  }));
}

function problemsTable(problems) {
  return pagedTable([
    { head: 'col.row', num: true, cell: (p) => (p.row === null || p.row === undefined ? '—' : String(p.row)) },
    { head: 'col.column', cell: (p) => (p.column ? h('span', null, p.column_zh ? `${p.column_zh} ` : '', h('code', null, p.column)) : '—') },
    { head: 'col.value', class: 'cell-value', cell: (p) => (p.value === null || p.value === undefined ? '—' : h('code', null, String(p.value))) },
    { head: 'col.message', class: 'cell-message', cell: (p) => L(p.message_zh, p.message_en) },
    { head: 'col.severity', cell: (p) => badge(p.severity) },
  ], problems, { caption: t('upload.problems') });
}

function problemsDownload(submissionId) {
  const button = downloadButton(T('upload.problems_xlsx'),
    () => api(`/api/submissions/${encodeURIComponent(submissionId)}/problems?format=xlsx`, { raw: true }),
    { fallbackName: `${submissionId}_problems.xlsx`, extraClass: 'btn-problems' });
  button.id = 'problems-xlsx';
  return button;
}

/** What became of an upload: accepted (id, rows, version) or refused (its problems). */
function uploadResult(outcome) {
  const status = String(outcome.status || '').toLowerCase();
  const problems = normaliseProblems(outcome.problems);
  if (status === 'refused' || outcome.refusal) {
    return h('div', { class: 'result result-refused', id: 'upload-refused', role: 'alert' },
      h('h3', null, badge('refused'), ' ', T('upload.refused')),
      h('p', null, T('upload.refused_text', { errors: outcome.errors ?? problems.length, warnings: outcome.warnings ?? 0 })),
      h('p', { class: 'muted' }, T('upload.submission'), ': ', h('code', null, outcome.submission_id)),
      h('div', { class: 'actions' }, problemsDownload(outcome.submission_id)),
      h('h4', null, T('upload.problems')),
      h('div', { id: 'problems-table' }, problemsTable(problems)));
  }
  const facts = [
    ['upload.submission', h('code', { id: 'accepted-submission' }, outcome.submission_id)],
    ['upload.table', h('code', null, outcome.table)],
    ['col.period', outcome.period || '—'],
    ['upload.rows_read', fmtInt(outcome.rows_read)],
    ['upload.rows_stored', h('span', { id: 'accepted-rows' }, fmtInt(outcome.rows_stored))],
    ['upload.version', h('span', { id: 'accepted-version' }, outcome.version ?? '—')],
    ['upload.warnings', fmtInt(outcome.warnings)],
  ];
  const said = {
    would_be_accepted: ['upload.dry_run_ok', 'upload.dry_run_text'],
    already_accepted: ['upload.already', 'upload.already_text'],
  }[status] || ['upload.accepted', 'upload.accepted_text'];
  return h('div', { class: 'result result-accepted', id: 'upload-accepted', dataset: { status } },
    h('h3', null, badge(status || 'accepted'), ' ', T(said[0])),
    h('p', null, T(said[1])),
    h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, T(k)), h('dd', null, v)])),
    problems.length ? [h('h4', null, T('upload.problems')), problemsTable(problems)] : null);
}

/** Submissions, newest first; a click shows one with its problems. */
function submissionsTable(rows, detailBox) {
  if (!rows.length) return h('p', { class: 'muted' }, T('app.empty'));
  return pagedTable([
    { head: 'col.received', cell: (s) => fmtTime(s.received_at) },
    { head: 'col.duty', cell: (s) => s.duty },
    session.kind === 'department' ? null : { head: 'col.department', cell: (s) => s.department },
    { head: 'col.period', cell: (s) => s.period || '—' },
    { head: 'col.file', class: 'cell-file', cell: (s) => s.file_name || '—' },
    { head: 'col.status', cell: (s) => badge(String(s.status).toLowerCase()) },
    { head: 'col.rows', num: true, cell: (s) => fmtInt(s.rows ?? s.rows_stored) },
    { head: 'col.errors', num: true, cell: (s) => fmtInt(s.errors) },
    { head: 'col.submission', cell: (s) => h('code', null, s.submission_id) },
  ].filter(Boolean), rows, {
    caption: t('upload.history'),
    onRow: (s) => showSubmission(s.submission_id, detailBox),
  });
}

async function showSubmission(id, box) {
  clear(box, loadingNote());
  try {
    const { submission, problems } = await api(`/api/submissions/${encodeURIComponent(id)}`);
    const list = normaliseProblems(problems);
    const skip = new Set(['problems']);
    const facts = Object.entries(submission).filter(([k]) => !skip.has(k));
    const value = (k, v) => (k === 'status' ? badge(String(v).toLowerCase()) : fieldText(k, v));
    const close = h('button', { type: 'button', class: 'btn btn-small', onclick: () => box.replaceChildren() }, T('app.close'));
    clear(box, h('div', { class: 'detail' },
      h('div', { class: 'detail-head' }, h('h3', null, T('upload.submission'), ' ', h('code', null, id)), close),
      h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, fieldHead(k)), h('dd', null, value(k, v))])),
      list.length ? [
        h('div', { class: 'actions' }, problemsDownload(id)),
        h('h4', null, T('upload.problems')),
        problemsTable(list),
      ] : null));
    box.scrollIntoView({ block: 'nearest' });
  } catch (err) {
    clear(box, errorBox(err));
  }
}

/* ------------------------------------------------------------------ dashboard */

const dashState = { year: DEFAULT_YEAR, asOf: '' };

function renderDashboard(main) {
  const yearSelect = h('select', { id: 'dash-year' }, YEARS.map((y) => h('option', { value: String(y), selected: y === dashState.year }, String(y))));
  const asOfInput = h('input', { type: 'date', id: 'dash-as-of', value: dashState.asOf, min: '2019-01-01', max: '2030-12-31' });
  const refresh = h('button', { type: 'button', class: 'btn', id: 'dash-refresh' }, T('app.refresh'));
  const scoreBox = h('div', { id: 'scorecard-box' }, loadingNote());
  const milestoneBox = h('div', null, loadingNote());
  const complianceBox = h('div', null, loadingNote());
  const townBox = h('div', null, loadingNote());

  append(main,
    h('div', { class: 'page-head' }, h('h1', null, T('dash.title'))),
    h('div', { class: 'filters toolbar', role: 'group', 'aria-label': t('dash.title') },
      field('dash.year', yearSelect), field('dash.as_of', asOfInput, 'dash.as_of_hint'),
      h('div', { class: 'field field-button' }, refresh)),
    card('dash.scorecard', scoreBox),
    h('div', { class: 'grid-2' },
      card('dash.milestones', milestoneBox),
      card('dash.compliance', h('p', { class: 'muted' }, T('dash.compliance_intro')), complianceBox)),
    card('dash.towns', townBox));

  const load = () => {
    dashState.year = Number(yearSelect.value);
    dashState.asOf = asOfInput.value;
    const params = { year: dashState.year, as_of: dashState.asOf };
    for (const box of [scoreBox, milestoneBox, complianceBox, townBox]) clear(box, loadingNote());

    const kpis = api(`/api/kpis${query(params)}`);
    const trend = api(`/api/kpis${query({ ...params, trend: true })}`).catch(() => []);
    Promise.all([kpis, trend])
      .then(([values, trends]) => {
        clear(scoreBox, scorecard(values, trends));
        scoreBox.dataset.loaded = 'true';
        return api(`/api/kpis/towns${query(params)}`).then((towns) => clear(townBox, townBreakdown(towns, values)));
      })
      .catch((err) => {
        clear(scoreBox, errorBox(err));
        clear(townBox, errorBox(err));
      });
    api(`/api/milestones${query({ as_of: dashState.asOf })}`)
      .then((rows) => clear(milestoneBox, milestoneTimeline(rows)))
      .catch((err) => clear(milestoneBox, errorBox(err)));
    api(`/api/duties${query({ as_of: dashState.asOf })}`)
      .then((rows) => clear(complianceBox, complianceTable(rows)))
      .catch((err) => clear(complianceBox, errorBox(err)));
  };
  yearSelect.addEventListener('change', load);
  asOfInput.addEventListener('change', load);
  refresh.addEventListener('click', load);
  load();
}

/** The KPI cards: value (data-kpi, data-value for tests), target, status in words, trend. */
function scorecard(values, trends) {
  const trendById = new Map((trends || []).map((tr) => [tr.id, tr]));
  const list = h('ul', { class: 'kpi-grid', id: 'scorecard' });
  for (const k of values) {
    const tr = trendById.get(k.id);
    const points = tr ? tr.points.map((p) => (isNum(p.value) ? p.value : null)) : [];
    const extra = [];
    if (isNum(k.current)) extra.push([T('dash.current'), fmtRaw(k.current)]);
    if (isNum(k.baseline)) extra.push([T('dash.baseline'), fmtRaw(k.baseline)]);
    if (isNum(k.numerator) && isNum(k.denominator)) extra.push([T('dash.numerator'), `${fmtRaw(k.numerator)} / ${fmtRaw(k.denominator)}`]);
    const months = tr ? tr.points.map((p) => p.month) : [];
    const sparkLabel = `${t('dash.trend_label', { id: k.id })}: ${tr ? tr.points.map((p) => `${p.month} ${fmtKpi(p.value, k.unit)}`).join(', ') : t('status.no_data')}`;
    list.append(h('li', { class: `kpi kpi-${k.status}`, dataset: { id: k.id } },
      h('div', { class: 'kpi-head' },
        h('span', { class: 'kpi-id' }, k.id),
        badge(k.status)),
      h('h3', { class: 'kpi-name' }, L(k.name_zh, k.name_en)),
      h('div', { class: 'kpi-numbers' },
        h('div', { class: 'kpi-value-box' },
          h('span', { class: 'kpi-label' }, T('dash.value')),
          h('span', {
            class: 'kpi-value', dataset: { kpi: k.id, value: isNum(k.value) ? String(k.value) : '' },
          }, fmtKpi(k.value, k.unit))),
        h('div', { class: 'kpi-target-box' },
          h('span', { class: 'kpi-label' }, T('dash.target')),
          h('span', { class: 'kpi-target' }, fmtTarget(k)))),
      points.length ? h('div', { class: 'kpi-trend', title: months.length ? `${months[0]} – ${months[months.length - 1]}` : null },
        sparkline(points, { width: 200, height: 40, target: k.target, label: sparkLabel, colour: k.status === 'not_met' ? STATUS_COLOURS.not_met : '#1d4ed8' })) : null,
      extra.length ? h('dl', { class: 'kpi-extra' }, extra.map(([a, b]) => [h('dt', null, a), h('dd', null, b)])) : null,
      k.note ? h('p', { class: 'kpi-note muted' }, k.note) : null));
  }
  return list;
}

function milestoneTimeline(rows) {
  const sorted = [...rows].sort((a, b) => String(a.due).localeCompare(String(b.due)) || a.id.localeCompare(b.id, 'en', { numeric: true }));
  return h('ol', { class: 'timeline', id: 'milestones' }, sorted.map((m) => h('li', { class: `timeline-item ms-${m.status}`, dataset: { id: m.id } },
    h('span', { class: 'timeline-dot', 'aria-hidden': 'true' }),
    h('div', { class: 'timeline-body' },
      h('div', { class: 'timeline-head' }, h('strong', null, m.id), h('span', { class: 'timeline-name' }, L(m.name_zh, m.name_en)), badge(m.status)),
      h('small', { class: 'muted' },
        T('dash.due_by', { due: m.due }),
        m.completed_on ? [' · ', T('dash.completed_on', { date: m.completed_on })] : null)))));
}

/** A count that needs attention: with the status's icon and colour when it is not zero. */
function countBadge(n, status) {
  if (!n) return '0';
  return h('span', { class: `badge badge-${status}` },
    h('span', { class: 'badge-icon', 'aria-hidden': 'true' }, STATUS_ICONS[status]), fmtInt(n));
}

function complianceTable(rows) {
  const behind = (r) => (r.missing || 0) + (r.late || 0);
  const sorted = [...rows].sort((a, b) => behind(b) - behind(a) || String(a.department).localeCompare(String(b.department)));
  const meter = (v) => h('span', { class: 'meter-cell' },
    h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { class: 'meter-fill', style: `width:${isNum(v) ? Math.round(v * 100) : 0}%` })),
    fmtPercent(v));
  return dataTable([
    { head: 'col.department', cell: (r) => h('span', null, L(r.name_zh || r.department, r.name_en), h('br'), h('code', { class: 'muted' }, r.department)) },
    { head: 'dash.due_count', num: true, cell: (r) => fmtInt(r.due) },
    { head: 'dash.on_time', num: true, cell: (r) => fmtInt(r.on_time) },
    { head: 'dash.late', num: true, cell: (r) => countBadge(r.late, 'late') },
    { head: 'dash.missing', num: true, cell: (r) => countBadge(r.missing, 'missing') },
    { head: 'dash.completeness', cell: (r) => meter(r.completeness) },
    { head: 'dash.timeliness', cell: (r) => meter(r.timeliness) },
  ], sorted, { caption: t('dash.compliance'), rowClass: (r) => (behind(r) ? 'row-behind' : null), compact: true });
}

/** The KPIs that have a town breakdown: pick one; a table and a bar chart of its towns. */
function townBreakdown(towns, values) {
  const byId = new Map(values.map((k) => [k.id, k]));
  const usable = towns.filter((k) => k.towns && k.towns.length);
  if (!usable.length) return h('p', { class: 'muted' }, T('app.empty'));
  const select = h('select', { id: 'town-kpi' }, usable.map((k) => {
    const kpi = byId.get(k.id) || { name_zh: '', name_en: '' };
    return option(k.id, { zh: `${k.id} ${kpi.name_zh}`, en: `${k.id} ${kpi.name_en}` });
  }));
  const chartBox = h('div', { class: 'chart-box', id: 'town-chart' });
  const tableBox = h('div');
  let entry = usable[0];
  const drawChart = () => {
    const kpi = byId.get(entry.id) || { unit: 'ratio', target: null, name_zh: entry.id, name_en: entry.id };
    const width = Math.max(260, Math.min(720, chartBox.clientWidth || 600));
    clear(chartBox, hbars(entry.towns.map((tw) => ({
      label: tw.town, value: isNum(tw.value) ? tw.value : null, text: fmtKpi(tw.value, kpi.unit), status: tw.status,
    })), {
      width,
      target: kpi.target,
      targetLabel: `${t('dash.target')} ${fmtTarget(kpi)}`,
      label: t('dash.chart_label', { name: pick(kpi.name_zh, kpi.name_en) }),
    }));
  };
  const draw = () => {
    entry = usable.find((k) => k.id === select.value) || usable[0];
    const kpi = byId.get(entry.id) || { unit: 'ratio' };
    const has = (key) => entry.towns.some((tw) => isNum(tw[key]));
    clear(tableBox, dataTable([
      { head: 'dash.town', cell: (tw) => tw.town },
      { head: 'dash.value', num: true, cell: (tw) => h('span', { dataset: { town: tw.town } }, fmtKpi(tw.value, kpi.unit)) },
      { head: 'col.status', cell: (tw) => badge(tw.status) },
      has('current') ? { head: 'dash.current', num: true, cell: (tw) => fmtRaw(tw.current) } : null,
      has('baseline') ? { head: 'dash.baseline', num: true, cell: (tw) => fmtRaw(tw.baseline) } : null,
      has('numerator') ? { head: 'dash.numerator', num: true, cell: (tw) => fmtRaw(tw.numerator) } : null,
      has('denominator') ? { head: 'dash.denominator', num: true, cell: (tw) => fmtRaw(tw.denominator) } : null,
    ].filter(Boolean), entry.towns, { caption: t('dash.towns') }));
    drawChart();
  };
  select.addEventListener('change', draw);
  const box = h('div', { class: 'towns' },
    h('div', { class: 'filters' }, field('dash.towns_kpi', select)),
    h('div', { class: 'grid-2 grid-towns' }, tableBox, chartBox));
  // Draw once the box is in the page (so the chart knows its width), and on resizes.
  setTimeout(draw, 0);
  onResize(box, drawChart);
  onLangChange(() => {
    if (box.isConnected) drawChart();
  });
  return box;
}

/** Calls `fn` after the window is resized, while `el` is in the page. */
function onResize(el, fn) {
  let timer = null;
  const handler = () => {
    if (!el.isConnected) {
      window.removeEventListener('resize', handler);
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(fn, 150);
  };
  window.addEventListener('resize', handler);
}

/* ------------------------------------------------------------------ SQL console */

const sqlState = { text: 'SELECT town, count(*) AS villages\nFROM admin.villages\nGROUP BY town\nORDER BY town', result: null };

function sqlHistory() {
  try {
    return JSON.parse(sessionStorage.getItem(SQL_HISTORY_KEY) || '[]');
  } catch {
    return [];
  }
}

function rememberSql(entry) {
  const list = sqlHistory().filter((e) => e.sql !== entry.sql);
  list.unshift(entry);
  try {
    sessionStorage.setItem(SQL_HISTORY_KEY, JSON.stringify(list.slice(0, 50)));
  } catch {
    // storage full or refused: the history is a convenience
  }
}

function renderSql(main) {
  const editor = h('textarea', {
    id: 'sql-editor', class: 'sql-editor', spellcheck: 'false', rows: '9', value: sqlState.text,
    autocapitalize: 'off', autocomplete: 'off',
  });
  const run = h('button', { type: 'button', class: 'btn btn-primary', id: 'sql-run' }, T('sql.run'));
  const exports = ['csv', 'xlsx', 'parquet'].map((format) => {
    const button = downloadButton(T(`sql.export_${format}`), () => api('/api/query', { method: 'POST', json: { sql: editor.value, format }, raw: true }),
      { fallbackName: `query.${format}` });
    button.id = `sql-export-${format}`;
    return button;
  });
  const status = h('div', { class: 'sql-status', 'aria-live': 'polite', id: 'sql-status' });
  const resultBox = h('div', { id: 'sql-result' }, h('p', { class: 'muted' }, T('sql.nothing_yet')));
  const tablesBox = h('div', { class: 'table-tree', id: 'sql-tables' }, loadingNote());
  const historyBox = h('ol', { class: 'history', id: 'sql-history' });

  const insert = (text) => {
    const { selectionStart: s, selectionEnd: e, value } = editor;
    editor.value = value.slice(0, s) + text + value.slice(e);
    editor.focus();
    editor.selectionStart = editor.selectionEnd = s + text.length;
    sqlState.text = editor.value;
  };

  const drawHistory = () => {
    const list = sqlHistory();
    if (!list.length) {
      clear(historyBox, h('li', { class: 'muted' }, T('sql.history_empty')));
      return;
    }
    clear(historyBox, list.map((entry) => h('li', null,
      h('button', {
        type: 'button', class: 'history-item', i18n: { title: 'sql.reuse' },
        onclick: () => { editor.value = entry.sql; sqlState.text = entry.sql; editor.focus(); },
      },
      h('code', null, entry.sql),
      h('small', { class: entry.error ? 'warn-text' : 'muted' }, `${fmtTime(entry.at)} · `, entry.error ? T('status.error') : T('app.rows', { n: entry.rows }))))));
  };

  const execute = async () => {
    const sql = editor.value.trim();
    sqlState.text = editor.value;
    if (!sql) {
      clear(status, h('div', { class: 'error-box', role: 'alert' }, T('sql.empty')));
      return;
    }
    run.disabled = true;
    clear(status, h('p', { class: 'muted' }, T('sql.running')));
    const started = performance.now();
    try {
      const rows = await api('/api/query', { method: 'POST', json: { sql, format: 'json' } });
      const ms = Math.round(performance.now() - started);
      sqlState.result = { rows, ms };
      clear(status, h('p', { class: 'sql-count', id: 'sql-count', dataset: { rows: String(rows.length) } }, T('sql.result_count', { n: fmtInt(rows.length), ms })));
      clear(resultBox, resultTable(rows));
      rememberSql({ sql, at: new Date().toISOString(), rows: rows.length });
    } catch (err) {
      sqlState.result = null;
      clear(status, h('div', { id: 'sql-error' }, errorBox(err)));
      resultBox.replaceChildren();
      rememberSql({ sql, at: new Date().toISOString(), error: true });
    } finally {
      run.disabled = false;
      drawHistory();
    }
  };
  run.addEventListener('click', execute);
  editor.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      e.preventDefault();
      execute();
    }
  });
  editor.addEventListener('input', () => { sqlState.text = editor.value; });

  append(main,
    h('div', { class: 'page-head' }, h('h1', null, T('sql.title')), h('p', { class: 'muted' }, T('sql.readonly'))),
    h('div', { class: 'sql-layout' },
      h('div', { class: 'sql-main' },
        h('section', { class: 'card', 'aria-labelledby': 'sql-editor-label' },
          h('label', { for: 'sql-editor', id: 'sql-editor-label', class: 'h2-label' }, T('sql.editor')),
          editor,
          h('div', { class: 'actions' }, run, h('span', { class: 'spacer' }), exports),
          status),
        card('sql.result', resultBox)),
      h('aside', { class: 'sql-side' },
        card('sql.tables', h('p', { class: 'muted' }, T('sql.tables_hint')), tablesBox),
        card('sql.history', historyBox))));

  drawHistory();
  if (sqlState.result) {
    clear(status, h('p', { class: 'sql-count', dataset: { rows: String(sqlState.result.rows.length) } },
      T('sql.result_count', { n: fmtInt(sqlState.result.rows.length), ms: sqlState.result.ms })));
    clear(resultBox, resultTable(sqlState.result.rows));
  }
  api('/api/tables')
    .then((tables) => {
      const system = SYSTEM_TABLES.filter((name) => name !== 'sys.audit_log' || session.kind !== 'analyst');
      clear(tablesBox, tableTree(tables.map(tableName), insert),
        h('h3', { class: 'tree-group' }, T('sql.system_tables')), tableTree(system, insert));
    })
    .catch((err) => clear(tablesBox, errorBox(err)));
}

/** Rows of a query as a paged table; the columns are those of the first row, in order. */
function resultTable(rows) {
  if (!rows.length) return h('p', { class: 'muted' }, T('sql.no_rows'));
  const names = Object.keys(rows[0]);
  return pagedTable(names.map((name) => ({
    head: h('span', null, name),
    num: typeof rows[0][name] === 'number',
    cell: (r) => (r[name] === null ? h('span', { class: 'null' }, 'NULL') : cellText(r[name])),
  })), rows, { caption: t('sql.result') });
}

/** The table list beside the editor: a table opens to its columns (DESCRIBE). */
function tableTree(tables, insert) {
  const names = tables.filter(Boolean).sort();
  return h('ul', { class: 'tree' }, names.map((name) => {
    const columns = h('ul', { class: 'tree-columns', hidden: true });
    const toggle = h('button', { type: 'button', class: 'tree-table', 'aria-expanded': 'false' }, name);
    let loaded = false;
    toggle.addEventListener('click', async () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      columns.hidden = !open;
      if (!open || loaded) return;
      loaded = true;
      clear(columns, h('li', { class: 'muted' }, T('app.loading')));
      try {
        const rows = await api('/api/query', { method: 'POST', json: { sql: `DESCRIBE ${name}`, format: 'json' } });
        clear(columns, rows.map((c) => h('li', null, h('button', {
          type: 'button', class: 'tree-column', onclick: () => insert(c.column_name),
        }, h('span', null, c.column_name), ' ', h('small', { class: 'muted' }, c.data_type)))));
      } catch (err) {
        loaded = false;
        clear(columns, h('li', null, errorBox(err)));
      }
    });
    const insertTable = h('button', { type: 'button', class: 'btn btn-small tree-insert', onclick: () => insert(name), i18n: { 'aria-label': 'sql.insert', title: 'sql.insert' } }, '↵');
    return h('li', null, h('div', { class: 'tree-row' }, toggle, insertTable), columns);
  }));
}

function tableName(row) {
  if (row.table_name) return row.table_name;
  if (row.table) return row.table;
  if (row.name && row.schema) return `${row.schema}.${row.name}`;
  return row.name || row.table_name || null;
}

/* ------------------------------------------------------------------ tables and plugins */

function renderTables(main) {
  const readers = session.kind !== 'department';
  const tablesBox = h('div', null, loadingNote());
  const historyBox = h('div', { id: 'table-history', 'aria-live': 'polite' });
  const pluginsBox = h('div', null, loadingNote());
  append(main,
    h('div', { class: 'page-head' }, h('h1', null, T(readers ? 'tables.title' : 'nav.plugins'))),
    readers ? card('tables.tables', tablesBox, historyBox) : null,
    card('tables.plugins', pluginsBox));

  if (readers) {
    api('/api/tables')
      .then((tables) => clear(tablesBox, tablesList(tables, historyBox)))
      .catch((err) => clear(tablesBox, errorBox(err)));
  }
  manifests()
    .then((plugins) => clear(pluginsBox, pluginList(plugins)))
    .catch((err) => clear(pluginsBox, errorBox(err)));
}

function tablesList(tables, historyBox) {
  const known = new Set(['table', 'table_name', 'schema', 'name', 'version', 'rows']);
  const extra = tables.length ? Object.keys(tables[0]).filter((k) => !known.has(k)) : [];
  return dataTable([
    { head: 'tables.name', cell: (r) => h('code', null, tableName(r)) },
    { head: 'tables.version', num: true, cell: (r) => cellText(r.version) },
    { head: 'tables.rows', num: true, cell: (r) => fmtInt(Number(r.rows)) },
    ...extra.map((k) => ({ head: fieldHead(k), num: typeof tables[0][k] === 'number', cell: (r) => fieldText(k, r[k]) })),
    {
      head: 'col.action',
      cell: (r) => h('button', {
        type: 'button', class: 'btn btn-small', dataset: { table: tableName(r) },
        onclick: () => showHistory(tableName(r), historyBox),
      }, T('tables.history')),
    },
  ], tables, { caption: t('tables.tables') });
}

async function showHistory(name, box) {
  clear(box, loadingNote());
  try {
    const rows = await api(`/api/tables/${encodeURIComponent(name)}/history`);
    const columns = rows.length ? Object.keys(rows[0]) : [];
    clear(box, h('div', { class: 'detail' },
      h('div', { class: 'detail-head' },
        h('h3', null, T('tables.history_of', { name })),
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => box.replaceChildren() }, T('app.close'))),
      rows.length ? pagedTable(columns.map((c) => ({
        head: fieldHead(c),
        num: typeof rows[0][c] === 'number',
        cell: (r) => fieldText(c, r[c]),
      })), [...rows].reverse(), { caption: t('tables.history_of', { name }) }) : h('p', { class: 'muted' }, T('app.empty'))));
    box.scrollIntoView({ block: 'nearest' });
  } catch (err) {
    clear(box, errorBox(err));
  }
}

function pluginList(plugins) {
  const sorted = [...plugins].sort((a, b) => a.plugin_id.localeCompare(b.plugin_id));
  return h('div', { class: 'plugins' }, sorted.map((p) => {
    const m = p.manifest;
    const dept = m.department || {};
    return h('details', { class: 'plugin', dataset: { plugin: p.plugin_id } },
      h('summary', null,
        h('strong', null, p.plugin_id), ` ${m.version || p.version || ''} · `,
        L(dept.name_zh, dept.name_en), ' · ',
        h('span', { class: 'muted' }, (m.duties || []).map((d) => d.id).join(', '))),
      h('div', { class: 'plugin-body' },
        m.description ? h('p', null, m.description) : null,
        p.installed_at ? h('p', { class: 'muted' }, T('tables.installed', { at: fmtTime(p.installed_at) }), p.installed_by ? ` · ${p.installed_by}` : '') : null,
        (m.duties || []).map((d) => dutyManifest(d))));
  }));
}

function fmtType(dt) {
  if (typeof dt === 'string') return dt;
  if (dt && typeof dt.type === 'string') {
    return dt.type === 'decimal' ? `decimal(${dt.precision},${dt.scale})` : dt.type;
  }
  if (dt && typeof dt === 'object') {
    const [name, args] = Object.entries(dt)[0] || [];
    if (Array.isArray(args)) return `${name}(${args.join(',')})`;
    if (args && typeof args === 'object') return `${name}(${Object.values(args).join(',')})`;
    return name || JSON.stringify(dt);
  }
  return '';
}

function fmtRange(c) {
  const range = c.range && typeof c.range === 'object' ? c.range : c;
  if (typeof c.range === 'string') return c.range;
  const parts = [];
  const bound = (b, inc, exc) => (b ? `${b.inclusive === false ? exc : inc} ${b.value ?? b}` : null);
  const lo = bound(range.min, '≥', '>');
  const hi = bound(range.max, '≤', '<');
  if (lo) parts.push(lo);
  if (hi) parts.push(hi);
  return parts.join(', ');
}

function dutyManifest(d) {
  return h('div', { class: 'duty-manifest', dataset: { duty: d.id } },
    h('div', { class: 'detail-head' },
      h('h3', null, L(d.name_zh, d.name_en), ' ', h('code', null, d.id)),
      templateButton(d)),
    h('p', { class: 'muted' },
      T('upload.table'), ': ', h('code', null, d.table), ' · ',
      T('tables.mode'), ': ', T(isMonthly(d) ? 'tables.mode_period' : 'tables.mode_snapshot')),
    dataTable([
      { head: 'tables.key', cell: (c) => h('code', null, c.key) },
      { head: 'tables.header_zh', cell: (c) => c.header_zh },
      { head: 'tables.description', cell: (c) => c.description_en },
      { head: 'tables.type', cell: (c) => fmtType(c.data_type) },
      { head: 'tables.required', cell: (c) => (c.required ? T('app.yes') : T('app.no')) },
      { head: 'tables.allowed', cell: (c) => (c.allowed_values && c.allowed_values.length ? c.allowed_values.join('、') : '') },
      { head: 'tables.range', cell: (c) => fmtRange(c) },
    ], d.columns || [], { caption: d.id }));
}

/* ------------------------------------------------------------------ audit */

const auditState = { actor: '', action: '', from: '', to: '', limit: 200 };

function renderAudit(main) {
  const verifyBox = h('div', { id: 'audit-verify', 'aria-live': 'polite' }, loadingNote());
  const reverify = h('button', { type: 'button', class: 'btn btn-small' }, T('audit.reverify'));
  const actor = h('input', { type: 'search', id: 'audit-actor', value: auditState.actor, autocomplete: 'off' });
  const action = h('select', { id: 'audit-action' }, option('', 'upload.all'));
  const from = h('input', { type: 'date', id: 'audit-from', value: auditState.from });
  const to = h('input', { type: 'date', id: 'audit-to', value: auditState.to });
  const limit = h('select', { id: 'audit-limit' }, [50, 200, 1000, 5000].map((n) => h('option', { value: String(n), selected: n === auditState.limit }, String(n))));
  const apply = h('button', { type: 'submit', class: 'btn btn-primary' }, T('audit.apply'));
  const reset = h('button', { type: 'button', class: 'btn' }, T('audit.reset'));
  const logBox = h('div', { id: 'audit-log' }, loadingNote());
  const entryBox = h('div', { id: 'audit-entry', 'aria-live': 'polite' });
  const form = h('form', { class: 'filters', novalidate: true },
    field('audit.actor', actor), field('audit.action', action), field('audit.from', from), field('audit.to', to),
    field('audit.limit', limit), h('div', { class: 'field field-button' }, h('div', { class: 'actions' }, apply, reset)));

  append(main,
    h('div', { class: 'page-head' }, h('h1', null, T('audit.title'))),
    card('audit.verify', verifyBox, h('div', { class: 'actions' }, reverify)),
    card('audit.log', form, logBox, entryBox));

  const verify = () => {
    clear(verifyBox, loadingNote());
    api('/api/audit/verify')
      .then((result) => clear(verifyBox, verifyResult(result)))
      .catch((err) => clear(verifyBox, errorBox(err)));
  };
  reverify.addEventListener('click', verify);
  verify();

  let columns = null;
  const load = async () => {
    Object.assign(auditState, { actor: actor.value.trim(), action: action.value, from: from.value, to: to.value, limit: Number(limit.value) });
    clear(logBox, loadingNote());
    try {
      if (!columns) {
        const described = await api('/api/query', { method: 'POST', json: { sql: 'DESCRIBE sys.audit_log', format: 'json' } });
        columns = described.map((c) => c.column_name);
        const actions = await api('/api/query', { method: 'POST', json: { sql: 'SELECT DISTINCT action FROM sys.audit_log ORDER BY action', format: 'json' } })
          .catch(() => []);
        for (const a of actions) action.append(h('option', { value: a.action, selected: a.action === auditState.action }, a.action));
      }
      const sql = auditSql(columns, auditState);
      const rows = await api('/api/query', { method: 'POST', json: { sql, format: 'json' } });
      clear(logBox,
        h('p', { class: 'muted', id: 'audit-count', dataset: { rows: String(rows.length) } }, T('app.rows', { n: fmtInt(rows.length) })),
        auditTable(rows, entryBox));
    } catch (err) {
      clear(logBox, errorBox(err));
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  reset.addEventListener('click', () => {
    actor.value = '';
    action.value = '';
    from.value = '';
    to.value = '';
    load();
  });
  load();
}

/** The audit query for the filters, over the columns sys.audit_log has. */
function auditSql(columns, f) {
  const has = (c) => columns.includes(c);
  const timeColumn = ['at', 'time', 'timestamp', 'created_at'].find(has);
  const actorColumn = ['actor', 'name', 'who'].find(has);
  const where = [];
  if (f.actor && actorColumn) {
    const like = sqlString(`%${f.actor.replace(/[%_]/g, '')}%`);
    where.push(`(${actorColumn} LIKE ${like}${has('role') ? ` OR role LIKE ${like}` : ''})`);
  }
  if (f.action && has('action')) where.push(`action = ${sqlString(f.action)}`);
  if (timeColumn && f.from) where.push(`${timeColumn} >= TIMESTAMP ${sqlString(`${f.from} 00:00:00`)}`);
  if (timeColumn && f.to) where.push(`${timeColumn} < TIMESTAMP ${sqlString(`${f.to} 00:00:00`)} + INTERVAL '1 day'`);
  const order = has('seq') ? 'seq' : timeColumn || columns[0];
  return `SELECT * FROM sys.audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} DESC LIMIT ${Math.max(1, Math.min(10000, f.limit))}`;
}

/** The audit entries; long texts (SQL, hashes) are cut short, a row opens the whole entry. */
function auditTable(rows, detailBox) {
  if (!rows.length) return h('p', { class: 'muted' }, T('app.empty'));
  const names = Object.keys(rows[0]);
  const long = new Set(['target', 'sql', 'detail', 'details', 'hash', 'prev_hash', 'sha256', 'previous']);
  const text = (r, name) => (r[name] === null ? '' : (name === 'at' || name.endsWith('_at') ? fmtTime(r[name]) : cellText(r[name])));
  return pagedTable(names.map((name) => ({
    head: h('span', null, name),
    num: typeof rows[0][name] === 'number',
    cell: (r) => (long.has(name) ? h('span', { class: 'clip', title: text(r, name) }, text(r, name)) : text(r, name)),
  })), rows, {
    caption: t('audit.log'),
    onRow: (r) => {
      const close = h('button', { type: 'button', class: 'btn btn-small', onclick: () => detailBox.replaceChildren() }, T('app.close'));
      clear(detailBox, h('div', { class: 'detail' },
        h('div', { class: 'detail-head' }, h('h3', null, `#${r.seq ?? ''}`), close),
        h('dl', { class: 'facts' }, names.map((name) => [h('dt', null, name), h('dd', { class: long.has(name) ? 'mono' : null }, text(r, name) || '—')]))));
      detailBox.scrollIntoView({ block: 'nearest' });
    },
  });
}

function verifyResult(result) {
  const entries = result.entries ?? result.checked ?? result.count ?? result.verified ?? 0;
  const broken = result.first_broken ?? result.broken ?? result.first_broken_link ?? null;
  const ok = result.ok ?? (broken === null || broken === undefined);
  if (ok) {
    return h('div', { class: 'verify verify-ok', id: 'chain-status', dataset: { ok: 'true' } },
      h('span', { class: 'verify-icon', 'aria-hidden': 'true' }, '✔'),
      T('audit.verified', { n: fmtInt(Number(entries)) }));
  }
  return h('div', { class: 'verify verify-broken', id: 'chain-status', role: 'alert', dataset: { ok: 'false' } },
    h('span', { class: 'verify-icon', 'aria-hidden': 'true' }, '✘'),
    T('audit.broken', { at: typeof broken === 'object' ? JSON.stringify(broken) : String(broken) }));
}

/* ------------------------------------------------------------------ start */

async function start() {
  applyDocumentLang();
  translateTree(document);
  const skip = document.getElementById('skip-link');
  skip.dataset.i18n = 'app.skip';
  document.getElementById('brand-name').dataset.i18n = 'app.title';
  document.getElementById('brand-sub').dataset.i18n = 'app.subtitle';
  translateTree(document);
  skip.addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('hashchange', route);

  let token = null;
  try {
    token = sessionStorage.getItem(TOKEN_KEY);
  } catch {
    token = null;
  }
  if (token) {
    try {
      await signIn(token);
      return;
    } catch {
      forget();
    }
  }
  renderLogin(document.getElementById('main'));
}

start();
