// A new announcement as an operator and a supervisor see it: the operator opens アナウンス, sends a
// file that is not audio (refused with the reason, nothing added), uploads a WAV for the welcome
// with a reason and sees it pending, with no way to approve it. The supervisor signs in, requests a
// scheduled version of their own (shown as 予定 in Japan time, and not theirs to approve), approves
// the operator's with a comment, sees it playing, and the preview player reads its length.
//
// The operator also drafts a system operation notice (with audio for callers); the supervisor
// publishes it and finds it, its markup as text, on the public page /notices.
//
// tests/console.rs then places a real call and checks the caller hears the uploaded tone. Prints
// `DURATION <seconds>` (the preview's length as the browser read it) for it.

import { expect, expectNoInlineCode, scenario, shot, signIn, signOut } from './lib.mjs';

const NOTICE_TITLE = '年末年始の停止 <img src=x onerror=alert(1)>';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

/** Waits until the slot's block says it plays `version`. */
async function untilPlaying(page, slot, version) {
  await page.waitForFunction(([s, v]) => document.querySelector(`section.slot[data-slot="${s}"]`)?.dataset.playing === v,
    [slot, String(version)]);
}

await scenario('announce', async ({ page, env }) => {
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });

  await signIn(page, env, '/announcements');
  expect(await page.isVisible('nav a[href="/announcements"][aria-current="page"]'), 'the menu shows アナウンス as open');
  expect((await page.textContent('h1')).includes('アナウンス'), 'the page is titled アナウンス');
  const welcome = page.locator('section.slot[data-slot="welcome"]');
  await welcome.waitFor();
  await untilPlaying(page, 'welcome', 1);
  await expectNoInlineCode(page);
  const shipped = welcome.locator('li.version[data-version="1"]');
  expect((await shipped.textContent()).includes('出荷時の音声'), 'version 1 is said to be the shipped one');
  expect((await shipped.locator('audio').count()) === 0, 'the shipped version has no preview player');
  const slots = await page.locator('section.slot').evaluateAll((all) => all.map((s) => s.dataset.slot));
  expect(slots.length >= 8 && slots[0] === 'welcome' && slots[1] === 'menu', `a block per slot, in call order: ${slots}`);

  // Not audio: the API's reason in the flash, and nothing added.
  const form = welcome.locator('form.prompt-request');
  await welcome.locator('details.prompt-request summary').click();
  await form.locator('input[name="audio"]').setInputFiles(need('MADOGUCHI_NOT_AUDIO'));
  await form.locator('input[name="reason"]').fill('間違ったファイル');
  await form.locator('button[type="submit"]').click();
  const refusal = page.locator('#flash .flash.bad');
  await refusal.waitFor();
  expect((await refusal.textContent()).includes('音声ファイルではありません'), `the reason is shown: ${await refusal.textContent()}`);
  expect((await welcome.locator('li.version').count()) === 1, 'a refused upload adds no version');
  expect((await form.locator('input[name="reason"]').inputValue()) === '間違ったファイル', 'the form keeps what was typed');
  await shot(page, 'announce-refused');

  // The real file, with a reason.
  await form.locator('input[name="audio"]').setInputFiles(need('MADOGUCHI_WAV'));
  await form.locator('input[name="reason"]').fill('年末年始の案内（画面から）');
  await form.locator('button[type="submit"]').click();
  await page.locator('#flash .flash:not(.bad)', { hasText: '第2版' }).waitFor();
  const mine = welcome.locator('li.version[data-version="2"][data-state="pending"]');
  await mine.waitFor();
  const text = await mine.textContent();
  expect(text.includes('承認待ち') && text.includes('sota') && text.includes('年末年始の案内（画面から）'),
    `the new version is pending, with who asked and why: ${text}`);
  expect((await welcome.locator('li.version').first().getAttribute('data-version')) === '2', 'newest first');
  expect((await mine.locator('button.approve, button.reject').count()) === 0, 'the requester has no approve button');
  expect((await page.locator('button.approve, button.reject, button.rollback').count()) === 0,
    'an operator approves, rejects and rolls back nothing');
  expect((await mine.locator('audio').count()) === 1, 'the pending version can be previewed');
  await untilPlaying(page, 'welcome', 1);
  await shot(page, 'announce-pending');

  // A system operation notice, drafted here with audio for callers; the title carries markup.
  const compose = page.locator('form.notice-compose');
  await page.locator('details.notice-compose summary').click();
  await compose.locator('select[name="kind"]').selectOption('maintenance');
  await compose.locator('input[name="title"]').fill(NOTICE_TITLE);
  await compose.locator('textarea[name="body"]').fill('12月28日 18時から 1月4日 8時30分まで停止します。');
  await compose.locator('input[name="audio"]').setInputFiles(need('MADOGUCHI_WAV'));
  await compose.locator('button[type="submit"]').click();
  await page.locator('#flash .flash:not(.bad)', { hasText: '起案しました' }).waitFor();
  const drafted = page.locator('li.notice[data-state="draft"]', { hasText: NOTICE_TITLE });
  await drafted.waitFor();
  expect((await drafted.locator('button.approve').count()) === 0, 'an operator cannot approve a notice');
  expect((await drafted.locator('audio').count()) === 1, 'the notice\'s audio can be previewed');
  await signOut(page);

  // The supervisor.
  await signIn(page, { ...env, login: need('MADOGUCHI_LOGIN2'), password: need('MADOGUCHI_PASSWORD2') }, '/announcements');
  await welcome.waitFor();
  const goodbye = page.locator('section.slot[data-slot="goodbye"]');
  const theirs = goodbye.locator('form.prompt-request');
  await goodbye.locator('details.prompt-request summary').click();
  await theirs.locator('input[name="audio"]').setInputFiles(need('MADOGUCHI_WAV'));
  await theirs.locator('input[name="reason"]').fill('年末年始休業');
  await theirs.locator('input[name="valid_from"]').fill('2031-12-28T09:00');
  await theirs.locator('input[name="valid_until"]').fill('2032-01-04T08:30');
  await theirs.locator('button[type="submit"]').click();
  const own = goodbye.locator('li.version[data-version="2"]');
  await own.waitFor();
  const ownText = await own.textContent();
  expect(ownText.includes('2031-12-28 09:00') && ownText.includes('2032-01-04 08:30') && ownText.includes('予定'),
    `the window is shown in Japan time, scheduled: ${ownText}`);
  expect((await own.locator('button.approve').count()) === 0, 'no approve button on one\'s own request');
  expect(ownText.includes('自分の依頼は承認・却下できません'), `it says why: ${ownText}`);

  const pending = welcome.locator('li.version[data-version="2"]');
  await pending.locator('input[name="comment"]').fill('確認しました');
  await pending.locator('button.approve').click();
  await untilPlaying(page, 'welcome', 2);
  const approved = welcome.locator('li.version[data-version="2"][data-state="approved"]');
  await approved.waitFor();
  const done = await approved.textContent();
  expect(done.includes('承認済み') && done.includes('再生中') && done.includes('suzuki') && done.includes('確認しました'),
    `approved, playing, by whom, with the comment: ${done}`);
  expect((await page.textContent('section.slot[data-slot="welcome"] .playing')).includes('第2版'), 'the block says 第2版 plays');
  expect((await welcome.locator('li.version[data-version="1"] button.rollback').count()) === 1,
    'the supervisor may roll back to the shipped version');
  expect((await approved.locator('button.rollback').count()) === 0, 'no rollback to what plays already');

  const duration = await approved.locator('audio').evaluate((audio) => new Promise((resolve, reject) => {
    if (audio.readyState >= 1) return resolve(audio.duration);
    audio.addEventListener('loadedmetadata', () => resolve(audio.duration), { once: true });
    audio.addEventListener('error', () => reject(new Error(`the preview failed: ${audio.error && audio.error.code}`)), { once: true });
    audio.load();
  }));
  expect(Number.isFinite(duration) && duration > 0, `the preview has a length: ${duration}`);
  await expectNoInlineCode(page);
  await shot(page, 'announce-approved');

  // The supervisor publishes the operator's notice; the public page shows it as text.
  const notice = page.locator('li.notice[data-state="draft"]', { hasText: NOTICE_TITLE });
  await notice.locator('button.approve').click();
  await page.locator('li.notice[data-state="published"] .badge.public', { hasText: '公開中' }).waitFor();
  expect((await page.locator('section.notices img').count()) === 0, 'the title\'s markup made no element');
  await page.goto(`${env.url}/notices`);
  const article = page.locator('article.notice.maintenance');
  await article.waitFor();
  expect((await article.locator('h2').textContent()).includes(NOTICE_TITLE), 'on the public page, as text');
  expect((await article.locator('img').count()) === 0, 'no element from the title\'s markup');
  await shot(page, 'notices-public');
  expect(dialogs.length === 0, `no dialogs: ${dialogs.join('; ')}`);
  console.log(`DURATION ${duration}`);
});
