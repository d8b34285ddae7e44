// i18n.js — the words of the pages in Chinese (the default) and English, the current
// language (remembered in localStorage), and the switch that re-labels the page in place.
//
// Text that must follow the language is put in the page as
//   T(key, params)  → <span data-i18n="key">…</span>     (words of the pages)
//   L(zh, en)       → <span data-zh="…" data-en="…">…</span> (words that come from the API)
// and translateTree() rewrites them all when the language changes, so nothing on the
// page (a query's results, an upload's problems) has to be fetched or drawn again.

const STORAGE_KEY = 'sannong.lang';

const WORDS = {
  zh: {
    'app.title': 'sannong 三农数据平台',
    'app.subtitle': '电子商务进农村综合示范',
    'app.skip': '跳到主要内容',
    'app.loading': '加载中…',
    'app.none': '无',
    'app.empty': '暂无数据',
    'app.close': '关闭',
    'app.forbidden': '当前角色无权访问此页面。',
    'app.notfound': '没有这个页面。',
    'app.error': '出错了',
    'app.expired': '登录已失效，请重新登录。',
    'app.refresh': '刷新',
    'app.download': '下载',
    'app.downloading': '正在下载…',
    'app.rows': '{n} 行',
    'app.page': '第 {page} / {pages} 页',
    'app.prev': '上一页',
    'app.next': '下一页',
    'app.yes': '是',
    'app.no': '否',
    'app.details': '详情',
    'lang.switch': 'English',
    'lang.switch_label': '切换语言为英文',

    'nav.label': '主导航',
    'nav.upload': '数据上报',
    'nav.dashboard': '指标看板',
    'nav.sql': 'SQL 查询',
    'nav.tables': '数据表与插件',
    'nav.plugins': '插件与模板',
    'nav.audit': '审计日志',

    'role.admin': '管理员',
    'role.analyst': '分析员',
    'role.auditor': '审计员',
    'role.department': '部门：{id}',
    'role.label': '角色',
    'county.label': '县',

    'login.title': '登录',
    'login.intro': '请输入管理员发给您的访问令牌（以 sn_ 开头）。令牌只保存在本浏览器标签页中，关闭后需重新登录。',
    'login.token': '访问令牌',
    'login.submit': '登录',
    'login.signing': '正在验证…',
    'login.bad_format': '令牌应以 sn_ 开头。',
    'logout': '退出登录',

    'status.on_time': '按时',
    'status.late': '逾期提交',
    'status.missing': '未提交',
    'status.not_yet_due': '未到期',
    'status.met': '达标',
    'status.not_met': '未达标',
    'status.no_data': '无数据',
    'status.accepted': '已接收',
    'status.refused': '已拒绝',
    'status.already_accepted': '此前已接收',
    'status.would_be_accepted': '可以接收',
    'status.failed': '失败',
    'status.done_on_time': '按期完成',
    'status.done_late': '逾期完成',
    'status.overdue': '已逾期',
    'status.in_progress': '进行中',
    'status.not_started': '未开始',
    'status.not_reported': '未填报',
    'status.error': '错误',
    'status.warning': '警告',

    'upload.title': '数据上报',
    'upload.intro': '选择上报任务和所属期，上传 CSV、XLSX 或 JSON 文件。文件要么整体接收，要么整体拒绝并列出每个问题。',
    'upload.duties': '我的上报任务',
    'upload.duties_intro': '每月任务在次月10日前到期。点“上报”可直接填好下面的表单。',
    'upload.filter_status': '按状态筛选',
    'upload.filter_department': '按部门筛选',
    'upload.all': '全部',
    'upload.form': '上传文件',
    'upload.outcome': '上报结果',
    'upload.duty': '上报任务',
    'upload.period': '所属期（年-月）',
    'upload.period_hint': '仅按月上报的任务需要填写；快照任务每次上传替换整张表。',
    'upload.period_none': '此任务为快照任务，无需所属期。',
    'upload.file': '文件',
    'upload.drop': '把文件拖到这里，或点击选择文件',
    'upload.drop_hint': '支持 CSV（UTF-8/GBK）、XLSX、JSON',
    'upload.chosen': '已选择：{name}（{size}）',
    'upload.dry_run': '仅检查，不写入（试运行）',
    'upload.submit': '上传',
    'upload.sending': '正在上传… {pct}%',
    'upload.checking': '文件已送达，正在检查…',
    'upload.need_file': '请先选择一个文件。',
    'upload.need_duty': '请选择上报任务。',
    'upload.need_period': '此任务按月上报，请填写所属期。',
    'upload.template': '下载空白模板',
    'upload.template_for': '下载“{name}”的空白模板',
    'upload.report': '上报',
    'upload.accepted': '上报成功',
    'upload.accepted_text': '文件已接收并写入数据表。',
    'upload.dry_run_ok': '试运行通过，未写入任何数据',
    'upload.dry_run_text': '文件通过了全部检查；取消“仅检查”后再上传即可写入。',
    'upload.already': '此文件此前已接收',
    'upload.already_text': '同一文件已经上报过，数据没有变化。下面是当时的提交。',
    'upload.refused': '上报被拒绝，未写入任何数据',
    'upload.refused_text': '共 {errors} 个错误、{warnings} 个警告。请按下表修改文件后重新上传。',
    'upload.problems': '问题清单',
    'upload.problems_xlsx': '下载问题清单（XLSX）',
    'upload.submission': '提交编号',
    'upload.rows': '行数',
    'upload.rows_read': '读取行数',
    'upload.rows_stored': '写入行数',
    'upload.table': '数据表',
    'upload.version': '表版本',
    'upload.warnings': '警告',
    'upload.history': '我的提交记录',
    'upload.history_all': '提交记录',
    'upload.no_duties': '当前令牌没有可上报的任务。',
    'upload.count': '{n} 条',

    'col.row': '行号',
    'col.column': '列',
    'col.value': '值',
    'col.message': '问题说明',
    'col.severity': '级别',
    'col.rule': '规则',
    'col.duty': '任务',
    'col.department': '部门',
    'col.period': '所属期',
    'col.due': '截止日期',
    'col.status': '状态',
    'col.received': '提交时间',
    'col.submission': '提交编号',
    'col.file': '文件',
    'col.rows': '行数',
    'col.errors': '错误',
    'col.uploader': '上报人',
    'col.action': '',

    'dash.title': '指标看板',
    'dash.year': '考核年度',
    'dash.as_of': '截至日期',
    'dash.as_of_hint': '留空表示当前数据',
    'dash.scorecard': '绩效指标（T1–T16）',
    'dash.value': '实际值',
    'dash.target': '目标',
    'dash.baseline': '基期',
    'dash.current': '本期',
    'dash.trend': '逐月走势',
    'dash.trend_label': '{id} 逐月走势',
    'dash.milestones': '实施进度（M1–M13）',
    'dash.due_by': '截止 {due}',
    'dash.completed_on': '完成于 {date}',
    'dash.compliance': '各部门上报情况',
    'dash.compliance_intro': '逾期或缺报的部门排在前面。',
    'dash.due_count': '应报',
    'dash.on_time': '按时',
    'dash.late': '逾期',
    'dash.missing': '缺报',
    'dash.completeness': '完整率',
    'dash.timeliness': '及时率',
    'dash.towns': '分镇情况',
    'dash.towns_kpi': '指标',
    'dash.town': '镇',
    'dash.chart_label': '{name}：各镇实际值',
    'dash.numerator': '分子',
    'dash.denominator': '分母',

    'sql.title': 'SQL 查询',
    'sql.editor': 'SQL 语句（Ctrl+Enter 运行）',
    'sql.run': '运行',
    'sql.running': '正在运行…',
    'sql.tables': '数据表',
    'sql.tables_hint': '点表名查看列，点列名插入到语句中。',
    'sql.insert': '插入',
    'sql.result': '查询结果',
    'sql.result_count': '{n} 行，用时 {ms} 毫秒',
    'sql.export': '导出',
    'sql.export_csv': '导出 CSV',
    'sql.export_xlsx': '导出 XLSX',
    'sql.export_parquet': '导出 Parquet',
    'sql.history': '本次会话的查询历史',
    'sql.history_empty': '还没有运行过查询。',
    'sql.reuse': '重新使用这条语句',
    'sql.empty': '请输入 SQL 语句。',
    'sql.no_rows': '查询没有返回任何行。',
    'sql.readonly': '只读：SELECT、WITH、EXPLAIN、DESCRIBE、SHOW。',
    'sql.system_tables': '系统表',
    'sql.nothing_yet': '运行一条查询，结果显示在这里。',

    'tables.title': '数据表与插件',
    'tables.tables': '数据表',
    'tables.name': '表名',
    'tables.version': '当前版本',
    'tables.rows': '行数',
    'tables.history': '版本历史',
    'tables.history_of': '{name} 的版本历史',
    'tables.plugins': '已安装插件',
    'tables.plugin': '插件',
    'tables.department': '部门',
    'tables.duties': '上报任务',
    'tables.installed': '安装于 {at}',
    'tables.mode': '方式',
    'tables.mode_period': '按月（替换该月数据）',
    'tables.mode_snapshot': '快照（替换整张表）',
    'tables.columns': '列',
    'tables.key': '英文键',
    'tables.header_zh': '中文表头',
    'tables.description': '说明',
    'tables.type': '类型',
    'tables.required': '必填',
    'tables.allowed': '允许值',
    'tables.range': '范围',
    'tables.show_manifest': '查看任务与模板',

    'audit.title': '审计日志',
    'audit.verify': '哈希链校验',
    'audit.verified': '哈希链校验通过：共 {n} 条记录，完整无篡改。',
    'audit.broken': '哈希链断裂！第一个断点：{at}',
    'audit.reverify': '重新校验',
    'audit.filters': '筛选',
    'audit.actor': '操作人',
    'audit.action': '操作',
    'audit.from': '起始日期',
    'audit.to': '结束日期',
    'audit.limit': '最多显示',
    'audit.apply': '查询',
    'audit.reset': '清除筛选',
    'audit.log': '日志记录',

    'field.bytes': '大小',
    'field.files': '文件数',
    'field.last_committed_at': '最近写入',
    'field.mode': '方式',
    'field.committed_at': '写入时间',
    'field.department': '部门',
    'field.duty': '任务',
    'field.file_name': '文件',
    'field.operation': '操作',
    'field.period': '所属期',
    'field.rows': '行数',
    'field.submission_id': '提交编号',
    'field.uploader': '上报人',
    'field.version': '版本',
    'field.errors': '错误',
    'field.warnings': '警告',
    'field.status': '状态',
    'field.received_at': '收到时间',
    'field.finished_at': '处理完成',
    'field.file_sha256': '文件 SHA-256',
    'field.plugin_id': '插件',
    'field.plugin_version': '插件版本',
    'field.plugin_sha256': '插件 SHA-256',
    'field.table_name': '数据表',
  },
  en: {
    'app.title': 'sannong data platform',
    'app.subtitle': 'E-commerce into rural areas',
    'app.skip': 'Skip to main content',
    'app.loading': 'Loading…',
    'app.none': 'none',
    'app.empty': 'No data',
    'app.close': 'Close',
    'app.forbidden': 'Your role may not open this page.',
    'app.notfound': 'No such page.',
    'app.error': 'Error',
    'app.expired': 'Your sign-in has expired. Please sign in again.',
    'app.refresh': 'Refresh',
    'app.download': 'Download',
    'app.downloading': 'Downloading…',
    'app.rows': '{n} rows',
    'app.page': 'Page {page} of {pages}',
    'app.prev': 'Previous',
    'app.next': 'Next',
    'app.yes': 'yes',
    'app.no': 'no',
    'app.details': 'Details',
    'lang.switch': '中文',
    'lang.switch_label': 'Switch the language to Chinese',

    'nav.label': 'Main navigation',
    'nav.upload': 'Upload',
    'nav.dashboard': 'Dashboard',
    'nav.sql': 'SQL console',
    'nav.tables': 'Tables & plugins',
    'nav.plugins': 'Plugins & templates',
    'nav.audit': 'Audit log',

    'role.admin': 'Administrator',
    'role.analyst': 'Analyst',
    'role.auditor': 'Auditor',
    'role.department': 'Department: {id}',
    'role.label': 'Role',
    'county.label': 'County',

    'login.title': 'Sign in',
    'login.intro': 'Enter the access token your administrator gave you (it starts with sn_). It is kept in this browser tab only; you sign in again after closing it.',
    'login.token': 'Access token',
    'login.submit': 'Sign in',
    'login.signing': 'Checking…',
    'login.bad_format': 'A token starts with sn_.',
    'logout': 'Sign out',

    'status.on_time': 'On time',
    'status.late': 'Late',
    'status.missing': 'Missing',
    'status.not_yet_due': 'Not yet due',
    'status.met': 'Met',
    'status.not_met': 'Not met',
    'status.no_data': 'No data',
    'status.accepted': 'Accepted',
    'status.refused': 'Refused',
    'status.already_accepted': 'Accepted before',
    'status.would_be_accepted': 'Would be accepted',
    'status.failed': 'Failed',
    'status.done_on_time': 'Done on time',
    'status.done_late': 'Done late',
    'status.overdue': 'Overdue',
    'status.in_progress': 'In progress',
    'status.not_started': 'Not started',
    'status.not_reported': 'Not reported',
    'status.error': 'Error',
    'status.warning': 'Warning',

    'upload.title': 'Upload a report',
    'upload.intro': 'Choose the duty and its period and upload a CSV, XLSX or JSON file. A file is accepted whole, or refused whole with every problem listed.',
    'upload.duties': 'My duties',
    'upload.duties_intro': 'Monthly reports are due on the 10th of the following month. “Report” fills in the form below.',
    'upload.filter_status': 'Filter by status',
    'upload.filter_department': 'Filter by department',
    'upload.all': 'All',
    'upload.form': 'Upload a file',
    'upload.outcome': 'Outcome',
    'upload.duty': 'Duty',
    'upload.period': 'Period (year-month)',
    'upload.period_hint': 'Only for monthly duties; a snapshot duty replaces the whole table.',
    'upload.period_none': 'This is a snapshot duty: no period.',
    'upload.file': 'File',
    'upload.drop': 'Drop a file here, or click to choose one',
    'upload.drop_hint': 'CSV (UTF-8/GBK), XLSX or JSON',
    'upload.chosen': 'Chosen: {name} ({size})',
    'upload.dry_run': 'Check only, write nothing (dry run)',
    'upload.submit': 'Upload',
    'upload.sending': 'Uploading… {pct}%',
    'upload.checking': 'File received, checking…',
    'upload.need_file': 'Choose a file first.',
    'upload.need_duty': 'Choose a duty.',
    'upload.need_period': 'This duty is monthly: give its period.',
    'upload.template': 'Download blank template',
    'upload.template_for': 'Download the blank template of “{name}”',
    'upload.report': 'Report',
    'upload.accepted': 'Upload accepted',
    'upload.accepted_text': 'The file was accepted and written to the table.',
    'upload.dry_run_ok': 'Dry run passed: nothing was written',
    'upload.dry_run_text': 'The file passes every check; upload it again without “check only” to write it.',
    'upload.already': 'This file was accepted before',
    'upload.already_text': 'The same file was reported already; nothing changed. Its earlier submission is below.',
    'upload.refused': 'Upload refused: nothing was written',
    'upload.refused_text': '{errors} error(s), {warnings} warning(s). Fix the file as listed below and upload it again.',
    'upload.problems': 'Problems',
    'upload.problems_xlsx': 'Download problems (XLSX)',
    'upload.submission': 'Submission',
    'upload.rows': 'Rows',
    'upload.rows_read': 'Rows read',
    'upload.rows_stored': 'Rows stored',
    'upload.table': 'Table',
    'upload.version': 'Table version',
    'upload.warnings': 'Warnings',
    'upload.history': 'My submissions',
    'upload.history_all': 'Submissions',
    'upload.no_duties': 'This token has no duties to report.',
    'upload.count': '{n} items',

    'col.row': 'Row',
    'col.column': 'Column',
    'col.value': 'Value',
    'col.message': 'Problem',
    'col.severity': 'Severity',
    'col.rule': 'Rule',
    'col.duty': 'Duty',
    'col.department': 'Department',
    'col.period': 'Period',
    'col.due': 'Due',
    'col.status': 'Status',
    'col.received': 'Received',
    'col.submission': 'Submission',
    'col.file': 'File',
    'col.rows': 'Rows',
    'col.errors': 'Errors',
    'col.uploader': 'Uploaded by',
    'col.action': '',

    'dash.title': 'Dashboard',
    'dash.year': 'Year',
    'dash.as_of': 'As of',
    'dash.as_of_hint': 'Empty: the current data',
    'dash.scorecard': 'Performance targets (T1–T16)',
    'dash.value': 'Value',
    'dash.target': 'Target',
    'dash.baseline': 'Baseline',
    'dash.current': 'Current',
    'dash.trend': 'Month by month',
    'dash.trend_label': '{id} month by month',
    'dash.milestones': 'Milestones (M1–M13)',
    'dash.due_by': 'due {due}',
    'dash.completed_on': 'completed {date}',
    'dash.compliance': 'Reporting by department',
    'dash.compliance_intro': 'Departments that are late or missing reports come first.',
    'dash.due_count': 'Due',
    'dash.on_time': 'On time',
    'dash.late': 'Late',
    'dash.missing': 'Missing',
    'dash.completeness': 'Completeness',
    'dash.timeliness': 'Timeliness',
    'dash.towns': 'By town',
    'dash.towns_kpi': 'Target',
    'dash.town': 'Town',
    'dash.chart_label': '{name}: value by town',
    'dash.numerator': 'Numerator',
    'dash.denominator': 'Denominator',

    'sql.title': 'SQL console',
    'sql.editor': 'SQL (Ctrl+Enter runs it)',
    'sql.run': 'Run',
    'sql.running': 'Running…',
    'sql.tables': 'Tables',
    'sql.tables_hint': 'Click a table for its columns, a column to insert it.',
    'sql.insert': 'Insert',
    'sql.result': 'Result',
    'sql.result_count': '{n} rows in {ms} ms',
    'sql.export': 'Export',
    'sql.export_csv': 'Export CSV',
    'sql.export_xlsx': 'Export XLSX',
    'sql.export_parquet': 'Export Parquet',
    'sql.history': 'Queries of this session',
    'sql.history_empty': 'No query run yet.',
    'sql.reuse': 'Use this query again',
    'sql.empty': 'Write a SQL statement first.',
    'sql.no_rows': 'The query returned no rows.',
    'sql.readonly': 'Read-only: SELECT, WITH, EXPLAIN, DESCRIBE, SHOW.',
    'sql.system_tables': 'System tables',
    'sql.nothing_yet': 'Run a query: its rows appear here.',

    'tables.title': 'Tables and plugins',
    'tables.tables': 'Tables',
    'tables.name': 'Table',
    'tables.version': 'Version',
    'tables.rows': 'Rows',
    'tables.history': 'History',
    'tables.history_of': 'History of {name}',
    'tables.plugins': 'Installed plugins',
    'tables.plugin': 'Plugin',
    'tables.department': 'Department',
    'tables.duties': 'Duties',
    'tables.installed': 'installed {at}',
    'tables.mode': 'Mode',
    'tables.mode_period': 'monthly (replaces that month)',
    'tables.mode_snapshot': 'snapshot (replaces the table)',
    'tables.columns': 'Columns',
    'tables.key': 'Key',
    'tables.header_zh': 'Chinese header',
    'tables.description': 'Description',
    'tables.type': 'Type',
    'tables.required': 'Required',
    'tables.allowed': 'Allowed values',
    'tables.range': 'Range',
    'tables.show_manifest': 'Duties and templates',

    'audit.title': 'Audit log',
    'audit.verify': 'Hash chain',
    'audit.verified': 'Chain verified: all {n} entries intact.',
    'audit.broken': 'The chain is BROKEN. First broken link: {at}',
    'audit.reverify': 'Verify again',
    'audit.filters': 'Filters',
    'audit.actor': 'Actor',
    'audit.action': 'Action',
    'audit.from': 'From',
    'audit.to': 'To',
    'audit.limit': 'Show at most',
    'audit.apply': 'Search',
    'audit.reset': 'Clear filters',
    'audit.log': 'Entries',

    'field.bytes': 'Size',
    'field.files': 'Files',
    'field.last_committed_at': 'Last written',
    'field.mode': 'Mode',
    'field.committed_at': 'Written',
    'field.department': 'Department',
    'field.duty': 'Duty',
    'field.file_name': 'File',
    'field.operation': 'Operation',
    'field.period': 'Period',
    'field.rows': 'Rows',
    'field.submission_id': 'Submission',
    'field.uploader': 'Uploaded by',
    'field.version': 'Version',
    'field.errors': 'Errors',
    'field.warnings': 'Warnings',
    'field.status': 'Status',
    'field.received_at': 'Received',
    'field.finished_at': 'Processed',
    'field.file_sha256': 'File SHA-256',
    'field.plugin_id': 'Plugin',
    'field.plugin_version': 'Plugin version',
    'field.plugin_sha256': 'Plugin SHA-256',
    'field.table_name': 'Table',
  },
};

let current = readStoredLang();

function readStoredLang() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return stored === 'en' ? 'en' : 'zh';
  } catch {
    return 'zh';
  }
}

/** The current language: 'zh' or 'en'. */
export function lang() {
  return current;
}

/** The text of `key` in the current language, `{name}` filled from `params`. */
export function t(key, params) {
  const text = WORDS[current][key] ?? WORDS.zh[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** One of two texts from the API, by the current language (falls back to the other). */
export function pick(zh, en) {
  return current === 'en' ? (en || zh || '') : (zh || en || '');
}

/** A span whose text is `key`, kept in the current language. */
export function T(key, params) {
  const span = document.createElement('span');
  span.dataset.i18n = key;
  if (params) span.dataset.i18nParams = JSON.stringify(params);
  span.textContent = t(key, params);
  return span;
}

/** A span holding a Chinese and an English text (from the API), showing the current one. */
export function L(zh, en) {
  const span = document.createElement('span');
  span.dataset.zh = zh ?? '';
  span.dataset.en = en ?? '';
  span.textContent = pick(zh, en);
  return span;
}

/**
 * Marks `el`'s attributes as translated: `attrs` maps an attribute (placeholder,
 * aria-label, title) to a key, or to [key, params].
 */
export function translateAttrs(el, attrs) {
  el.dataset.i18nAttrs = JSON.stringify(attrs);
  applyAttrs(el);
  return el;
}

function applyAttrs(el) {
  const attrs = JSON.parse(el.dataset.i18nAttrs);
  for (const [name, spec] of Object.entries(attrs)) {
    const [key, params] = Array.isArray(spec) ? spec : [spec, undefined];
    el.setAttribute(name, t(key, params));
  }
}

/** Re-labels every translated text and attribute under `root` in the current language. */
export function translateTree(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const params = el.dataset.i18nParams ? JSON.parse(el.dataset.i18nParams) : undefined;
    el.textContent = t(el.dataset.i18n, params);
  }
  for (const el of root.querySelectorAll('[data-zh]')) {
    el.textContent = pick(el.dataset.zh, el.dataset.en);
  }
  for (const el of root.querySelectorAll('[data-i18n-attrs]')) applyAttrs(el);
}

const listeners = [];

/** Calls `fn` after every change of language. */
export function onLangChange(fn) {
  listeners.push(fn);
}

/** Switches to `next` ('zh' or 'en'): remembers it, sets `lang` and re-labels the page. */
export function setLang(next) {
  current = next === 'en' ? 'en' : 'zh';
  try {
    localStorage.setItem(STORAGE_KEY, current);
  } catch {
    // Private browsing may refuse storage; the switch still works for this page.
  }
  applyDocumentLang();
  translateTree(document);
  for (const fn of listeners) fn(current);
}

/** Sets the document's `lang` attribute and title for the current language. */
export function applyDocumentLang() {
  document.documentElement.lang = current === 'en' ? 'en' : 'zh-CN';
  document.title = t('app.title');
}
