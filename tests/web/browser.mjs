// browser.mjs — drives Debian's chromium through sannong's web pages as every role and
// checks what a person would see: sign-in and the role, navigation by role, the KPI
// scorecard against `sannong kpi`, a good and a bad upload, the problems and template
// downloads, the SQL console, the audit log and its chain, the English switch, and
// that no page overflows sideways at 1366×768 or 375×812 (screenshots of each), and the
// accessibility basics of every page (labels, button names, contrast, the keyboard).
//
//   SANNONG_URL=http://127.0.0.1:8090 SANNONG_TOKENS=tokens.json SANNONG_KPIS=kpis.json \
//   SANNONG_ARTIFACTS=out/ [CHROMIUM=/usr/bin/chromium] node tests/web/browser.mjs
//
// tokens.json: {"admin", "analyst", "auditor", "department": "sn_…", "department_id": "prices"}
// kpis.json:   the array printed by `sannong kpi --year 2021 --format json`.
// Exit 0 when every check passes; otherwise 1, naming each failed check.

import { readFileSync, mkdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/* ------------------------------------------------------------------ configuration */

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`browser.mjs: set ${name} (see the header of this file)`);
    process.exit(2);
  }
  return value;
}

const BASE = env('SANNONG_URL').replace(/\/+$/, '');
const TOKENS = JSON.parse(readFileSync(env('SANNONG_TOKENS'), 'utf8'));
const EXPECTED_KPIS = JSON.parse(readFileSync(env('SANNONG_KPIS'), 'utf8'));
const ARTIFACTS = env('SANNONG_ARTIFACTS');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const DEPARTMENT_ID = TOKENS.department_id || 'prices';
const DUTY = 'reference-prices';
const PERIOD = '2020-02';
const WIDE = { width: 1366, height: 768 };
const NARROW = { width: 375, height: 812 };
const WAIT = 90_000;

mkdirSync(ARTIFACTS, { recursive: true });

/* ------------------------------------------------------------------ checks */

const results = [];

/** Runs one named check; a failure is recorded (with a screenshot) and the run goes on. */
async function check(name, fn, page) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   - ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push({ name, ok: false, message: err && err.message ? err.message : String(err) });
    console.log(`FAIL - ${name}: ${err && err.message ? err.message.split('\n')[0] : err}`);
    if (page) {
      const file = join(ARTIFACTS, `failed-${name.replace(/[^\w-]+/g, '_')}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    }
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function sameNumber(a, b) {
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

/* ------------------------------------------------------------------ page helpers */

async function newPage(browser, viewport = WIDE) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale: 'zh-CN' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/the server responded with a status of (4\d\d)/.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.problems = problems;
  return page;
}

async function signIn(page, token) {
  await page.goto(`${BASE}/`);
  await page.locator('#token').fill(token);
  await page.locator('#sign-in').click();
  await page.locator('#role').waitFor();
}

async function go(page, route) {
  await page.evaluate((r) => { window.location.hash = r; }, `#/${route}`);
  await page.locator(`main[data-page="${route}"]`).waitFor();
}

async function navPages(page) {
  return page.locator('.nav-link').evaluateAll((links) => links.map((a) => a.dataset.page));
}

/** Waits until no "loading" note is left on the page. */
async function settled(page) {
  await page.waitForFunction(() => document.querySelectorAll('.loading').length === 0, null, { timeout: WAIT, polling: 250 });
}

async function noOverflow(page, what) {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  assert(scroll <= inner, `${what}: the page is ${scroll} px wide in a ${inner} px window (horizontal overflow)`);
}

/**
 * Accessibility basics of the current page: every visible input has a label, every
 * button a name, and visible text meets WCAG AA contrast against its background
 * (4.5:1, or 3:1 for large text).
 */
async function accessible(page, what) {
  // Colours are judged at rest, not halfway through a hover or focus transition.
  await page.mouse.move(0, 0);
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'), null, { timeout: WAIT });
  const problems = await page.evaluate(() => {
    const visible = (e) => e.offsetParent !== null || e.getClientRects().length > 0;
    const found = [];
    for (const input of document.querySelectorAll('input, select, textarea')) {
      if (input.type === 'hidden' || input.type === 'file' || !visible(input)) continue;
      const named = (input.labels && input.labels.length) || input.getAttribute('aria-label') || input.getAttribute('aria-labelledby');
      if (!named) found.push(`an input without a label: ${input.outerHTML.slice(0, 80)}`);
    }
    for (const button of document.querySelectorAll('button')) {
      if (visible(button) && !button.innerText.trim() && !button.getAttribute('aria-label') && !button.title) {
        found.push(`a button without a name: ${button.outerHTML.slice(0, 80)}`);
      }
    }
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
      const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    };
    const background = (e) => {
      for (let n = e; n; n = n.parentElement) {
        const c = rgb(getComputedStyle(n).backgroundColor);
        if (c.length >= 3 && (c.length === 3 || c[3] === 1)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const texts = document.querySelectorAll('button, a, label, th, td, h1, h2, h3, p, span, strong, small, li, code');
    for (const e of texts) {
      const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own || !visible(e)) continue;
      const style = getComputedStyle(e);
      const color = rgb(style.color);
      if (color.length === 4 && color[3] < 1) continue;
      const [l1, l2] = [luminance(color.slice(0, 3)), luminance(background(e))];
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) found.push(`contrast ${ratio.toFixed(2)}:1 of "${e.textContent.trim().slice(0, 30)}"`);
    }
    return found;
  });
  assert(problems.length === 0, `${what}: ${problems.length} accessibility problem(s): ${problems.slice(0, 5).join('; ')}`);
}

/** Screenshots of the current page at both widths, asserting no horizontal overflow. */
async function shoot(page, name) {
  await accessible(page, name);
  for (const [viewport, suffix] of [[WIDE, '1366'], [NARROW, '375']]) {
    await page.setViewportSize(viewport);
    await page.waitForTimeout(400);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${suffix}.png`), fullPage: true });
    await noOverflow(page, `${name} at ${viewport.width} px`);
  }
  await page.setViewportSize(WIDE);
  await page.waitForTimeout(200);
}

/** Clicks `locator` and saves the download it starts; returns the saved file's bytes. */
async function download(page, locator, name) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), locator.click()]);
  const file = join(ARTIFACTS, name);
  await dl.saveAs(file);
  const bytes = readFileSync(file);
  assert(statSync(file).size > 0, `${name}: the download is empty`);
  return { bytes, suggested: dl.suggestedFilename() };
}

function isZip(bytes) {
  return bytes.length > 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
}

/** The API straight, with a token (to build files and expected values). */
async function apiJson(path, token, init = {}) {
  const response = await fetch(`${BASE}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, ...(init.headers || {}) },
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** A CSV for the reference-prices duty built from its manifest's template columns. */
async function pricesCsv(rows) {
  const manifest = await apiJson(`/api/plugins/${encodeURIComponent(DEPARTMENT_ID)}`, TOKENS.department);
  const duty = (manifest.duties || []).find((d) => d.id === DUTY);
  assert(duty, `the manifest of plugin ${DEPARTMENT_ID} has no duty ${DUTY}`);
  const header = duty.columns.map((c) => c.header_zh);
  const lines = [header.join(',')];
  for (const row of rows) {
    lines.push(duty.columns.map((c) => {
      assert(c.key in row || !c.required, `no value for the required column ${c.key} of ${DUTY}`);
      return row[c.key] ?? '';
    }).join(','));
  }
  return `${lines.join('\n')}\n`;
}

async function upload(page, csv, fileName) {
  await page.locator('#upload-duty').selectOption(DUTY);
  await page.locator('#upload-period').fill(PERIOD);
  await page.locator('#upload-file').setInputFiles({ name: fileName, mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8') });
  await page.locator('#upload-submit').click();
  await page.locator('#upload-accepted, #upload-refused, #upload-result .error-box').first().waitFor();
}

/* ------------------------------------------------------------------ the run */

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});

try {
  const roles = {};
  for (const role of ['admin', 'analyst', 'auditor', 'department']) {
    roles[role] = await newPage(browser);
  }
  const { admin, analyst, auditor, department } = roles;

  // ---- sign-in page and wrong tokens
  await check('sign-in page and a refused token', async () => {
    const page = await newPage(browser);
    await page.goto(`${BASE}/`);
    await page.locator('#token').waitFor();
    assert((await page.locator('html').getAttribute('lang')) === 'zh-CN', 'the page is not in Chinese (lang=zh-CN) by default');
    await shoot(page, 'login');
    await page.locator('#token').fill('sn_nope_nope');
    await page.locator('#sign-in').click();
    await page.locator('.login-status .error-box').waitFor();
    const text = await page.locator('.login-status .error-box').innerText();
    assert(text.trim().length > 4, 'a refused token shows no message');
    await page.context().close();
  });

  // ---- the keyboard alone: sign in with Enter, then Tab reaches the menu with a visible focus
  await check('keyboard only: sign in and reach the menu', async () => {
    const page = await newPage(browser);
    await page.goto(`${BASE}/`);
    await page.locator('#token').focus();
    await page.keyboard.type(TOKENS.analyst);
    await page.keyboard.press('Enter');
    await page.locator('#role').waitFor();
    let reached = null;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => {
        const e = document.activeElement;
        if (!e || !e.closest('nav')) return null;
        const style = getComputedStyle(e);
        return { outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0, shadow: style.boxShadow !== 'none' };
      });
    }
    assert(reached, 'Tab never reached a link of the menu');
    assert(reached.outline || reached.shadow, 'the focused menu link shows no focus ring');
    await page.context().close();
  });

  // ---- sign in per role, the role shown, navigation by role
  const navExpected = {
    admin: { has: ['upload', 'dashboard', 'sql', 'tables', 'audit'], not: [] },
    analyst: { has: ['dashboard', 'sql', 'tables'], not: ['audit', 'upload'] },
    auditor: { has: ['dashboard', 'sql', 'tables', 'audit'], not: ['upload'] },
    department: { has: ['upload', 'dashboard'], not: ['sql', 'audit'] },
  };
  for (const role of Object.keys(roles)) {
    const page = roles[role];
    await check(`sign in as ${role}, role shown`, async () => {
      await signIn(page, TOKENS[role]);
      const shown = await page.locator('#role').getAttribute('data-role');
      const want = role === 'department' ? `department:${DEPARTMENT_ID}` : role;
      assert(shown === want, `the header shows role ${shown}, expected ${want}`);
      const label = await page.locator('#role').innerText();
      assert(label.trim().length > 0, 'the role badge is empty');
    }, page);
    await check(`navigation limited for ${role}`, async () => {
      const pages = await navPages(page);
      for (const p of navExpected[role].has) assert(pages.includes(p), `${role} has no link to ${p} (links: ${pages.join(', ')})`);
      for (const p of navExpected[role].not) assert(!pages.includes(p), `${role} sees a link to ${p} (links: ${pages.join(', ')})`);
    }, page);
  }
  await check('department opening #/sql or #/audit is refused', async () => {
    for (const route of ['sql', 'audit']) {
      await department.evaluate((r) => { window.location.hash = r; }, `#/${route}`);
      await department.locator('main .notice-warn').waitFor();
      assert(await department.locator('#sql-editor').count() === 0, 'the department sees the SQL editor');
    }
  }, department);

  // ---- the dashboard first, before the upload changes prices.reference (T13)
  await check('dashboard scorecard equals sannong kpi', async () => {
    await go(analyst, 'dashboard');
    await analyst.locator('#scorecard-box[data-loaded="true"]').waitFor();
    const shown = await analyst.locator('[data-kpi]').evaluateAll((els) => els.map((e) => ({ id: e.dataset.kpi, value: e.dataset.value })));
    const byId = new Map(shown.map((k) => [k.id, k.value]));
    assert(shown.length === EXPECTED_KPIS.length, `the scorecard shows ${shown.length} KPIs, sannong kpi printed ${EXPECTED_KPIS.length}`);
    const wrong = [];
    for (const k of EXPECTED_KPIS) {
      if (!byId.has(k.id)) {
        wrong.push(`${k.id}: missing`);
        continue;
      }
      const raw = byId.get(k.id);
      if (k.value === null || k.value === undefined) {
        if (raw !== '') wrong.push(`${k.id}: shown ${raw}, expected no value`);
      } else if (raw === '' || !sameNumber(Number(raw), k.value)) {
        wrong.push(`${k.id}: shown ${raw === '' ? 'no value' : raw}, expected ${k.value}`);
      }
    }
    assert(wrong.length === 0, `KPI values differ: ${wrong.join('; ')}`);
    const statuses = await analyst.locator('#scorecard .kpi .badge').allInnerTexts();
    assert(statuses.every((s) => s.trim().length > 1), 'a KPI status has no words (colour alone)');
  }, analyst);
  await check('dashboard milestones, compliance, towns and sparklines', async () => {
    await settled(analyst);
    const milestones = await analyst.locator('#milestones li').count();
    assert(milestones === 13, `the milestone timeline has ${milestones} items, expected 13`);
    assert(await analyst.locator('.kpi-trend svg').count() > 0, 'no KPI trend sparkline is drawn');
    assert(await analyst.locator('#town-chart svg rect').count() > 0, 'the by-town bar chart has no bars');
    const errors = await analyst.locator('.error-box').allInnerTexts();
    assert(errors.length === 0, `the dashboard shows an error: ${errors.join(' | ')}`);
  }, analyst);
  await check('dashboard screenshots, no overflow', () => shoot(analyst, 'dashboard'), analyst);

  // ---- the upload portal
  await check('department upload portal lists its duties', async () => {
    await go(department, 'upload');
    await settled(department);
    const options = await department.locator('#upload-duty option').evaluateAll((os) => os.map((o) => o.value));
    assert(options.includes(DUTY), `the duty list has no ${DUTY} (has ${options.join(', ')})`);
    // The sample county never sent PERIOD: missing, or late once this test has sent it.
    const status = await department.locator('.duty-periods tbody tr').evaluateAll((trs, period) => {
      const row = trs.find((tr) => [...tr.cells].some((td) => td.innerText.trim() === period));
      const badge = row && row.querySelector('.badge');
      return badge ? badge.dataset.status : null;
    }, PERIOD);
    assert(status === 'missing' || status === 'late', `my duties show period ${PERIOD} as ${status}, expected missing (or late after an earlier run)`);
  }, department);
  await check('upload screenshots, no overflow', () => shoot(department, 'upload'), department);

  await check('department downloads a blank template (XLSX)', async () => {
    const { bytes } = await download(department, department.locator(`.duty-list .btn-template[data-duty="${DUTY}"]`), 'template-reference-prices.xlsx');
    assert(isZip(bytes), 'the template does not start with PK (not an XLSX)');
  }, department);

  await check('department uploads a bad file and sees its problems', async () => {
    const csv = await pricesCsv([
      { month: `${PERIOD}-01`, service: '上行快递1kg', price_yuan: '-3.00' },
      { month: '2020-03-01', service: '上行快递1kg', price_yuan: '6.50' },
    ]);
    await upload(department, csv, 'bad-prices.csv');
    assert(await department.locator('#upload-refused').count() === 1, `the bad file was not refused: ${await department.locator('#upload-result').innerText()}`);
    const headers = await department.locator('#problems-table th').allInnerTexts();
    assert(headers.length >= 4, `the problems table has columns ${headers.join(', ')}`);
    const rows = await department.locator('#problems-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.innerText.trim())));
    assert(rows.length >= 2, `the problems table has ${rows.length} rows, expected at least 2`);
    const negative = rows.find((r) => r[1].includes('price_yuan') && r[2].includes('-3'));
    assert(negative, `no problem names column price_yuan with value -3.00: ${JSON.stringify(rows)}`);
    assert(/^\d+$/.test(negative[0]), `the problem's row is not a number: ${negative[0]}`);
    const month = rows.find((r) => r[1].includes('month') && r[2].includes('2020-03'));
    assert(month, `no problem names the month outside the period: ${JSON.stringify(rows)}`);
    assert(rows.every((r) => r[3].length > 0), 'a problem has no message');
    await shoot(department, 'upload-refused');
  }, department);
  await check('department downloads the problems (XLSX)', async () => {
    const { bytes } = await download(department, department.locator('#problems-xlsx'), 'problems.xlsx');
    assert(isZip(bytes), 'the problems file does not start with PK (not an XLSX)');
  }, department);

  await check('department uploads a good file and sees it accepted', async () => {
    const csv = await pricesCsv([{ month: `${PERIOD}-01`, service: '上行快递1kg', price_yuan: '6.50' }]);
    await upload(department, csv, 'good-prices-2020-02.csv');
    const accepted = department.locator('#upload-accepted');
    assert(await accepted.count() === 1, `the good file was not accepted: ${await department.locator('#upload-result').innerText()}`);
    const status = await accepted.getAttribute('data-status');
    assert(status === 'accepted' || status === 'already_accepted', `the good file's outcome is ${status}`);
    const submission = (await department.locator('#accepted-submission').innerText()).trim();
    assert(submission.length > 0, 'the accepted submission shows no id');
    const version = (await department.locator('#accepted-version').innerText()).trim();
    assert(/^\d+$/.test(version), `the accepted submission shows table version "${version}"`);
    await shoot(department, 'upload-accepted');
  }, department);
  await check('department submission history opens a submission', async () => {
    await department.locator('.paged tbody tr.clickable').first().waitFor();
    await department.locator('.paged tbody tr.clickable').first().click();
    await department.locator('#submission-detail .detail').waitFor();
  }, department);

  // ---- tables and plugins
  await check('tables and plugins page (analyst) with a table history', async () => {
    await go(analyst, 'tables');
    await settled(analyst);
    assert(await analyst.locator('.plugin').count() > 0, 'no installed plugin listed');
    await analyst.locator('button[data-table="prices.reference"]').click();
    await analyst.locator('#table-history .detail tbody tr').first().waitFor();
    await analyst.locator('.plugin[data-plugin="prices"] summary').click();
    await analyst.locator('.duty-manifest[data-duty="reference-prices"] tbody tr').first().waitFor();
  }, analyst);
  await check('tables screenshots, no overflow', () => shoot(analyst, 'tables'), analyst);
  await check('plugins page (department) lists templates', async () => {
    await go(department, 'tables');
    await settled(department);
    assert(await department.locator('.plugin').count() > 0, 'no plugin listed for the department');
    await shoot(department, 'plugins');
  }, department);

  // ---- the SQL console
  const sql = 'SELECT * FROM admin.villages ORDER BY village_code';
  await check('analyst runs a query and sees the expected row count', async () => {
    const expected = (await apiJson('/api/query', TOKENS.analyst, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sql, format: 'json' }),
    })).length;
    await go(analyst, 'sql');
    await analyst.locator('#sql-editor').fill(sql);
    await analyst.locator('#sql-editor').press('Control+Enter');
    await analyst.locator('#sql-count').waitFor();
    const shown = Number(await analyst.locator('#sql-count').getAttribute('data-rows'));
    assert(shown === expected, `the console shows ${shown} rows, the API answers ${expected}`);
    const bodyRows = await analyst.locator('#sql-result tbody tr').count();
    assert(bodyRows === Math.min(expected, 50), `the result table shows ${bodyRows} rows on its first page`);
    assert(await analyst.locator('#sql-history li button').count() > 0, 'the query is not in the history');
  }, analyst);
  await check('analyst exports the query as CSV', async () => {
    const { bytes } = await download(analyst, analyst.locator('#sql-export-csv'), 'query.csv');
    assert(bytes.toString('utf8').includes('village_code'), 'the CSV has no header village_code');
  }, analyst);
  await check('sql screenshots, no overflow', async () => {
    await analyst.locator('#sql-tables .tree-table').first().click();
    await analyst.locator('#sql-tables .tree-column').first().waitFor();
    await shoot(analyst, 'sql');
  }, analyst);
  await check('a bad query shows an error', async () => {
    await analyst.locator('#sql-editor').fill('SELECT * FROM no_such_schema.no_such_table');
    await analyst.locator('#sql-run').click();
    await analyst.locator('#sql-error .error-box').waitFor();
    const text = await analyst.locator('#sql-error .error-box').innerText();
    assert(text.trim().length > 10, `the error says too little: ${text}`);
    await shoot(analyst, 'sql-error');
  }, analyst);

  // ---- the audit log
  await check('auditor sees the audit log and chain verified', async () => {
    await go(auditor, 'audit');
    await auditor.locator('#chain-status').waitFor();
    const ok = await auditor.locator('#chain-status').getAttribute('data-ok');
    const text = await auditor.locator('#chain-status').innerText();
    assert(ok === 'true', `the chain is not verified: ${text}`);
    assert(/chain verified|哈希链校验通过/i.test(text), `the verification does not say so: ${text}`);
    await auditor.locator('#audit-count').waitFor();
    const rows = Number(await auditor.locator('#audit-count').getAttribute('data-rows'));
    assert(rows > 0, 'the audit log shows no entry');
  }, auditor);
  await check('auditor filters the audit log by action and actor', async () => {
    await auditor.locator('#audit-action').selectOption('query');
    await auditor.locator('#audit-actor').fill('analyst');
    await auditor.locator('form.filters button[type="submit"]').click();
    await auditor.waitForFunction(() => {
      const table = document.querySelector('#audit-log table');
      if (!table) return false;
      const heads = [...table.tHead.rows[0].cells].map((c) => c.innerText.trim());
      const action = heads.indexOf('action');
      const rows = [...table.tBodies[0].rows];
      return rows.length > 0 && rows.every((r) => r.cells[action].innerText.trim() === 'query'
        && /analyst/.test(r.innerText));
    }, null, { timeout: WAIT, polling: 250 });
  }, auditor);
  await check('audit screenshots, no overflow', () => shoot(auditor, 'audit'), auditor);
  await check('analyst has no audit page', async () => {
    await analyst.evaluate(() => { window.location.hash = '#/audit'; });
    await analyst.locator('main .notice-warn').waitFor();
    assert(await analyst.locator('#chain-status').count() === 0, 'the analyst sees the chain status');
  }, analyst);

  // ---- the English switch
  await check('the English switch changes the UI text and is remembered', async () => {
    await go(admin, 'dashboard');
    const before = await admin.locator('.nav-link[data-page="dashboard"]').innerText();
    await admin.locator('#lang-switch').click();
    assert((await admin.locator('html').getAttribute('lang')) === 'en', 'html lang is not en after the switch');
    const after = await admin.locator('.nav-link[data-page="dashboard"]').innerText();
    assert(after.trim() === 'Dashboard' && before.trim() !== after.trim(), `the navigation reads "${after}" (was "${before}")`);
    await admin.locator('#scorecard-box[data-loaded="true"]').waitFor();
    const status = await admin.locator('#scorecard .badge').first().innerText();
    assert(/Met|Not met|No data/.test(status), `a KPI status is not in English: ${status}`);
    await admin.reload();
    await admin.locator('#role').waitFor();
    assert((await admin.locator('html').getAttribute('lang')) === 'en', 'English is not remembered after a reload');
    await settled(admin);
    await shoot(admin, 'dashboard-en');
    await admin.locator('#lang-switch').click();
    assert((await admin.locator('html').getAttribute('lang')) === 'zh-CN', 'cannot switch back to Chinese');
  }, admin);
  await check('admin sees the upload portal for every department', async () => {
    await go(admin, 'upload');
    await settled(admin);
    const options = await admin.locator('#upload-duty option').count();
    assert(options > 5, `the admin's duty list has ${options - 1} duties`);
    await shoot(admin, 'upload-admin');
  }, admin);

  await check('sign out returns to the sign-in page', async () => {
    await admin.locator('#sign-out').click();
    await admin.locator('#token').waitFor();
    const stored = await admin.evaluate(() => sessionStorage.getItem('sannong.token'));
    assert(stored === null, 'the token is still in sessionStorage after signing out');
  }, admin);

  await check('no script errors on any page', async () => {
    const all = Object.entries(roles).flatMap(([role, page]) => page.problems.map((p) => `${role}: ${p}`));
    assert(all.length === 0, all.join('; '));
  });
} finally {
  await browser.close();
}

const failed = results.filter((r) => !r.ok);
writeFileSync(join(ARTIFACTS, 'results.json'), JSON.stringify(results, null, 2));
console.log('');
for (const r of failed) console.log(`failed check: ${r.name}: ${r.message}`);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
