// madoguchi console: the queue, the screen-pop, the ticket view, the caller log, callbacks,
// announcements, FAQ upkeep, the admin pages.
// Everything from outside (mail bodies, names, subjects) goes into the page as text nodes, never
// as HTML. The server renders the frame; this script fills <main data-page="…"> from the JSON API
// and follows GET /api/events.
'use strict';

const LANG = document.documentElement.lang === 'en' ? 'en' : 'ja';
const WORDS = {
  new: ['新規', 'New'], acknowledged: ['受付済', 'Acknowledged'], in_progress: ['対応中', 'In progress'],
  waiting_reporter: ['回答待ち（依頼者）', 'Waiting on the reporter'], waiting_vendor: ['回答待ち（業者）', 'Waiting on a vendor'],
  escalated: ['エスカレーション', 'Escalated'], resolved: ['解決済', 'Resolved'], closed: ['完了', 'Closed'],
  low: ['低', 'Low'], normal: ['通常', 'Normal'], high: ['高', 'High'], urgent: ['緊急', 'Urgent'],
  phone: ['電話', 'Phone'], email: ['メール', 'E-mail'], fax: ['FAX', 'Fax'], manual: ['手入力', 'By hand'],
  tier: ['階層', 'Tier'], status: ['状態', 'Status'], priority: ['優先度', 'Priority'], category: ['分類', 'Category'],
  owner: ['担当者', 'Owner'], nobody: ['(未割当)', '(unassigned)'], subject: ['件名', 'Subject'],
  updated: ['更新', 'Updated'], ticket: ['チケット', 'Ticket'], search: ['検索', 'Search'],
  caller: ['発信者', 'Caller'], open_tickets: ['対応中のチケット', 'Open tickets'],
  recent_tickets: ['最近のチケット', 'Recent tickets'], ringing: ['着信中', 'Ringing'],
  answered: ['応答', 'Answered'], menu: ['メニュー選択', 'Menu key'], transferred: ['転送', 'Transferred'],
  voicemail: ['留守番電話', 'Voicemail'], ended: ['終了', 'Ended'], dismiss: ['閉じる', 'Dismiss'],
  open: ['開く', 'Open'], save: ['保存', 'Save'], note: ['メモ', 'Note'], resolution: ['解決内容', 'Resolution'],
  timeline: ['経過', 'Timeline'], history: ['履歴', 'History'], attachments: ['添付', 'Attachments'],
  reply: ['メールで返信', 'Reply by e-mail'], send: ['送信', 'Send'], merge: ['統合', 'Merge'],
  merge_into: ['統合先のチケット番号', 'Merge into ticket number'], assign_me: ['自分に割当', 'Assign to me'],
  saved: ['保存しました', 'Saved'], changed_by: ['が更新しました', 'updated this ticket'],
  nothing: ['該当なし', 'Nothing here'], all_tiers: ['全階層', 'All tiers'], my_tier: ['担当階層', 'My tier'],
  page: ['ページ', 'page'], loading: ['読み込み中…', 'Loading…'], dialled: ['着信番号', 'Dialled'],
  directory: ['職員名簿', 'Directory'], outcome: ['結果', 'Outcome'], time: ['日時', 'Time'],
  number: ['番号', 'Number'], name: ['氏名', 'Name'], filter: ['絞り込み', 'Filter'], more: ['さらに表示', 'More'],
  log_contact: ['受付を記録', 'Log a contact'], body: ['内容', 'Details'], organisation: ['所属', 'Organisation'],
  email_address: ['メールアドレス', 'E-mail address'], channel: ['経路', 'Channel'],
  join: ['既存チケットに追加（番号）', 'Add to ticket (number)'], users: ['利用者', 'Users'], tokens: ['APIトークン', 'API tokens'],
  role: ['役割', 'Role'], disabled: ['無効', 'Disabled'], login: ['ログインID', 'Login'], label: ['用途', 'Label'],
  created: ['作成', 'Created'], last_used: ['最終利用', 'Last used'], revoke: ['失効', 'Revoke'],
  add_user: ['利用者を追加', 'Add a user'], password: ['パスワード', 'Password'], disable: ['無効にする', 'Disable'],
  add_token: ['トークンを発行', 'Issue a token'], token_once: ['このトークンは一度だけ表示されます', 'This token is shown only once'],
  waiting: ['解決待ち確認', 'Waiting'], live: ['ライブ', 'Live'], offline: ['再接続中…', 'Reconnecting…'],
  contacts: ['件', 'contacts'], from: ['差出人', 'From'], pages: ['ページ', 'pages'], reason: ['理由', 'Reason'],
  mine: ['自分の担当', 'My tickets'], calls: ['通話履歴', 'Calls'],
  pending: ['承認待ち', 'Pending'], approved: ['承認済み', 'Approved'], rejected: ['却下', 'Rejected'],
  scheduled: ['予定', 'Scheduled'], expired: ['期間終了', 'Window over'], playing: ['再生中', 'Playing'],
  playing_now: ['現在の再生', 'Playing now'], silent: ['なし（無音）', 'none (silent)'],
  version: ['版', 'Version'], shipped: ['出荷時の音声', 'shipped'], requested_by: ['依頼者', 'Requested by'],
  decided_by: ['判断者', 'Decided by'], comment: ['コメント', 'Comment'], duration: ['長さ', 'Length'],
  window: ['有効期間', 'Valid'], approve: ['承認', 'Approve'], reject: ['却下する', 'Reject'],
  rollback: ['この版に戻す', 'Roll back to this'], request_version: ['新しい版を依頼', 'Request a new version'],
  audio_file: ['音声ファイル (WAV / MP3)', 'Audio file (WAV / MP3)'],
  speak_text: ['または読み上げる文章', 'or text to be spoken'], valid_from: ['開始 (日本時間、任意)', 'From (JST, optional)'],
  valid_until: ['終了 (日本時間、任意)', 'Until (JST, optional)'], request: ['依頼する', 'Request'],
  file_or_text: ['音声ファイルか文章のどちらか一方を指定してください', 'Give either an audio file or text, not both'],
  requested: ['依頼しました。承認されると再生されます', 'Requested; it plays once approved'],
  preview: ['試聴', 'Preview'], versions: ['版の一覧', 'Versions'], seconds: ['秒', 's'],
  own_request: ['自分の依頼は承認・却下できません', 'You cannot decide on your own request'],
  rolled_back: ['この版に戻しました', 'rolled back to this version'], announcements: ['アナウンス', 'Announcements'],
  shipped_audio: ['出荷時の音声（試聴なし） / shipped', 'The shipped announcement (no preview)'],
  notices: ['システム運用のお知らせ', 'System operation notices'], draft: ['下書き', 'Draft'],
  interview: ['問診', 'Interview'], interview_template: ['問診テンプレート', 'Interview template'],
  interview_complete: ['問診を完了', 'Complete the interview'], interview_done: ['問診完了', 'Interview complete'],
  yes: ['はい', 'Yes'], no: ['いいえ', 'No'], interview_saved: ['問診を保存', 'Interview saved'],
  suggestions: ['過去の回答・FAQ', 'Past answers and FAQ'], no_suggestions: ['似た解決済みの問い合わせはありません', 'No similar resolved inquiry'],
  faq: ['FAQ', 'FAQ'], resolved_ticket: ['解決済み', 'Resolved'], matched: ['一致した語', 'Matched'],
  use_answer: ['この回答を使った', 'I answered from this'], answer_recorded: ['回答に使ったことを記録しました', 'Recorded as the answer used'],
  unsent: ['メール宛先なし（電話で連絡してください）', 'no address to mail (relay by phone)'],
  sends_at: ['連絡可能時間に送信', 'sent when reachable:'],
  edit_interviews: ['問診テンプレートを編集', 'Edit the interview templates'], asked_when: ['質問する条件', 'asked when'],
  edit_contact_list: ['連絡先一覧を編集', 'Edit the contact list'], in_force: ['使用中', 'In force'],
  saved_in_console: ['画面で保存した', 'Saved in the console,'], builtin_list: ['組み込みの一覧', 'the built-in list'],
  reachable: ['連絡可能', 'Reachable'], around_the_clock: ['24時間365日', 'around the clock'],
  edited_by: ['更新者', 'Edited by'], load_version: ['この版を編集欄へ', 'Load into the editor'],
  never_edited: ['画面ではまだ編集されていません', 'Not edited in the console yet'],
  sla: ['対応目標 (SLA)', 'Service levels'], due: ['期限', 'due'], running: ['計測中', 'Running'], paused: ['停止中', 'Paused'],
  met: ['達成', 'Met'], breached: ['超過', 'Breached'], stopped: ['対象外', 'Stopped'], used: ['経過', 'Used'],
  escalate: ['エスカレーション', 'Escalate'], group: ['連絡先グループ', 'Group'], next_tier: ['次の階層へ', 'Next tier'],
  log_relay: ['電話連絡を記録', 'Log a phone relay'], relay_to: ['相手', 'Whom'], relay_at: ['日時 (日本時間)', 'When (JST)'],
  mail: ['メール', 'Mail'], in_person: ['対面', 'In person'], escalated_to: ['エスカレーションしました', 'Escalated'],
  published: ['公開', 'Published'], withdrawn: ['取り下げ', 'Withdrawn'], public_now: ['公開中', 'Public now'],
  failure: ['障害', 'Failure'], maintenance: ['メンテナンス', 'Maintenance'], kind: ['種別', 'Kind'],
  title: ['件名', 'Title'], title_en: ['件名（英語、任意）', 'Title in English (optional)'],
  body_en: ['本文（英語、任意）', 'Text in English (optional)'], notice_text: ['本文', 'Text'],
  drafted_by: ['起案者', 'Drafted by'], withdraw: ['取り下げる', 'Withdraw'],
  draft_notice: ['お知らせを起案', 'Draft a notice'], save_draft: ['起案する', 'Save the draft'],
  drafted: ['起案しました。承認されると公開されます', 'Drafted; it is published once approved'],
  callers_hear: ['電話で流す音声（任意）', 'Audio callers hear (optional)'],
  audio_text: ['または電話で読み上げる文章', 'or text spoken to callers'],
  own_notice: ['自分の起案は承認・却下できません', 'You cannot decide on your own notice'],
  public_page: ['公開ページ', 'Public page'], in_calls: ['電話で案内中', 'Played to callers'],
  no_notices: ['お知らせはまだありません', 'No notices yet'],
  abandoned: ['不在着信', 'Missed call'], reached: ['通話できた', 'Reached'], no_answer: ['不在', 'No answer'],
  busy: ['話し中', 'Busy'], left_message: ['伝言を残した', 'Left a message'], wrong_number: ['番号違い', 'Wrong number'],
  not_needed: ['不要', 'Not needed'], result: ['結果', 'Result'], record: ['記録', 'Record'],
  attempts: ['試行', 'Attempts'], last_result: ['前回', 'Last'], callback_done: ['完了', 'done'],
  recently_done: ['最近完了した折り返し', 'Recently done'], anonymous: ['非通知', 'Anonymous'],
  closes: ['完了にする', 'closes it'], closed_by: ['完了者', 'Closed by'],
  system_facts: ['システム情報', 'System facts'], fetch_now: ['取得', 'Fetch now'], fetching: ['取得中…', 'Fetching…'],
  fetch_ok: ['取得成功', 'OK'], fetch_failed: ['取得失敗', 'Failed'], fetched: ['取得しました', 'Fetched'],
  cut_off: ['途中まで保存', 'cut off'], automatic: ['自動取得', 'fetched automatically'],
  no_facts: ['まだ取得していません', 'Nothing fetched yet'],
  survey: ['満足度調査', 'Survey'], survey_waiting: ['送信済み・未回答', 'Sent, not answered yet'],
  survey_expired: ['期限切れ（未回答）', 'Closed without an answer'], survey_answered_at: ['回答', 'Answered'],
  automatic_mail: ['自動送信のメール', 'automatic mail'],
  no_reply_address: ['返信できないアドレス', 'no-reply address'], excluded_category: ['対象外の分類', 'excluded category'],
  no_public_url: ['公開アドレス未設定', 'no public address set'],
};
function t(key) {
  const w = WORDS[key];
  return w ? w[LANG === 'ja' ? 0 : 1] : key;
}
// What each history entry says, Japanese first; from → to where the entry has both.
const ACTIONS = {
  created: ['受付', 'Received'], routed: ['振り分け', 'Routed'], contact_added: ['連絡を追加', 'Contact added'],
  attachment_added: ['添付を追加', 'Attachment added'], ack_queued: ['受付通知を送信', 'Acknowledgement queued'],
  ack_skipped: ['受付通知なし', 'No acknowledgement'], call_ringing: ['着信', 'Call ringing'],
  call_answered: ['応答', 'Call answered'], menu_choice: ['メニュー選択', 'Menu key'], menu_invalid: ['無効なキー', 'Invalid key'],
  transfer: ['転送', 'Transfer'], call_ended: ['通話終了', 'Call ended'], voicemail_empty: ['留守電なし', 'Empty voicemail'],
  status_changed: ['状態', 'Status'], tier_changed: ['階層', 'Tier'], priority_changed: ['優先度', 'Priority'],
  category_changed: ['分類', 'Category'], owner_changed: ['担当者', 'Owner'], note_added: ['メモ', 'Note'],
  resolution_set: ['解決内容', 'Resolution'], reply_sent: ['メールで返信', 'Reply sent'],
  ticket_reopened: ['再開', 'Reopened'], merged_into: ['統合', 'Merged into'], merged_from: ['統合元', 'Merged from'],
  mentions_ticket: ['関連チケット', 'Mentions ticket'],
  callback_created: ['折り返し登録', 'Callback task'], callback_attempt: ['折り返し', 'Callback attempt'],
  sla_started: ['SLA 計測開始', 'SLA clock started'], sla_paused: ['SLA 一時停止', 'SLA clock paused'],
  sla_resumed: ['SLA 再開', 'SLA clock resumed'], sla_met: ['SLA 達成', 'SLA met'],
  sla_warning: ['SLA 期限間近', 'SLA warning'], sla_breached: ['SLA 超過', 'SLA breached'],
  answered_from: ['過去の回答を使用', 'Answered from'], system_facts: ['システム情報', 'System facts'], relay: ['連絡', 'Relayed'], relay_delivered: ['連絡メール送達', 'Relay delivered'], relay_failed: ['連絡メール失敗', 'Relay failed'],
  survey_sent: ['満足度調査を送信', 'Survey sent'], survey_answered: ['満足度調査に回答', 'Survey answered'],
  survey_skipped: ['満足度調査なし', 'No survey'],
};
const CLOCKS = {
  first_response: ['初回応答', 'First response'], next_update: ['次回更新', 'Next update'],
  resolution: ['解決', 'Resolution'], callback: ['折り返し', 'Callback'],
};
function actionText(h) {
  const w = ACTIONS[h.action];
  const label = w ? w[LANG === 'ja' ? 0 : 1] : h.action;
  const d = h.detail || {};
  const word = (v) => (typeof v === 'string' && WORDS[v] ? t(v) : v === null || v === undefined ? '—' : String(v));
  if (h.action === 'resolution_set') return label;
  if (h.action === 'merged_into' || h.action === 'merged_from') return label + ' ' + (d.ticket || '');
  if ('from' in d && 'to' in d) return label + ': ' + word(d.from) + ' → ' + word(d.to);
  if (h.action === 'menu_choice' || h.action === 'menu_invalid') return label + ' ' + (d.key || '');
  if (h.action === 'transfer') return label + ' → ' + (d.target || '');
  if (h.action === 'call_ended') return label + (d.ending ? ' (' + d.ending + ')' : '');
  if (h.action === 'reply_sent') return label + ': ' + (d.subject || '');
  if (h.action === 'routed') return label + ': ' + (d.category || '') + ' / ' + t('tier') + ' ' + (d.tier || '');
  if (h.action === 'callback_created') return label + ' (' + word(d.reason) + ')';
  if (h.action.startsWith('sla_')) return label + ': ' + clockName(d.kind) + (d.due_at ? ' — ' + t('due') + ' ' + when(d.due_at) : '');
  if (h.action === 'interview_saved') return label + (d.complete ? ' (' + t('interview_done') + ')' : '') + ': ' + (d.changed || []).join(', ');
  if (h.action === 'survey_sent') return label + (d.expires_at ? ' — ' + t('due') + ' ' + when(d.expires_at) : '');
  if (h.action === 'survey_answered') return label + ': ' + stars(d.rating);
  if (h.action === 'survey_skipped') return label + ' (' + word(d.reason) + ')';
  if (h.action === 'answered_from') return label + ': ' + (d.ticket ? d.ticket + ' ' + (d.subject || '') : 'FAQ ' + d.faq_id + ' ' + (d.question || ''));
  if (h.action === 'relay') {
    const to = Array.isArray(d.to) ? d.to.join(', ') : (d.to || '');
    return label + ' → ' + (d.group_name || d.group || '') + (to ? ' (' + to + ')' : '') + ' · ' + word(d.how) +
      (d.at ? ' ' + when(d.at) : '') + (d.waits_for_hours ? ' · ' + t('sends_at') + ' ' + when(d.send_at) : '') +
      (d.reason ? ' — ' + d.reason : '');
  }
  if (h.action === 'relay_delivered' || h.action === 'relay_failed') return label + ': ' + (d.to || '') + (d.error ? ' — ' + d.error : '');
  if (h.action === 'system_facts') return label + ': ' + (d.source || '') + ' — ' + (d.ok ? t('fetch_ok') : d.error || t('fetch_failed'));
  if (h.action === 'callback_attempt') return label + ': ' + word(d.result) + (d.state === 'done' ? ' — ' + t('callback_done') : '');
  return label;
}
const STATUSES = ['new', 'acknowledged', 'in_progress', 'escalated', 'waiting_reporter', 'waiting_vendor', 'resolved', 'closed'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];

// ---- small DOM helpers: text only -------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function when(jst) { return jst ? jst.slice(0, 16).replace('T', ' ') : ''; }
function clockName(kind) { const w = CLOCKS[kind]; return w ? w[LANG === 'ja' ? 0 : 1] : (kind || ''); }
function ticketLink(number) { return el('a', { href: '/tickets/' + encodeURIComponent(number), class: 'ticket-no' }, number); }
function stars(n) { const r = Math.max(0, Math.min(5, Number(n) || 0)); return '★'.repeat(r) + '☆'.repeat(5 - r) + ' ' + r + '/5'; }
function badge(kind, value) { return el('span', { class: 'badge ' + kind + '-' + value }, t(value)); }

// ---- the API ----------------------------------------------------------------------------------
let SESSION = null;
async function session() {
  if (!SESSION) SESSION = await api('GET', '/api/session');
  return SESSION;
}
class ApiFailure extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
async function api(method, path, body, keepalive) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = (SESSION && SESSION.csrf) || (await session()).csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(path, {
    method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
    keepalive: keepalive === true,
  });
  if (r.status === 401) {
    location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
    throw new ApiFailure(401, 'signed out');
  }
  const data = r.headers.get('content-type')?.includes('json') ? await r.json() : null;
  if (!r.ok) throw new ApiFailure(r.status, (data && data.error && data.error.message) || r.statusText);
  return data;
}
function flash(message, bad) {
  const box = document.getElementById('flash');
  if (!box) return;
  clear(box).append(el('p', { class: bad ? 'flash bad' : 'flash', role: bad ? 'alert' : 'status' }, message));
}
function failed(e) { flash(e.message || String(e), true); }

// ---- the live stream and the screen-pop ---------------------------------------------------------
const listeners = [];
function onEvent(fn) { listeners.push(fn); }
const calls = new Map();
function myTiers() {
  const v = localStorage.getItem('madoguchi.tier') || '';
  return v ? [Number(v)] : [1, 2, 3];
}
function follow() {
  const source = new EventSource('/api/events');
  const state = document.getElementById('live');
  source.onopen = () => { if (state) { state.textContent = t('live'); state.className = 'live on'; } };
  source.onerror = () => { if (state) { state.textContent = t('offline'); state.className = 'live off'; } };
  const kinds = ['call.ringing', 'call.answered', 'call.menu', 'call.transferred', 'call.voicemail', 'call.ended',
    'ticket.created', 'ticket.updated', 'callback.created', 'callback.updated', 'resync'];
  for (const kind of kinds) {
    source.addEventListener(kind, (m) => {
      let data;
      try { data = JSON.parse(m.data); } catch (_) { return; }
      if (kind.startsWith('call.')) callEvent(kind, data);
      for (const fn of listeners) fn(kind, data);
    });
  }
}
function callEvent(kind, data) {
  let call = calls.get(data.call);
  if (kind === 'call.ringing') {
    call = { ringing: data, state: t('ringing'), tier: data.tier, ended: false };
    calls.set(data.call, call);
  }
  if (!call) return;
  if (data.tier) call.tier = data.tier;
  if (kind === 'call.answered') call.state = t('answered');
  if (kind === 'call.menu') call.state = t('menu') + ' ' + data.key;
  if (kind === 'call.transferred') call.state = t('transferred') + ' → ' + data.target;
  if (kind === 'call.voicemail') call.state = t('voicemail') + ' ' + data.seconds + 's';
  if (kind === 'call.ended') {
    call.state = t('ended') + (data.ending ? ' (' + data.ending + ')' : '');
    call.ended = true;
    // An ended call's card goes after a minute, unless its interview is still being filled in.
    const expire = () => {
      if (call.interview && call.interview.contains(document.activeElement)) { setTimeout(expire, 60000); return; }
      calls.delete(data.call);
      drawPops();
    };
    setTimeout(expire, 60000);
  }
  drawPops();
}
function drawPops() {
  const box = document.getElementById('pops');
  if (!box) return;
  clear(box);
  const tiers = myTiers();
  for (const [id, call] of calls) {
    if (call.tier && !tiers.includes(call.tier)) continue;
    const r = call.ringing;
    const who = [r.caller.name, r.directory && (r.directory.name + ' (' + r.directory.department + ')')].filter(Boolean);
    const list = (title, tickets) => tickets.length === 0 ? null : el('div', { class: 'pop-list' },
      el('h4', {}, title),
      el('ul', {}, tickets.map((x) => el('li', {}, ticketLink(x.number), ' ', badge('status', x.status), ' ', x.subject))));
    box.append(el('section', { class: 'pop' + (call.ended ? ' ended' : ''), 'data-call': id, 'aria-live': 'polite' },
      el('header', {},
        el('strong', { class: 'pop-number' }, r.caller.number || '非通知 / Anonymous'),
        el('span', { class: 'pop-state' }, call.state),
        el('button', { type: 'button', class: 'pop-close', title: t('dismiss'),
          onclick: () => { calls.delete(id); drawPops(); } }, '×')),
      who.length ? el('p', { class: 'pop-who' }, who.join(' / ')) : null,
      el('p', { class: 'pop-meta' }, t('tier') + ' ' + (call.tier || '-'), r.dialled ? ' · ' + t('dialled') + ' ' + r.dialled : ''),
      r.ticket ? el('p', {}, el('a', { class: 'pop-open', href: '/tickets/' + encodeURIComponent(r.ticket) },
        t('open') + ' ' + r.ticket), ' ', el('a', { class: 'pop-interview', href: '/tickets/' + encodeURIComponent(r.ticket) + '#interview' },
        t('interview'))) : null,
      r.ticket ? popInterview(call, r.ticket) : null,
      list(t('open_tickets'), r.open_tickets || []),
      list(t('recent_tickets'), r.recent_tickets || [])));
  }
}

// 問診: the interview of ticket `number`, on its page and on a ringing call's card. Each answer is
// saved as it is entered (a pause in typing, leaving the field, or leaving the page), so closing
// the browser loses nothing; "complete" checks the whole interview.
const INTERVIEW_PAUSE_MS = 700;
function interviewForm(number, opts) {
  const status = el('p', { class: 'interview-status', role: 'status' });
  const problems = el('pre', { class: 'problems', role: 'alert', hidden: true });
  const picker = el('select', { name: 'template', 'aria-label': t('interview_template') });
  const fields = el('div', { class: 'interview-fields' });
  const done = el('button', { type: 'submit', class: 'primary' }, t('interview_complete'));
  const form = el('form', { class: 'interview', 'data-ticket': number, onsubmit: async (e) => {
    e.preventDefault();
    await flush();
    await save('PUT', values());
  } }, el('h2', {}, t('interview')), field(t('interview_template'), picker), fields, problems, status, done);
  const section = el('section', { class: 'interview-panel', id: opts.id || null }, form);
  let templates = [];
  let current = null;
  // Answers entered but not yet sent (question id → value), and the timer that sends them.
  let pending = {};
  let timer = null;
  // The answers being sent now, and that request: one at a time, so a later answer to a question
  // is never overtaken by an earlier one; what is entered meanwhile waits in `pending`.
  let inflight = null;
  let sending = null;
  function unsaved() {
    form.dataset.unsaved = String(Object.keys(pending).length + (inflight ? Object.keys(inflight).length : 0));
  }
  function values() {
    const out = {};
    for (const c of fields.querySelectorAll('[data-question]')) out[c.dataset.question] = c.value.trim() === '' ? null : c.value;
    return out;
  }
  function asked(q, answers) {
    return !q.when || q.when.values.includes(answers[q.when.question]);
  }
  function showAsked() {
    const answers = values();
    for (const q of current.questions) {
      const row = fields.querySelector('[data-row="' + q.id + '"]');
      if (row) row.hidden = !asked(q, answers);
    }
  }
  async function save(method, answers, keepalive) {
    problems.hidden = true;
    try {
      const r = await api(method, '/api/tickets/' + encodeURIComponent(number) + '/interview', { template: current.id, answers }, keepalive);
      status.textContent = (r.interview && r.interview.complete ? t('interview_done') : t('saved')) + ' ' + when(r.interview && r.interview.updated_at);
      return true;
    } catch (err) {
      problems.textContent = err.message;
      problems.hidden = false;
      return false;
    }
  }
  function flush(keepalive) {
    clearTimeout(timer);
    timer = null;
    if (!current) return Promise.resolve();
    if (keepalive) {
      // The page is being left: everything not yet acknowledged goes now, in a request that
      // outlives the page (the one in flight may be cut off).
      const delta = Object.assign({}, inflight || {}, pending);
      pending = {};
      if (Object.keys(delta).length > 0) save('PATCH', delta, true);
      return Promise.resolve();
    }
    if (sending) return sending.then(() => flush());
    if (Object.keys(pending).length === 0) return Promise.resolve();
    inflight = pending;
    pending = {};
    unsaved();
    sending = save('PATCH', inflight).then((ok) => {
      // Not stored: kept to be sent with the next answer (newer entries win).
      if (!ok) pending = Object.assign({}, inflight, pending);
      inflight = null;
      sending = null;
      unsaved();
    });
    return sending;
  }
  function entered(q, c, now) {
    pending[q.id] = c.value.trim() === '' ? null : c.value;
    unsaved();
    showAsked();
    clearTimeout(timer);
    timer = now ? null : setTimeout(() => flush(), INTERVIEW_PAUSE_MS);
    if (now) flush();
  }
  addEventListener('pagehide', () => { flush(true); });
  function control(q, value) {
    const attrs = { name: 'q_' + q.id, 'data-question': q.id, required: q.required && !q.when ? true : null };
    let c;
    if (q.type === 'choice' || q.type === 'yes_no') {
      const options = q.type === 'yes_no' ? [['yes', t('yes')], ['no', t('no')]] : q.choices.map((v) => [v, v]);
      c = el('select', attrs, el('option', { value: '' }, '—'), options.map(([v, label]) => el('option', { value: v }, label)));
    } else if (q.type === 'text') {
      c = el('textarea', Object.assign({ rows: 2 }, attrs));
    } else {
      const type = { datetime: 'datetime-local', number: 'number', phone: 'tel' }[q.type] || 'text';
      c = el('input', Object.assign({ type }, attrs));
    }
    if (value !== undefined && value !== null) c.value = String(value);
    c.addEventListener('input', () => entered(q, c, c.tagName === 'SELECT'));
    c.addEventListener('change', () => entered(q, c, true));
    return c;
  }
  function draw(template, answers) {
    current = template;
    clear(fields);
    for (const q of template.questions) {
      const label = (LANG === 'ja' ? q.text : (q.text_en || q.text)) + (q.required ? ' *' : '');
      fields.append(el('div', { class: 'interview-question', 'data-row': q.id },
        field(label, control(q, answers[q.id])), q.hint ? el('p', { class: 'hint' }, q.hint) : null));
    }
    showAsked();
  }
  (async () => {
    try {
      const [all, saved] = await Promise.all([api('GET', '/api/interviews'),
        api('GET', '/api/tickets/' + encodeURIComponent(number) + '/interview')]);
      templates = all.templates;
      picker.append(el('option', { value: '' }, '—'), ...templates.map((x) => el('option', { value: x.id }, LANG === 'ja' ? x.name : (x.name_en || x.name))));
      picker.value = saved.template || '';
      const first = templates.find((x) => x.id === saved.template);
      if (first) draw(first, saved.answers || {});
      if (saved.updated_at) status.textContent = (saved.complete ? t('interview_done') : t('saved')) + ' ' + when(saved.updated_at) + ' ' + (saved.updated_by || '');
      picker.addEventListener('change', async () => {
        await flush();
        const chosen = templates.find((x) => x.id === picker.value);
        if (chosen) draw(chosen, {});
      });
      // From a call's pop-up: straight to the first question.
      if (opts.focus) {
        section.scrollIntoView();
        fields.querySelector('[data-question]')?.focus();
      }
    } catch (err) { failed(err); }
  })();
  return section;
}

// The interview beside the caller's data on a call's card: opened with the ticket's category's
// template, kept (answers and all) across the card's redraws. Not on the ticket's own page, which
// has the same interview in full.
function popInterview(call, ticket) {
  if (document.querySelector('.desk[data-ticket="' + CSS.escape(ticket) + '"]')) return null;
  if (!call.interview) {
    call.interview = el('details', { class: 'pop-interview-form', open: true }, el('summary', {}, t('interview')),
      interviewForm(ticket, {}));
  }
  return call.interview;
}

// ---- pages --------------------------------------------------------------------------------------
function queueTable(tickets) {
  if (tickets.length === 0) return el('p', { class: 'empty' }, t('nothing'));
  return el('table', { class: 'tickets compact' },
    el('thead', {}, el('tr', {}, [t('ticket'), t('subject'), t('priority'), t('tier'), t('owner'), t('updated')]
      .map((h) => el('th', {}, h)))),
    el('tbody', {}, tickets.map((x) => el('tr', { 'data-ticket': x.number },
      el('td', {}, ticketLink(x.number)), el('td', { class: 'subject' }, x.subject),
      el('td', {}, badge('priority', x.priority)), el('td', {}, String(x.tier)), el('td', {}, x.owner_name || x.owner || ''),
      el('td', { class: 'at' }, when(x.updated_at).slice(5))))));
}
function ticketTable(tickets) {
  if (tickets.length === 0) return el('p', { class: 'empty' }, t('nothing'));
  return el('table', { class: 'tickets' },
    el('thead', {}, el('tr', {}, [t('ticket'), t('subject'), t('channel'), t('status'), t('priority'), t('tier'),
      t('owner'), t('updated')].map((h) => el('th', {}, h)))),
    el('tbody', {}, tickets.map((x) => el('tr', { 'data-ticket': x.number },
      el('td', {}, ticketLink(x.number)), el('td', {}, x.subject), el('td', {}, t(x.channel)),
      el('td', {}, badge('status', x.status)), el('td', {}, badge('priority', x.priority)), el('td', {}, String(x.tier)),
      el('td', {}, x.owner || ''), el('td', {}, when(x.updated_at))))));
}

const COLUMNS = [
  ['new', 'new'], ['in_progress', 'acknowledged,in_progress,waiting_reporter,waiting_vendor'], ['escalated', 'escalated'], ['waiting', 'resolved'],
];
async function queuePage(main) {
  const tierSelect = el('select', { id: 'queue-tier', 'aria-label': t('tier') },
    el('option', { value: '' }, t('all_tiers')), [1, 2, 3].map((n) => el('option', { value: n }, t('tier') + ' ' + n)));
  tierSelect.value = localStorage.getItem('madoguchi.tier') || '';
  const q = el('input', { type: 'search', id: 'queue-search', placeholder: t('search') + ' (/)', 'aria-label': t('search') });
  const channel = select('channel', ['', 'phone', 'email', 'fax', 'manual'], '', (v) => v ? t(v) : t('channel'));
  const owner = select('owner', ['', 'me', 'none'], '', (v) => ({ '': t('owner'), me: t('mine'), none: t('nobody') })[v]);
  const columns = el('div', { class: 'queue' });
  main.append(el('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); load(); } }, tierSelect, channel,
    owner, q, el('button', { type: 'submit' }, t('search'))), columns);
  for (const s of [channel, owner]) s.addEventListener('change', () => load());
  tierSelect.addEventListener('change', () => { localStorage.setItem('madoguchi.tier', tierSelect.value); drawPops(); load(); });
  async function load() {
    const params = (status) => {
      const p = new URLSearchParams({ status, limit: '100' });
      if (tierSelect.value) p.set('tier', tierSelect.value);
      if (channel.value) p.set('channel', channel.value);
      if (owner.value) p.set('owner', owner.value === 'me' ? SESSION.login : owner.value);
      if (q.value.trim()) p.set('q', q.value.trim());
      return p;
    };
    try {
      const pages = await Promise.all(COLUMNS.map(([, s]) => api('GET', '/api/tickets?' + params(s))));
      clear(columns);
      COLUMNS.forEach(([name], i) => columns.append(el('section', { class: 'column', 'data-column': name },
        el('h2', {}, t(name), ' ', el('span', { class: 'count' }, String(pages[i].tickets.length))),
        queueTable(pages[i].tickets))));
    } catch (e) { failed(e); }
  }
  let pending = null;
  onEvent((kind) => {
    if (kind.startsWith('ticket.') || kind === 'resync') {
      clearTimeout(pending);
      pending = setTimeout(load, 150);
    }
  });
  await load();
}

async function listPage(main, path, key) {
  const box = el('div', {});
  main.append(box);
  async function load() {
    try { clear(box).append(ticketTable((await api('GET', path))[key])); } catch (e) { failed(e); }
  }
  onEvent((kind) => { if (kind.startsWith('ticket.') || kind === 'resync') load(); });
  await load();
}

// The values of a view's forms (but the ticket's own fields, which follow the ticket), and which
// one had the focus, to put back after the view is drawn again.
function keepDrafts(view) {
  const values = new Map();
  for (const f of view.querySelectorAll('form:not(.work):not(.interview)')) {
    for (const c of f.elements) {
      if (c.name) values.set(f.className + '|' + c.name, c.value);
    }
  }
  const a = document.activeElement;
  const focus = a && a.form && a.name && view.contains(a) ? a.form.className + '|' + a.name : null;
  return { values, focus };
}
function restoreDrafts(view, drafts) {
  for (const f of view.querySelectorAll('form:not(.work):not(.interview)')) {
    for (const c of f.elements) {
      const key = f.className + '|' + c.name;
      if (c.name && drafts.values.has(key)) c.value = drafts.values.get(key);
      if (key === drafts.focus) c.focus();
    }
  }
}

function field(label, control) { return el('label', { class: 'field' }, el('span', {}, label), control); }
function select(name, values, current, labelOf) {
  const s = el('select', { name }, values.map((v) => el('option', { value: v }, labelOf ? labelOf(v) : t(v))));
  s.value = current === null || current === undefined ? '' : String(current);
  return s;
}

async function ticketPage(main) {
  const number = main.dataset.ticket;
  const me = await session();
  let operators = [];
  try { operators = (await api('GET', '/api/operators')).users; } catch (_) { operators = []; }
  const view = el('div', { class: 'ticket' });
  main.append(view);
  let dirty = false;
  async function load(notice, fromEvent) {
    let x;
    try { x = await api('GET', '/api/tickets/' + encodeURIComponent(number)); } catch (e) { return failed(e); }
    if (dirty && notice) { flash(notice); return; }
    dirty = false;
    // Someone else's change redraws the page: what this operator was typing in the other forms stays.
    const drafts = fromEvent ? keepDrafts(view) : null;
    clear(view);
    view.append(el('h1', {}, el('span', { class: 'ticket-no' }, x.number), ' ', x.subject),
      el('p', { class: 'ticket-meta' }, badge('status', x.status), ' ', t('tier') + ' ' + x.tier, ' · ',
        t(x.channel), ' · ', x.category, ' · ', badge('priority', x.priority), ' · ', t('owner') + ': ',
        x.owner || t('nobody'), x.merged_into ? [' · → ', ticketLink(x.merged_into)] : null));
    // A panel with nothing to show is null: left out (append would write "null").
    view.append(...[suggestionsPanel(x), interviewPanel(x), workForm(x), slaPanel(), factsPanel(), surveyLine(x), escalateForm(x),
      timeline(x), replyForm(x), mergeForm(x)].filter(Boolean));
    if (drafts) restoreDrafts(view, drafts);
  }
  // 問診: one form for the page's life (a redraw moves it, values and all).
  let interview = null;
  function interviewPanel() {
    if (!interview) interview = interviewForm(number, { id: 'interview', focus: location.hash === '#interview' });
    return interview;
  }
  // Past answers like this inquiry: asked once per page, shown while the ticket is open.
  let suggested = null;
  function suggestionsPanel(x) {
    if (x.status === 'resolved' || x.status === 'closed') return null;
    const list = el('ol', { class: 'suggestions' });
    suggested = suggested || api('GET', '/api/tickets/' + encodeURIComponent(number) + '/suggestions');
    suggested.then((s) => {
      if (!s.suggestions.length) { list.append(el('li', { class: 'empty' }, t('no_suggestions'))); return; }
      list.append(...s.suggestions.map((g) => el('li', { class: 'suggestion kind-' + g.kind, 'data-ticket': g.ticket, 'data-faq': g.faq_id },
        el('p', { class: 'suggestion-title' }, el('span', { class: 'badge kind-' + g.kind }, t(g.kind === 'faq' ? 'faq' : 'resolved_ticket')), ' ',
          g.ticket ? ticketLink(g.ticket) : null, ' ', g.title),
        el('p', { class: 'suggestion-answer' }, g.answer),
        el('p', { class: 'suggestion-why' }, t('matched') + ': ', g.why.map((w) => el('mark', {}, w))),
        el('button', { type: 'button', class: 'use-answer', onclick: async (e) => {
          e.target.disabled = true;
          try {
            await api('POST', '/api/tickets/' + encodeURIComponent(number) + '/answered-from', g.ticket ? { ticket: g.ticket } : { faq_id: g.faq_id });
            flash(t('answer_recorded'));
            await load();
          } catch (err) { e.target.disabled = false; failed(err); }
        } }, t('use_answer')))));
    }).catch(failed);
    return el('section', { class: 'suggested' }, el('h2', {}, t('suggestions')), list);
  }
  let groups = [];
  try { groups = (await api('GET', '/api/groups')).groups; } catch (_) { groups = []; }
  const groupName = (g) => (LANG === 'ja' ? g.name : (g.name_en || g.name)) + ' (' + t('tier') + ' ' + g.tier + ')';
  function slaPanel() {
    const list = el('ul', { class: 'sla-clocks' });
    api('GET', '/api/tickets/' + encodeURIComponent(number) + '/sla').then((s) => {
      list.append(...s.clocks.map((c) => el('li', { class: 'sla-clock state-' + c.state, 'data-kind': c.kind },
        el('strong', {}, clockName(c.kind)), ' ', el('span', { class: 'badge sla-' + c.state }, t(c.state)),
        c.due_at && (c.state === 'running' || c.state === 'breached') ? ' ' + t('due') + ' ' + when(c.due_at) : '',
        ' · ' + t('used') + ' ' + Math.round(c.used_ms / 60000) + ' / ' + Math.round(c.target_ms / 60000) + (LANG === 'ja' ? ' 分' : ' min'))));
    }).catch(() => {});
    return el('section', { class: 'sla' }, el('h2', {}, t('sla')), list);
  }
  // What the monitoring systems answered ([[status_sources]]), newest first; the answer as text.
  function factsPanel() {
    const path = '/api/tickets/' + encodeURIComponent(number) + '/system-facts';
    const list = el('ol', { class: 'system-facts' });
    const fetchNow = el('button', { type: 'button', class: 'fetch-facts', onclick: async () => {
      fetchNow.disabled = true;
      fetchNow.textContent = t('fetching');
      try {
        await api('POST', path, {});
        flash(t('fetched'));
        await load();
      } catch (err) {
        fetchNow.disabled = false;
        fetchNow.textContent = t('fetch_now');
        failed(err);
      }
    } }, t('fetch_now'));
    api('GET', path).then((s) => {
      if (!s.facts.length) { list.append(el('li', { class: 'empty' }, t('no_facts'))); return; }
      list.append(...s.facts.map((f) => el('li', { class: 'fact ' + (f.ok ? 'fact-ok' : 'fact-failed'), 'data-source': f.source },
        el('p', { class: 'fact-head' }, el('strong', {}, f.source), ' ',
          el('span', { class: 'badge ' + (f.ok ? 'fact-ok' : 'fact-failed') }, t(f.ok ? 'fetch_ok' : 'fetch_failed')), ' ',
          when(f.fetched_at), f.status ? ' · HTTP ' + f.status : '', ' · ' + f.duration_ms + ' ms',
          ' · ' + (f.requested_by || t('automatic')), f.truncated ? ' · ' + t('cut_off') : ''),
        f.error ? el('p', { class: 'fact-error' }, f.error) : null,
        f.body ? el('pre', { class: 'body fact-body' }, f.body) : null)));
    }).catch(() => {});
    return el('section', { class: 'facts' }, el('div', { class: 'row' }, el('h2', {}, t('system_facts')), fetchNow), list);
  }
  // The requester's satisfaction survey, once one was sent: its state, the rating and the
  // comment (the requester's words, as text).
  function surveyLine(x) {
    if (!x.history.some((h) => h.action === 'survey_sent')) return null;
    const line = el('p', { class: 'survey-state' }, t('loading'));
    const box = el('section', { class: 'ticket-survey' }, el('h2', {}, t('survey')), line);
    api('GET', '/api/tickets/' + encodeURIComponent(number) + '/survey').then((s) => {
      clear(line);
      if (s.answered_at) {
        line.append(el('span', { class: 'survey-rating', 'data-rating': s.rating }, stars(s.rating)), ' · ', t('survey_answered_at') + ' ' + when(s.answered_at));
        if (s.comment) box.append(el('pre', { class: 'body survey-comment' }, s.comment));
      } else if (new Date(s.expires_at) <= new Date()) {
        line.append(t('survey_expired'));
      } else {
        line.append(t('survey_waiting') + ' · ' + t('due') + ' ' + when(s.expires_at));
      }
    }).catch(() => { box.remove(); });
    return box;
  }
  function escalateForm(x) {
    const options = [''].concat(groups.map((g) => g.id));
    const label = (id) => (id ? groupName(groups.find((g) => g.id === id)) : t('next_tier'));
    const group = select('group', options, '', label);
    const reason = el('input', { name: 'reason', required: true, maxlength: 2000 });
    const escalate = el('form', { class: 'escalate', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('POST', '/api/tickets/' + encodeURIComponent(number) + '/escalate', { group: group.value || null, reason: reason.value });
        flash(t('escalated_to'));
        await load();
      } catch (err) { failed(err); }
    } }, el('h2', {}, t('escalate')), el('div', { class: 'row' }, field(t('group'), group), field(t('reason'), reason),
      el('button', { type: 'submit', class: 'primary' }, t('escalate'))));
    const relayGroup = select('relay_group', groups.map((g) => g.id), groups[0] ? groups[0].id : '', (id) => groupName(groups.find((g) => g.id === id)));
    const whom = el('input', { name: 'contact', maxlength: 200 });
    const how = select('how', ['phone', 'mail', 'in_person'], 'phone');
    const at = el('input', { type: 'datetime-local', name: 'at' });
    const note = el('input', { name: 'relay_note', required: true, maxlength: 2000 });
    const relay = el('form', { class: 'relay', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const body = { group: relayGroup.value, contact: whom.value, how: how.value, note: note.value };
        if (at.value) body.at = jstInstant(at.value);
        await api('POST', '/api/tickets/' + encodeURIComponent(number) + '/relays', body);
        flash(t('saved'));
        await load();
      } catch (err) { failed(err); }
    } }, el('h3', {}, t('log_relay')), el('div', { class: 'row' }, field(t('group'), relayGroup), field(t('relay_to'), whom),
      field(t('channel'), how), field(t('relay_at'), at), field(t('note'), note), el('button', { type: 'submit' }, t('save'))));
    return el('section', { class: 'escalation' }, x.status === 'resolved' || x.status === 'closed' ? null : escalate, relay);
  }
  function workForm(x) {
    const status = select('status', STATUSES, x.status);
    const tier = select('tier', [1, 2, 3], x.tier, (n) => t('tier') + ' ' + n);
    const priority = select('priority', PRIORITIES, x.priority);
    const category = el('input', { name: 'category', value: x.category || '' });
    const owner = select('owner', [''].concat(operators.map((u) => u.login)), x.owner || '',
      (login) => login ? (operators.find((u) => u.login === login)?.name || login) : t('nobody'));
    const resolution = el('textarea', { name: 'resolution', rows: 3 }, x.resolution || '');
    const note = el('textarea', { name: 'note', rows: 3 });
    const form = el('form', { class: 'work', onsubmit: async (e) => {
      e.preventDefault();
      const change = {};
      if (status.value !== x.status) change.status = status.value;
      if (Number(tier.value) !== x.tier) change.tier = Number(tier.value);
      if (priority.value !== x.priority) change.priority = priority.value;
      if (category.value.trim() && category.value.trim() !== x.category) change.category = category.value.trim();
      if (owner.value !== (x.owner || '')) change.owner = owner.value || null;
      if (resolution.value.trim() && resolution.value.trim() !== (x.resolution || '')) change.resolution = resolution.value.trim();
      if (note.value.trim()) change.note = note.value.trim();
      if (Object.keys(change).length === 0) return;
      try {
        await api('PATCH', '/api/tickets/' + encodeURIComponent(number), change);
        dirty = false;
        flash(t('saved'));
        await load();
      } catch (err) { failed(err); }
    } },
    el('div', { class: 'row' }, field(t('status'), status), field(t('tier'), tier), field(t('priority'), priority),
      field(t('category'), category), field(t('owner'), owner),
      el('button', { type: 'button', class: 'assign-me', onclick: () => { owner.value = me.login; dirty = true; } }, t('assign_me'))),
    field(t('resolution'), resolution), field(t('note'), note), el('button', { type: 'submit', class: 'primary' }, t('save')));
    form.addEventListener('input', () => { dirty = true; });
    return form;
  }
  function attachment(a) {
    const href = '/api/attachments/' + a.id;
    const item = el('li', {}, el('a', { href, download: a.filename }, a.filename), ' (' + a.content_type + ', ' + a.size + ' B)');
    if (a.content_type.startsWith('audio/')) item.append(el('audio', { controls: true, preload: 'none', src: href }));
    if (/tiff?$/i.test(a.filename) || a.content_type === 'image/tiff') {
      const pages = el('div', { class: 'fax-pages' });
      item.append(pages);
      api('GET', href + '/pages').then((p) => {
        for (let n = 1; n <= p.pages; n++) {
          pages.append(el('img', { src: href + '/pages/' + n, alt: a.filename + ' ' + n + '/' + p.pages, loading: 'lazy' }));
        }
      }).catch(() => {});
    }
    return item;
  }
  function timeline(x) {
    const items = [];
    for (const c of x.contacts) {
      const from = [c.display_name, c.organisation, c.caller_number, c.email, c.fax_number].filter(Boolean).join(' / ');
      items.push({ at: c.received_at, node: el('article', { class: 'contact channel-' + c.channel },
        el('header', {}, el('strong', {}, t(c.channel)), ' ', when(c.received_at), from ? ' — ' + from : '',
          c.menu_choices ? ' · ' + t('menu') + ' ' + c.menu_choices : ''),
        c.subject ? el('h3', {}, c.subject) : null,
        c.body ? el('pre', { class: 'body' }, c.body) : null,
        c.attachments.length ? el('ul', { class: 'attachments' }, c.attachments.map(attachment)) : null) });
    }
    for (const h of x.history) {
      if (h.action === 'created') continue;
      const detail = h.detail || {};
      const node = el('div', { class: 'event action-' + h.action },
        el('span', { class: 'at' }, when(h.at)), ' ', el('strong', {}, h.actor), ' ', actionText(h),
        detail.note ? el('pre', { class: 'body' }, detail.note) : null,
        typeof detail.text === 'string' ? el('pre', { class: 'body' }, detail.text) : null,
        h.action === 'resolution_set' && detail.to ? el('pre', { class: 'body' }, detail.to) : null,
        h.action === 'reply_sent' && detail.body ? el('pre', { class: 'body reply-body' }, detail.body) : null);
      items.push({ at: h.at, node });
    }
    items.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return el('section', { class: 'timeline' }, el('h2', {}, t('timeline')), items.map((i) => i.node));
  }
  function replyForm(x) {
    const body = el('textarea', { name: 'body', rows: 5, required: true });
    return el('form', { class: 'reply', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('POST', '/api/tickets/' + encodeURIComponent(number) + '/replies', { body: body.value });
        body.value = '';
        flash(t('saved'));
        await load();
      } catch (err) { failed(err); }
    } }, el('h2', {}, t('reply')), body, el('button', { type: 'submit' }, t('send')));
  }
  function mergeForm(x) {
    const into = el('input', { name: 'into', pattern: '[0-9]{8}-[0-9]{4,}', placeholder: 'YYYYMMDD-NNNN' });
    return el('form', { class: 'merge', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('POST', '/api/tickets/' + encodeURIComponent(number) + '/merge', { into: into.value.trim() });
        location.assign('/tickets/' + encodeURIComponent(into.value.trim()));
      } catch (err) { failed(err); }
    } }, el('h2', {}, t('merge')), field(t('merge_into'), into), el('button', { type: 'submit' }, t('merge')));
  }
  onEvent((kind, data) => {
    if ((kind.startsWith('ticket.') && data.ticket === number) || kind === 'resync') {
      load(data.by ? data.by + ' ' + t('changed_by') : null, true);
      if (data.by && data.by !== me.login) flash(data.by + ' ' + t('changed_by'));
    }
  });
  await load();
}

async function callsPage(main) {
  const caller = el('input', { type: 'search', name: 'caller', placeholder: t('number') });
  const outcome = select('outcome', ['', 'transferred', 'transfer_refused', 'voicemail', 'caller_hung_up', 'rejected',
    'media_timeout'], '', (v) => v || t('outcome'));
  const box = el('div', {});
  main.append(el('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); load(); } },
    caller, outcome, el('button', { type: 'submit' }, t('filter'))), box);
  async function load() {
    const p = new URLSearchParams({ limit: '100' });
    if (caller.value.trim()) p.set('caller', caller.value.trim());
    if (outcome.value) p.set('outcome', outcome.value);
    try {
      const r = await api('GET', '/api/calls?' + p);
      clear(box).append(r.calls.length === 0 ? el('p', { class: 'empty' }, t('nothing')) : el('table', { class: 'calls' },
        el('thead', {}, el('tr', {}, [t('time'), t('number'), t('name'), t('dialled'), t('menu'), t('outcome'), t('ticket')]
          .map((h) => el('th', {}, h)))),
        el('tbody', {}, r.calls.map((c) => el('tr', {}, el('td', {}, when(c.at)), el('td', {}, c.caller_number || ''),
          el('td', {}, c.caller_name || ''), el('td', {}, c.dialled || ''), el('td', {}, c.menu || ''),
          el('td', {}, c.outcome || t('ringing')), el('td', {}, c.ticket ? ticketLink(c.ticket) : ''))))));
    } catch (e) { failed(e); }
  }
  onEvent((kind) => { if (kind === 'call.ringing' || kind === 'call.ended') load(); });
  await load();
}

// ---- callbacks ----------------------------------------------------------------------------------
// The work list (GET /api/callbacks): each tier's open tasks, oldest first, with one form per task
// to record an attempt (POST /api/callbacks/{id}/attempts); which results close a task, the API says.
function age(jst, now) {
  const minutes = Math.max(0, Math.floor((now - Date.parse(jst)) / 60000));
  const [d, h, m] = [Math.floor(minutes / 1440), Math.floor((minutes % 1440) / 60), minutes % 60];
  if (LANG === 'ja') return d ? d + '日' + h + '時間' : h ? h + '時間' + m + '分' : m + '分';
  return d ? d + ' d ' + h + ' h' : h ? h + ' h ' + m + ' min' : m + ' min';
}
async function callbacksPage(main) {
  const tierSelect = el('select', { id: 'callback-tier', 'aria-label': t('tier') },
    el('option', { value: '' }, t('all_tiers')), [1, 2, 3].map((n) => el('option', { value: n }, t('tier') + ' ' + n)));
  tierSelect.value = localStorage.getItem('madoguchi.tier') || '';
  const lists = el('div', { class: 'callbacks' });
  const recent = el('ol', { class: 'callbacks-done' });
  main.append(el('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); load(); } }, tierSelect), lists,
    el('details', { class: 'callbacks-done' }, el('summary', {}, t('recently_done')), recent));
  tierSelect.addEventListener('change', () => { localStorage.setItem('madoguchi.tier', tierSelect.value); drawPops(); load(); });
  let results = [];

  function attemptForm(c, draft) {
    // No result is chosen for the operator: a hasty click must not close a task.
    const result = el('select', { name: 'result', required: true, 'aria-label': t('result') },
      el('option', { value: '' }, t('result') + '…'),
      results.map((r) => el('option', { value: r.result }, t(r.result) + (r.closes ? ' (' + t('closes') + ')' : ''))));
    const note = el('input', { name: 'note', maxlength: 2000, placeholder: t('note'), 'aria-label': t('note') });
    if (draft) { result.value = draft.result; note.value = draft.note; }
    const send = el('button', { type: 'submit', class: 'primary' }, t('record'));
    return el('form', { class: 'attempt row', 'data-callback': c.id, onsubmit: async (e) => {
      e.preventDefault();
      send.disabled = true;
      try {
        const body = { result: result.value };
        if (note.value.trim()) body.note = note.value.trim();
        const after = await api('POST', '/api/callbacks/' + c.id + '/attempts', body);
        note.value = '';
        flash(c.ticket + ': ' + t(after.last_result) + (after.state === 'done' ? ' — ' + t('callback_done') : ''));
      } catch (err) {
        failed(err);
      } finally {
        send.disabled = false;
      }
      await load();
    } }, result, note, send);
  }

  function caller(c) {
    if (!c.number) return el('span', { class: 'tel none' }, t('anonymous'));
    // The link dials the normalised digits; the number is shown as the PBX sent it.
    return c.normalised ? el('a', { href: 'tel:' + c.normalised, class: 'tel' }, c.number) : el('span', { class: 'tel' }, c.number);
  }

  function item(c, now, draft) {
    return el('li', { class: 'callback reason-' + c.reason, 'data-callback': c.id, 'data-ticket': c.ticket },
      el('header', {}, el('span', { class: 'age', 'data-created': c.created_at, title: when(c.created_at) }, age(c.created_at, now)),
        ' ', caller(c), c.name ? [' ', el('span', { class: 'caller-name' }, c.name)] : null,
        ' ', el('span', { class: 'badge reason-' + c.reason }, t(c.reason))),
      el('p', { class: 'callback-ticket' }, ticketLink(c.ticket), ' ', c.subject),
      el('p', { class: 'callback-meta' }, t('attempts') + ': ' + c.attempts,
        c.last_result ? ' · ' + t('last_result') + ': ' + t(c.last_result) + ' (' + when(c.last_attempt_at) + ')' : ''),
      c.last_note ? el('p', { class: 'callback-note' }, c.last_note) : null,
      attemptForm(c, draft));
  }

  async function load() {
    const tier = tierSelect.value ? '&tier=' + tierSelect.value : '';
    let open, done;
    try {
      [open, done] = await Promise.all([api('GET', '/api/callbacks?state=open' + tier),
        api('GET', '/api/callbacks?state=done&limit=20' + tier)]);
    } catch (e) { return failed(e); }
    results = open.results;
    // What an operator was writing survives a reload.
    const drafts = new Map();
    for (const f of lists.querySelectorAll('form.attempt')) {
      drafts.set(f.dataset.callback, { result: f.elements.result.value, note: f.elements.note.value });
    }
    const focused = document.activeElement && document.activeElement.closest('form.attempt');
    const now = Date.now();
    clear(lists);
    for (const n of tierSelect.value ? [Number(tierSelect.value)] : [1, 2, 3]) {
      const tasks = open.callbacks.filter((c) => c.tier === n);
      lists.append(el('section', { class: 'column callback-tier', 'data-tier': n },
        el('h2', {}, t('tier') + ' ' + n, ' ', el('span', { class: 'count' }, String(tasks.length))),
        tasks.length ? el('ol', { class: 'callback-list' }, tasks.map((c) => item(c, now, drafts.get(String(c.id)))))
          : el('p', { class: 'empty' }, t('nothing'))));
    }
    if (focused) lists.querySelector('form.attempt[data-callback="' + focused.dataset.callback + '"] input')?.focus();
    clear(recent).append(...done.callbacks.map((c) => el('li', { 'data-callback': c.id }, when(c.closed_at), ' ',
      ticketLink(c.ticket), ' ', c.number || t('anonymous'), ' — ', t(c.last_result), ' (' + t('closed_by') + ': ', c.closed_by || '', ')')));
  }
  let pending = null;
  onEvent((kind) => {
    if (kind.startsWith('callback.') || kind === 'resync') {
      clearTimeout(pending);
      pending = setTimeout(load, 150);
    }
  });
  setInterval(() => {
    for (const a of lists.querySelectorAll('.age')) a.textContent = age(a.dataset.created, Date.now());
  }, 60000);
  await load();
}

// ---- the contact list (連絡先一覧) -------------------------------------------------------------
// Every role sees the groups, their people and hours; admins edit the TOML, which the server
// validates like `check` (a 422 names each wrong line) and keeps as a new, audited version.
// A file admins edit in the console (the contact list, the interview templates): what is in force
// drawn by `draw`, the TOML editor for admins, and the saved versions.
async function documentPage(main, path, fileName, heading, draw) {
  const me = await session();
  const origin = el('p', { class: 'contact-list-origin' });
  const groups = el('div', { class: 'document-view' });
  const versions = el('div', { class: 'contact-list-versions' });
  const problems = el('pre', { class: 'problems', role: 'alert', hidden: true });
  const source = el('textarea', { name: 'source', rows: 24, cols: 90, spellcheck: 'false', 'aria-label': fileName });
  const reason = el('input', { name: 'reason', required: true, maxlength: 500 });
  let base = null;
  const editor = me.role === 'admin' ? el('form', { class: 'contact-list-editor', onsubmit: async (e) => {
    e.preventDefault();
    problems.hidden = true;
    try {
      const r = await api('PUT', path, { source: source.value, reason: reason.value.trim(), base_version: base });
      reason.value = '';
      flash(t('saved') + ': ' + versionName(r.version));
      await load(true);
    } catch (err) {
      if (err.status === 422) { problems.textContent = err.message; problems.hidden = false; }
      failed(err);
    }
  } }, el('h2', {}, heading), problems, source, field(t('reason'), reason),
  el('button', { type: 'submit', class: 'primary' }, t('save'))) : null;
  main.append(origin, groups, editor, el('h2', {}, t('versions')), versions);

  async function load(fresh) {
    let list;
    try { list = await api('GET', path); } catch (e) { return failed(e); }
    const from = list.from === 'console' ? t('saved_in_console') + ' ' + versionName(list.version)
      : list.from === 'file' ? list.file : t('builtin_list');
    clear(origin).append(t('in_force') + ': ', el('strong', {}, from));
    try { clear(groups).append(...await draw()); } catch (e) { failed(e); }
    // What an admin is typing is kept unless they just saved it.
    if (fresh || !source.value) { source.value = list.source; base = list.version; }
    clear(versions).append(list.versions.length ? el('table', { class: 'versions' },
      el('thead', {}, el('tr', {}, [t('version'), t('time'), t('edited_by'), t('reason'), ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, list.versions.map((v) => el('tr', { 'data-version': v.version }, el('td', {}, versionName(v.version)),
        el('td', {}, when(v.edited_at)), el('td', {}, v.edited_by), el('td', {}, v.reason),
        el('td', {}, editor ? el('button', { type: 'button', onclick: () => { source.value = v.source; source.focus(); } }, t('load_version')) : '')))))
      : el('p', { class: 'empty' }, t('never_edited')));
  }
  await load(true);
}

function hours(h) { return h === '24x7' ? t('around_the_clock') : h; }

async function contactListPage(main) {
  await documentPage(main, '/api/contact-list', 'contacts.toml', t('edit_contact_list'), async () => {
    const g = await api('GET', '/api/groups');
    return [1, 2, 3].map((n) => el('section', { class: 'contact-tier', 'data-tier': n }, el('h2', {}, t('tier') + ' ' + n),
      g.groups.filter((x) => x.tier === n).map((x) => el('article', { class: 'contact-group', 'data-group': x.id },
        el('h3', {}, x.name, x.name_en ? el('span', { class: 'latin' }, ' ' + x.name_en) : null),
        el('p', { class: 'hours' }, t('reachable') + ': ' + hours(x.hours)),
        el('ul', {}, x.contacts.map((c) => el('li', {}, c.name,
          c.phone ? [' ', el('a', { href: 'tel:' + c.phone.replace(/[^0-9+]/g, ''), class: 'tel' }, c.phone)] : null,
          c.email ? [' ', el('a', { href: 'mailto:' + c.email }, c.email)] : null)))))));
  });
}

async function interviewTemplatesPage(main) {
  await documentPage(main, '/api/interview-templates', 'interviews.toml', t('edit_interviews'), async () => {
    const all = await api('GET', '/api/interviews');
    return all.templates.map((x) => el('article', { class: 'interview-template', 'data-template': x.id },
      el('h2', {}, LANG === 'ja' ? x.name : (x.name_en || x.name), ' ', el('span', { class: 'latin' }, '(' + x.categories.join(', ') + ')')),
      el('ol', {}, x.questions.map((q) => el('li', { 'data-question': q.id },
        (LANG === 'ja' ? q.text : (q.text_en || q.text)) + (q.required ? ' *' : ''), ' ', el('code', {}, q.id + ': ' + q.type),
        q.when ? ' — ' + t('asked_when') + ' ' + q.when.question + ' = ' + q.when.values.join('/') : '')))));
  });
}

async function newContactPage(main) {
  const input = (name, type) => el('input', { name, type: type || 'text' });
  const f = {
    channel: select('channel', ['manual', 'phone', 'email', 'fax'], 'manual'), name: input('name'),
    number: input('number', 'tel'), email: input('email', 'email'), organisation: input('organisation'),
    subject: input('subject'), body: el('textarea', { name: 'body', rows: 6 }), join: input('join'),
  };
  main.append(el('form', { class: 'new-contact', onsubmit: async (e) => {
    e.preventDefault();
    const caller = {};
    for (const k of ['name', 'number', 'email', 'organisation']) if (f[k].value.trim()) caller[k] = f[k].value.trim();
    const body = { channel: f.channel.value, subject: f.subject.value.trim() || null, body: f.body.value, caller };
    if (f.join.value.trim()) body.ticket = f.join.value.trim();
    try {
      const r = await api('POST', '/api/contacts', body);
      location.assign('/tickets/' + encodeURIComponent(r.ticket));
    } catch (err) { failed(err); }
  } },
  field(t('channel'), f.channel), field(t('name'), f.name), field(t('number'), f.number),
  field(t('email_address'), f.email), field(t('organisation'), f.organisation), field(t('subject'), f.subject),
  field(t('body'), f.body), field(t('join'), f.join), el('button', { type: 'submit', class: 'primary' }, t('save'))));
}

async function adminPage(main) {
  const users = el('div', {});
  const tokens = el('div', {});
  const shown = el('div', { class: 'token-once', 'aria-live': 'polite' });
  const login = el('input', { name: 'login', required: true, autocomplete: 'off' });
  const name = el('input', { name: 'name' });
  const role = select('role', ['operator', 'supervisor', 'admin'], 'operator');
  const password = el('input', { name: 'password', type: 'password', required: true, minlength: 12, autocomplete: 'new-password' });
  const tokenLogin = el('input', { name: 'token_login', required: true });
  const tokenLabel = el('input', { name: 'token_label', required: true });
  main.append(el('h2', {}, t('users')), users,
    el('form', { class: 'add-user', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('POST', '/api/users', { login: login.value.trim(), name: name.value.trim() || null, role: role.value, password: password.value });
        password.value = '';
        flash(t('saved'));
        await load();
      } catch (err) { failed(err); }
    } }, el('h3', {}, t('add_user')), field(t('login'), login), field(t('name'), name), field(t('role'), role),
    field(t('password'), password), el('button', { type: 'submit' }, t('add_user'))),
    el('h2', {}, t('tokens')), tokens,
    el('form', { class: 'add-token', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const r = await api('POST', '/api/tokens', { login: tokenLogin.value.trim(), label: tokenLabel.value.trim() });
        clear(shown).append(el('p', {}, t('token_once')), el('code', { class: 'token' }, r.token));
        await load();
      } catch (err) { failed(err); }
    } }, el('h3', {}, t('add_token')), field(t('login'), tokenLogin), field(t('label'), tokenLabel),
    el('button', { type: 'submit' }, t('add_token'))), shown);
  async function load() {
    try {
      const [u, k] = await Promise.all([api('GET', '/api/users'), api('GET', '/api/tokens')]);
      clear(users).append(el('table', { class: 'users' },
        el('thead', {}, el('tr', {}, [t('login'), t('name'), t('role'), t('disabled'), ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, u.users.map((x) => el('tr', {}, el('td', {}, x.login), el('td', {}, x.name), el('td', {}, x.role),
          el('td', {}, x.disabled ? '✓' : ''),
          el('td', {}, x.disabled ? '' : el('button', { type: 'button', onclick: async () => {
            try { await api('POST', '/api/users/' + encodeURIComponent(x.login) + '/disable'); await load(); } catch (err) { failed(err); }
          } }, t('disable'))))))));
      clear(tokens).append(el('table', { class: 'tokens' },
        el('thead', {}, el('tr', {}, [t('login'), t('label'), t('created'), t('last_used'), ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, k.tokens.map((x) => el('tr', {}, el('td', {}, x.login), el('td', {}, x.label),
          el('td', {}, when(x.created_at)), el('td', {}, when(x.last_used_at)),
          el('td', {}, x.revoked_at ? t('revoke') + ' ✓' : el('button', { type: 'button', onclick: async () => {
            try { await api('DELETE', '/api/tokens/' + x.id); await load(); } catch (err) { failed(err); }
          } }, t('revoke'))))))));
    } catch (e) { failed(e); }
  }
  await load();
}

// ---- announcements ------------------------------------------------------------------------------
// What each slot plays (GET /api/prompts), its versions with a preview player, and a request form;
// supervisors and admins approve, reject and roll back. Slots are blocks in one section of their
// own, so the page can carry other sections beside it.
const SLOTS = {
  welcome: ['最初の案内', 'Welcome'], menu: ['メニュー', 'Menu'], invalid: ['無効なキー', 'Invalid key'],
  transfer: ['転送の案内', 'Transfer'], closed: ['時間外', 'Closed'], holiday: ['休日', 'Holiday'],
  voicemail: ['留守番電話', 'Voicemail'], goodbye: ['終わりの案内', 'Goodbye'],
  maintenance: ['保守・臨時の案内（メニューの前）', 'Maintenance notice (before the menu)'],
};
// Slots whose shipped version is silence (they play only once a version is approved).
const SHIPS_SILENT = ['maintenance'];
function slotName(slot) {
  const w = SLOTS[slot];
  return w ? w[LANG === 'ja' ? 0 : 1] + ' (' + slot + ')' : slot;
}
function versionName(n) { return LANG === 'ja' ? '第' + n + '版' : 'Version ' + n; }
function seconds(ms) { return (ms / 1000).toFixed(1) + (LANG === 'ja' ? ' 秒' : ' s'); }
/** A datetime-local value ("2026-12-28T09:00"), read as Japan time: RFC 3339 with +09:00. */
function jstInstant(value) {
  if (!value) return undefined;
  return value + (value.length === 16 ? ':00' : '') + '+09:00';
}
/** A file's bytes as base64 (FileReader, so large files are not built up as strings by hand). */
function fileBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^[^,]*,/, ''));
    reader.onerror = () => reject(reader.error || new Error('the file could not be read'));
    reader.readAsDataURL(file);
  });
}
function promptPath(slot, version, action) {
  return '/api/prompts/' + encodeURIComponent(slot) + '/versions' + (version ? '/' + version : '') + (action ? '/' + action : '');
}

async function announcementsPage(main) {
  const me = await session();
  const notices = el('section', { class: 'notices', 'aria-labelledby': 'notices-heading' });
  const section = el('section', { class: 'announcements', 'aria-label': t('announcements') });
  main.append(notices, section);
  await Promise.all([noticesSection(notices, me), announcementsSection(section, me)]);
}

// ---- system operation notices -------------------------------------------------------------------
// Drafts, their review and publication (GET/POST /api/notices); what is public is on /notices.
async function noticesSection(section, me) {
  const decider = me.role === 'supervisor' || me.role === 'admin';
  const list = el('ol', { class: 'notice-list' });
  section.append(
    el('h2', { id: 'notices-heading' }, t('notices'), ' ',
      el('a', { href: '/notices', target: '_blank', rel: 'noopener', class: 'public-link' }, t('public_page'))),
    list, draftForm());

  async function act(run, done) {
    try { await run(); flash(done); } catch (err) { failed(err); }
    await load();
  }

  function draftForm() {
    const kind = select('kind', ['failure', 'maintenance'], 'failure', t);
    const title = el('input', { name: 'title', required: true, maxlength: 200, lang: 'ja' });
    const titleEn = el('input', { name: 'title_en', maxlength: 200, lang: 'en' });
    const body = el('textarea', { name: 'body', required: true, rows: 4, lang: 'ja' });
    const bodyEn = el('textarea', { name: 'body_en', rows: 3, lang: 'en' });
    const from = el('input', { type: 'datetime-local', name: 'valid_from' });
    const until = el('input', { type: 'datetime-local', name: 'valid_until' });
    const file = el('input', { type: 'file', name: 'audio', accept: '.wav,.mp3,audio/wav,audio/x-wav,audio/mpeg' });
    const spoken = el('textarea', { name: 'audio_text', rows: 2, lang: 'ja' });
    const send = el('button', { type: 'submit', class: 'primary' }, t('save_draft'));
    const form = el('form', { class: 'notice-compose', onsubmit: async (e) => {
      e.preventDefault();
      const picked = file.files && file.files[0];
      const words = spoken.value.trim();
      if (picked && words) { flash(t('file_or_text'), true); return; }
      send.disabled = true;
      try {
        const draft = { kind: kind.value, title: title.value, title_en: titleEn.value, body: body.value, body_en: bodyEn.value };
        if (from.value) draft.valid_from = jstInstant(from.value);
        if (until.value) draft.valid_until = jstInstant(until.value);
        if (picked) draft.audio_base64 = await fileBase64(picked);
        else if (words) draft.audio_text = words;
        const made = await api('POST', '/api/notices', draft);
        form.reset();
        flash('#' + made.id + ': ' + t('drafted'));
      } catch (err) {
        failed(err);
      } finally {
        send.disabled = false;
      }
      await load();
    } },
    el('div', { class: 'row' }, field(t('kind'), kind), field(t('title'), title), field(t('title_en'), titleEn)),
    el('div', { class: 'row' }, field(t('notice_text'), body), field(t('body_en'), bodyEn)),
    el('div', { class: 'row' }, field(t('valid_from'), from), field(t('valid_until'), until)),
    el('div', { class: 'row' }, field(t('callers_hear'), file), field(t('audio_text'), spoken)),
    send);
    return el('details', { class: 'notice-compose' }, el('summary', {}, t('draft_notice')), form);
  }

  function actions(n) {
    if (!decider) return null;
    const path = (action) => '/api/notices/' + n.id + '/' + action;
    if (n.state === 'published') {
      return el('button', { type: 'button', class: 'withdraw', onclick: () => act(() => api('POST', path('withdraw')), '#' + n.id + ': ' + t('withdrawn')) }, t('withdraw'));
    }
    if (n.state !== 'draft') return null;
    if (n.drafted_by === me.login) return el('p', { class: 'own-request' }, t('own_notice'));
    const comment = el('input', { name: 'comment', maxlength: 2000 });
    const decide = (action) => act(() => api('POST', path(action), comment.value.trim() ? { comment: comment.value.trim() } : {}),
      '#' + n.id + ': ' + t(action === 'approve' ? 'published' : 'rejected'));
    return el('div', { class: 'decide row' }, field(t('comment'), comment),
      el('button', { type: 'button', class: 'approve primary', onclick: () => decide('approve') }, t('approve')),
      el('button', { type: 'button', class: 'reject', onclick: () => decide('reject') }, t('reject')));
  }

  function item(n, heard) {
    const rows = [
      [t('kind'), t(n.kind)], [t('window'), (n.valid_from || n.valid_until) ? (when(n.valid_from) || '…') + ' 〜 ' + (when(n.valid_until) || '…') + ' (JST)' : null],
      [t('drafted_by'), n.drafted_by + ' (' + when(n.created_at) + ')'],
      [t('decided_by'), n.decided_by ? n.decided_by + ' (' + when(n.decided_at) + ')' : null], [t('comment'), n.comment],
      [t('withdrawn'), n.withdrawn_by ? n.withdrawn_by + ' (' + when(n.withdrawn_at) + ')' : null],
      [t('audio_text'), n.audio_text || null], [t('duration'), n.duration_ms > 0 ? seconds(n.duration_ms) : null],
    ].filter(([, value]) => value);
    return el('li', { class: 'notice state-' + n.state, 'data-notice': n.id, 'data-state': n.state },
      el('header', {}, el('strong', {}, '#' + n.id + ' ', n.title), ' ', badge('notice', n.state),
        n.public ? [' ', el('span', { class: 'badge public' }, t('public_now'))] : null,
        heard ? [' ', el('span', { class: 'badge playing' }, t('in_calls'))] : null),
      n.title_en ? el('p', { class: 'en', lang: 'en' }, n.title_en) : null,
      el('pre', { class: 'body' }, n.body),
      n.body_en ? el('pre', { class: 'body en', lang: 'en' }, n.body_en) : null,
      el('dl', {}, rows.flatMap(([k, value]) => [el('dt', {}, k), el('dd', {}, value)])),
      n.has_audio ? el('audio', { controls: true, preload: 'metadata', src: '/api/notices/' + n.id + '/audio', 'aria-label': t('preview') + ': #' + n.id }) : null,
      actions(n));
  }

  async function load() {
    let data, heard = [];
    try {
      data = await api('GET', '/api/notices');
      heard = (await api('GET', '/api/prompts')).notices_playing || [];
    } catch (e) { return failed(e); }
    clear(list).append(...(data.notices.length ? data.notices.map((n) => item(n, heard.includes(n.id)))
      : [el('li', { class: 'none' }, t('no_notices'))]));
  }
  await load();
}

async function announcementsSection(section, me) {
  const decider = me.role === 'supervisor' || me.role === 'admin';
  const blocks = new Map();
  let timer = null;

  async function act(run, done) {
    try {
      await run();
      flash(done || t('saved'));
    } catch (err) { failed(err); }
    await load();
  }

  function requestForm(slot) {
    const file = el('input', { type: 'file', name: 'audio', accept: '.wav,.mp3,audio/wav,audio/x-wav,audio/mpeg' });
    const text = el('textarea', { name: 'text', rows: 2, lang: 'ja' });
    const reason = el('input', { name: 'reason', required: true, maxlength: 2000 });
    const from = el('input', { type: 'datetime-local', name: 'valid_from' });
    const until = el('input', { type: 'datetime-local', name: 'valid_until' });
    const send = el('button', { type: 'submit', class: 'primary' }, t('request'));
    const form = el('form', { class: 'prompt-request', onsubmit: async (e) => {
      e.preventDefault();
      const picked = file.files && file.files[0];
      const words = text.value.trim();
      if (!picked === !words) { flash(t('file_or_text'), true); return; }
      send.disabled = true;
      try {
        const body = { reason: reason.value.trim() };
        if (picked) body.audio_base64 = await fileBase64(picked);
        else body.text = words;
        if (from.value) body.valid_from = jstInstant(from.value);
        if (until.value) body.valid_until = jstInstant(until.value);
        const made = await api('POST', promptPath(slot), body);
        form.reset();
        flash(versionName(made.version) + ': ' + t('requested'));
      } catch (err) {
        failed(err);
      } finally {
        send.disabled = false;
      }
      await load();
    } },
    el('div', { class: 'row' }, field(t('audio_file'), file), field(t('speak_text'), text)),
    el('div', { class: 'row' }, field(t('reason'), reason), field(t('valid_from'), from), field(t('valid_until'), until)),
    send);
    return el('details', { class: 'prompt-request', 'data-slot': slot }, el('summary', {}, t('request_version')), form);
  }

  function block(slot) {
    if (blocks.has(slot)) return blocks.get(slot);
    const b = {
      node: el('section', { class: 'slot', 'data-slot': slot, 'aria-labelledby': 'slot-' + slot }),
      playing: el('p', { class: 'playing' }),
      versions: el('ol', { class: 'versions', 'aria-label': t('versions') }),
    };
    b.node.append(el('h2', { id: 'slot-' + slot }, slotName(slot)), b.playing, b.versions, requestForm(slot));
    blocks.set(slot, b);
    section.append(b.node);
    return b;
  }

  function windowOf(v, now) {
    if (!v.valid_from && !v.valid_until) return null;
    const from = v.valid_from ? Date.parse(v.valid_from) : null;
    const until = v.valid_until ? Date.parse(v.valid_until) : null;
    const tag = from !== null && from > now ? el('span', { class: 'badge scheduled' }, t('scheduled'))
      : until !== null && until <= now ? el('span', { class: 'badge expired' }, t('expired')) : null;
    return el('span', { class: 'window' }, t('window') + ': ', when(v.valid_from) || '…', ' 〜 ', when(v.valid_until) || '…',
      ' (JST)', tag ? ' ' : null, tag);
  }

  function decision(slot, v) {
    if (v.state !== 'pending' || !decider) return null;
    if (v.requested_by === me.login) return el('p', { class: 'own-request' }, t('own_request'));
    const comment = el('input', { name: 'comment', maxlength: 2000 });
    const decide = (action) => act(() => api('POST', promptPath(slot, v.version, action), comment.value.trim()
      ? { comment: comment.value.trim() } : {}), versionName(v.version) + ': ' + t(action === 'approve' ? 'approved' : 'rejected'));
    return el('div', { class: 'decide row' }, field(t('comment'), comment),
      el('button', { type: 'button', class: 'approve primary', onclick: () => decide('approve') }, t('approve')),
      el('button', { type: 'button', class: 'reject', onclick: () => decide('reject') }, t('reject')));
  }

  function versionItem(slot, v, playing, now) {
    const live = v.version === playing;
    const inWindow = (!v.valid_from || Date.parse(v.valid_from) <= now) && (!v.valid_until || now < Date.parse(v.valid_until));
    const rows = [
      [t('requested_by'), v.shipped ? null : v.requested_by],
      [t('reason'), v.reason], [t('created'), when(v.created_at)],
      [t('decided_by'), v.decided_by ? v.decided_by + ' (' + when(v.decided_at) + ')' : null], [t('comment'), v.comment],
      [t('duration'), v.duration_ms > 0 ? seconds(v.duration_ms) : null],
    ].filter(([, value]) => value);
    const label = slotName(slot) + ' ' + versionName(v.version);
    return el('li', { class: 'version state-' + v.state + (live ? ' live' : ''), 'data-version': v.version, 'data-state': v.state },
      el('header', {}, el('strong', {}, versionName(v.version)), ' ', badge('prompt', v.state),
        live ? [' ', el('span', { class: 'badge playing' }, t('playing'))] : null, ' ', windowOf(v, now)),
      el('dl', {}, rows.flatMap(([k, value]) => [el('dt', {}, k), el('dd', {}, value)])),
      v.shipped ? el('p', { class: 'shipped' }, SHIPS_SILENT.includes(slot) ? t('silent') : t('shipped_audio'))
        : el('audio', { controls: true, preload: 'metadata', src: promptPath(slot, v.version, 'audio'), 'aria-label': t('preview') + ': ' + label }),
      decision(slot, v),
      decider && v.state === 'approved' && !live && inWindow
        ? el('button', { type: 'button', class: 'rollback', onclick: () => act(() => api('POST', promptPath(slot, v.version, 'rollback')),
          versionName(v.version) + ': ' + t('rolled_back')) }, t('rollback')) : null);
  }

  async function load() {
    let data;
    try { data = await api('GET', '/api/prompts'); } catch (e) { return failed(e); }
    const now = Date.now();
    let next = null;
    // In the order a caller meets them; slots an admin added after those.
    const order = Object.keys(SLOTS);
    const rank = (slot) => (order.includes(slot) ? order.indexOf(slot) : order.length);
    const slots = Object.entries(data.slots).sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const [slot, versions] of slots) {
      const b = block(slot);
      const playing = data.playing[slot];
      b.node.dataset.playing = playing === undefined ? '' : String(playing);
      clear(b.playing).append(t('playing_now') + ': ',
        el('strong', {}, playing && !(playing === 1 && SHIPS_SILENT.includes(slot))
          ? versionName(playing) + (playing === 1 ? ' (' + t('shipped') + ')' : '') : t('silent')));
      const newest = [...versions].sort((a, b2) => b2.version - a.version);
      clear(b.versions).append(...newest.map((v) => versionItem(slot, v, playing, now)));
      for (const v of versions) {
        if (v.state !== 'approved') continue;
        for (const at of [v.valid_from, v.valid_until].map((x) => (x ? Date.parse(x) : NaN))) {
          if (at > now && (next === null || at < next)) next = at;
        }
      }
    }
    // A scheduled version switches on or off by itself: look again just after it does.
    clearTimeout(timer);
    if (next !== null) timer = setTimeout(load, Math.min(next - now + 1500, 3600000));
  }
  await load();
}

// ---- FAQ upkeep ---------------------------------------------------------------------------------
// Candidates from the resolved tickets (GET /api/faq/candidates), a draft or edit form, the
// entries by state with what the signed-in role may do to each (submit, record an approval step,
// reject, publish, withdraw; never approve one's own), and a search of the published entries.
const FAQ_WORDS = {
  faq_candidates: ['FAQ 候補（解決済みの問い合わせから）', 'Candidates from resolved tickets'],
  faq_entries: ['FAQ 一覧', 'FAQ entries'], faq_search: ['公開中の FAQ を検索', 'Search the published FAQ'],
  faq_form: ['FAQ を作成', 'Write an FAQ entry'], faq_edit: ['FAQ を編集', 'Edit the FAQ entry'],
  question: ['質問', 'Question'], answer: ['回答', 'Answer'], audience: ['公開範囲', 'Audience'],
  internal: ['内部のみ', 'Internal'], public: ['一般公開', 'Public'], tickets: ['元のチケット', 'Tickets'],
  period_from: ['期間（開始）', 'From'], period_to: ['期間（終了）', 'To'], show: ['表示', 'Show'],
  count: ['件数', 'Count'], draft_from: ['この候補から下書き', 'Draft an entry from these'],
  linked: ['件は FAQ 作成済み', 'already in an FAQ entry'], no_candidates: ['この期間の候補はありません', 'No candidates in this period'],
  tickets_read: ['件の解決済みチケットから', 'resolved tickets read'], truncated: ['（上限まで）', '(limit reached)'],
  save_faq: ['下書きを保存', 'Save the draft'], save_edit: ['変更を保存', 'Save the changes'], cancel: ['取消', 'Cancel'],
  faq_saved: ['下書きを保存しました', 'Draft saved'], faq_edited: ['変更を保存しました（下書きに戻りました）', 'Saved (back to draft)'],
  submit_faq: ['承認へ提出', 'Submit for approval'], faq_submitted: ['提出しました', 'Submitted'],
  submitted: ['承認待ち', 'Awaiting approval'], edit: ['編集', 'Edit'], publish: ['公開する', 'Publish'],
  record_step: ['を記録', ': record it'], step_done: ['を記録しました', 'recorded'],
  faq_rejected: ['差し戻しました', 'Sent back to draft'], send_back: ['差し戻す', 'Send back'],
  faq_published: ['公開しました', 'Published'], faq_withdrawn: ['取り下げました', 'Withdrawn'],
  own_entry: ['自分が作成・編集した FAQ は承認・差し戻しできません', 'You cannot approve or send back an entry you wrote or edited'],
  all_states: ['すべての状態', 'All states'], author: ['作成者', 'Author'], uses: ['回答に利用', 'Used in answers'],
  no_entries: ['該当する FAQ はありません', 'No FAQ entries'], approvals: ['承認', 'Approvals'],
  faq_rejected_by: ['差し戻し', 'Sent back'], tickets_hint: ['チケット番号（空白区切り）', 'Ticket numbers (space-separated)'],
};
function ft(key) { const w = FAQ_WORDS[key]; return w ? w[LANG === 'ja' ? 0 : 1] : t(key); }
const FAQ_STATES = ['draft', 'submitted', 'approved', 'published', 'withdrawn'];
function faqStateName(s) { return s === 'submitted' ? ft('submitted') : t(s); }
function stepName(s) { return LANG === 'ja' ? s.label : (s.label_en || s.label); }
function jstDay(offsetDays) {
  const d = new Date(Date.now() + 9 * 3600000 + offsetDays * 86400000);
  return d.toISOString().slice(0, 10);
}

async function faqPage(main) {
  const me = await session();
  const decider = me.role === 'supervisor' || me.role === 'admin';
  const candidates = el('section', { class: 'faq-candidates', 'aria-labelledby': 'faq-candidates-heading' });
  const editor = el('section', { class: 'faq-editor', 'aria-labelledby': 'faq-form-heading' });
  const entries = el('section', { class: 'faq-entries', 'aria-labelledby': 'faq-entries-heading' });
  const search = el('section', { class: 'faq-search', 'aria-labelledby': 'faq-search-heading' });
  main.append(candidates, editor, entries, search);

  async function act(run, done) {
    try { await run(); flash(done); } catch (err) { failed(err); }
    await loadEntries();
  }

  // The draft or edit form: empty, pre-filled from a candidate, or holding an entry being edited.
  let editing = null;
  const heading = el('h2', { id: 'faq-form-heading' }, ft('faq_form'));
  const question = el('textarea', { name: 'question', required: true, rows: 2, maxlength: 500, lang: 'ja' });
  const answer = el('textarea', { name: 'answer', required: true, rows: 6, maxlength: 20000, lang: 'ja' });
  const category = el('input', { name: 'category', required: true, maxlength: 64 });
  const audience = select('audience', ['internal', 'public'], 'internal', ft);
  const tickets = el('input', { name: 'tickets', placeholder: ft('tickets_hint'), 'aria-label': ft('tickets') });
  const save = el('button', { type: 'submit', class: 'primary' }, ft('save_faq'));
  const cancel = el('button', { type: 'button', class: 'cancel', onclick: () => reset() }, ft('cancel'));
  function reset() {
    editing = null;
    form.reset();
    clear(heading).append(ft('faq_form'));
    clear(save).append(ft('save_faq'));
  }
  function fill(values, id) {
    editing = id || null;
    question.value = values.question || '';
    answer.value = values.answer || '';
    category.value = values.category || '';
    audience.value = values.audience || 'internal';
    tickets.value = (values.tickets || []).join(' ');
    clear(heading).append(id ? ft('faq_edit') + ' #' + id : ft('faq_form'));
    clear(save).append(id ? ft('save_edit') : ft('save_faq'));
    editor.scrollIntoView({ block: 'start' });
    (answer.value ? question : answer).focus();
  }
  const form = el('form', { class: 'faq-form', onsubmit: async (e) => {
    e.preventDefault();
    save.disabled = true;
    const body = { question: question.value, answer: answer.value, category: category.value, audience: audience.value,
      tickets: tickets.value.split(/[\s,、]+/).filter((n) => n) };
    try {
      const made = editing ? await api('PATCH', '/api/faq/' + editing, body) : await api('POST', '/api/faq', body);
      flash('#' + made.id + ': ' + ft(editing ? 'faq_edited' : 'faq_saved'));
      reset();
    } catch (err) {
      failed(err);
    } finally {
      save.disabled = false;
    }
    await loadEntries();
  } },
  el('div', { class: 'row' }, field(ft('question'), question), field(t('category'), category), field(ft('audience'), audience)),
  field(ft('answer'), answer), field(ft('tickets'), tickets), el('div', { class: 'row' }, save, cancel));
  editor.append(heading, form);

  // Candidates over a chosen period.
  const from = el('input', { type: 'date', name: 'from', value: jstDay(-29) });
  const to = el('input', { type: 'date', name: 'to', value: jstDay(0) });
  const summary = el('p', { class: 'faq-candidates-summary' });
  const clusters = el('ol', { class: 'faq-candidate-list' });
  candidates.append(el('h2', { id: 'faq-candidates-heading' }, ft('faq_candidates')),
    el('form', { class: 'toolbar faq-period', onsubmit: (e) => { e.preventDefault(); loadCandidates(); } },
      field(ft('period_from'), from), field(ft('period_to'), to), el('button', { type: 'submit' }, ft('show'))),
    summary, clusters);
  async function loadCandidates() {
    let data;
    const p = new URLSearchParams();
    if (from.value) p.set('from', from.value);
    if (to.value) p.set('to', to.value);
    try { data = await api('GET', '/api/faq/candidates?' + p); } catch (e) { return failed(e); }
    clear(summary).append(data.from + ' 〜 ' + data.to + ' (JST) · ' + data.tickets_read + ' ' + ft('tickets_read'),
      data.truncated ? ' ' + ft('truncated') : '');
    clear(clusters).append(...(data.candidates.length ? data.candidates.map((c) => el('li', { class: 'faq-candidate', 'data-count': c.count },
      el('header', {}, el('span', { class: 'badge count' }, c.count + (LANG === 'ja' ? ' 件' : '')), ' ',
        el('strong', { class: 'subject' }, c.subject), ' ', el('span', { class: 'category' }, c.category_label || c.category),
        c.linked ? [' ', el('span', { class: 'badge linked' }, c.linked + ' ' + ft('linked'))] : null),
      el('p', { class: 'faq-tickets' }, c.tickets.flatMap((n) => [ticketLink(n), ' '])),
      el('button', { type: 'button', class: 'draft-from', onclick: () => fill({ question: c.subject, category: c.category, tickets: c.tickets }) },
        ft('draft_from'))))
      : [el('li', { class: 'none' }, ft('no_candidates'))]));
  }

  // The entries, by state.
  const stateFilter = select('state', [''].concat(FAQ_STATES), '', (v) => (v ? faqStateName(v) : ft('all_states')));
  stateFilter.addEventListener('change', () => loadEntries());
  const list = el('div', { class: 'faq-entry-groups' });
  entries.append(el('h2', { id: 'faq-entries-heading' }, ft('faq_entries')), el('div', { class: 'toolbar' }, stateFilter), list);

  function actions(x) {
    const path = (action) => '/api/faq/' + x.id + '/' + action;
    const wrote = x.author === me.login || x.edited_by === me.login;
    const out = [];
    if (x.state !== 'published') {
      out.push(el('button', { type: 'button', class: 'edit', onclick: () => fill(x, x.id) }, ft('edit')));
    }
    if (x.state === 'draft') {
      out.push(el('button', { type: 'button', class: 'submit primary', onclick: () => act(() => api('POST', path('submit')), '#' + x.id + ': ' + ft('faq_submitted')) }, ft('submit_faq')));
    }
    if (decider && (x.state === 'submitted' || x.state === 'approved')) {
      if (wrote) {
        out.push(el('p', { class: 'own-request' }, ft('own_entry')));
      } else {
        const comment = el('input', { name: 'comment', maxlength: 2000, 'aria-label': t('comment') });
        const said = () => (comment.value.trim() ? { comment: comment.value.trim() } : {});
        out.push(field(t('comment'), comment));
        if (x.next_step) {
          out.push(el('button', { type: 'button', class: 'approve primary', 'data-step': x.next_step.step,
            onclick: () => act(() => api('POST', path('approve'), { step: x.next_step.step, ...said() }),
              '#' + x.id + ': ' + stepName(x.next_step) + ' ' + ft('step_done')) },
          stepName(x.next_step) + ft('record_step')));
        }
        out.push(el('button', { type: 'button', class: 'reject', onclick: () => act(() => api('POST', path('reject'), said()), '#' + x.id + ': ' + ft('faq_rejected')) }, ft('send_back')));
      }
    }
    if (decider && x.state === 'approved') {
      out.push(el('button', { type: 'button', class: 'publish primary', onclick: () => act(() => api('POST', path('publish')), '#' + x.id + ': ' + ft('faq_published')) }, ft('publish')));
    }
    if (decider && x.state === 'published') {
      out.push(el('button', { type: 'button', class: 'withdraw', onclick: () => act(() => api('POST', path('withdraw')), '#' + x.id + ': ' + ft('faq_withdrawn')) }, t('withdraw')));
    }
    return out.length ? el('div', { class: 'decide row' }, out) : null;
  }

  function entryItem(x) {
    const rejections = x.decisions.filter((d) => d.decision === 'rejected');
    const rows = [
      [t('category'), x.category], [ft('audience'), ft(x.audience)],
      [ft('author'), x.author + ' (' + when(x.created_at) + ')' + (x.edited_by !== x.author ? ' · ' + t('edited_by') + ' ' + x.edited_by : '')],
      [t('published'), x.published_by ? x.published_by + ' (' + when(x.published_at) + ')' : null],
      [t('withdrawn'), x.withdrawn_by ? x.withdrawn_by + ' (' + when(x.withdrawn_at) + ')' : null],
      [ft('uses'), x.uses ? String(x.uses) : null],
    ].filter(([, v]) => v);
    return el('li', { class: 'faq-entry state-' + x.state, 'data-faq': x.id, 'data-state': x.state },
      el('header', {}, el('strong', {}, '#' + x.id + ' ', x.question), ' ', el('span', { class: 'badge faq-' + x.state }, faqStateName(x.state)),
        ' ', el('span', { class: 'badge audience-' + x.audience }, ft(x.audience))),
      el('pre', { class: 'body answer' }, x.answer),
      el('dl', {}, rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      x.tickets.length ? el('p', { class: 'faq-tickets' }, ft('tickets') + ': ', x.tickets.flatMap((n) => [ticketLink(n), ' '])) : null,
      el('ol', { class: 'faq-steps', 'aria-label': ft('approvals') }, x.steps.map((s) => el('li', { class: s.done ? 'done' : 'todo', 'data-step': s.step },
        (s.done ? '✓ ' : '○ ') + stepName(s), s.done ? ' — ' + s.decided_by + ' (' + when(s.decided_at) + ')' + (s.comment ? ': ' + s.comment : '') : ''))),
      rejections.length ? el('ul', { class: 'faq-rejections' }, rejections.map((d) => el('li', {}, ft('faq_rejected_by') + ' — ' + d.decided_by +
        ' (' + when(d.decided_at) + ')' + (d.comment ? ': ' + d.comment : '')))) : null,
      actions(x));
  }

  async function loadEntries() {
    let data;
    const p = new URLSearchParams({ limit: '500' });
    if (stateFilter.value) p.set('state', stateFilter.value);
    try { data = await api('GET', '/api/faq?' + p); } catch (e) { return failed(e); }
    clear(list);
    for (const state of FAQ_STATES) {
      const mine = data.entries.filter((x) => x.state === state);
      if (!mine.length) continue;
      list.append(el('section', { class: 'faq-state', 'data-state': state },
        el('h3', {}, faqStateName(state), ' ', el('span', { class: 'count' }, String(mine.length))),
        el('ol', { class: 'faq-entry-list' }, mine.map(entryItem))));
    }
    if (!data.entries.length) list.append(el('p', { class: 'empty' }, ft('no_entries')));
  }

  // Search of the published entries, to answer from.
  const words = el('input', { type: 'search', name: 'q', 'aria-label': ft('faq_search'), placeholder: t('search') });
  const found = el('ol', { class: 'faq-found' });
  search.append(el('h2', { id: 'faq-search-heading' }, ft('faq_search'), ' ',
    el('a', { href: '/faq', target: '_blank', rel: 'noopener', class: 'public-link' }, t('public_page'))),
  el('form', { class: 'toolbar', onsubmit: async (e) => {
    e.preventDefault();
    const p = new URLSearchParams({ state: 'published' });
    if (words.value.trim()) p.set('q', words.value.trim());
    let data;
    try { data = await api('GET', '/api/faq?' + p); } catch (err) { return failed(err); }
    clear(found).append(...(data.entries.length ? data.entries.map((x) => el('li', { class: 'faq-hit', 'data-faq': x.id },
      el('strong', {}, x.question), ' ', el('span', { class: 'badge audience-' + x.audience }, ft(x.audience)),
      el('pre', { class: 'body answer' }, x.answer))) : [el('li', { class: 'none' }, ft('no_entries'))]));
  } }, words, el('button', { type: 'submit' }, t('search'))), found);

  await Promise.all([loadCandidates(), loadEntries()]);
}

// ---- start --------------------------------------------------------------------------------------
document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement) return;
  if (e.key === '/') { const s = document.querySelector('input[type=search]'); if (s) { e.preventDefault(); s.focus(); } }
  if (e.key === 'j' || e.key === 'k') {
    const links = [...document.querySelectorAll('main a.ticket-no')];
    if (links.length === 0) return;
    const at = links.indexOf(document.activeElement);
    const next = e.key === 'j' ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
    links[at === -1 ? 0 : next].focus();
  }
  if (e.key === 'n') location.assign('/new');
  if (e.key === 'q') location.assign('/');
});

(async () => {
  const main = document.querySelector('main [data-page]');
  if (!main) return;
  try { await session(); } catch (_) { return; }
  follow();
  drawPops();
  const page = main.dataset.page;
  const pages = {
    queue: queuePage, ticket: ticketPage, calls: callsPage, admin: adminPage, new: newContactPage,
    announcements: announcementsPage, callbacks: callbacksPage, contact_list: contactListPage, interview_templates: interviewTemplatesPage, faq: faqPage,
    mine: (m) => listPage(m, '/api/me/tickets', 'tickets'),
  };
  if (pages[page]) await pages[page](main);
})();
