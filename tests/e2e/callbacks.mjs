// The callback work list, as an operator works it: signed in at 折り返し; a caller hangs up in the
// menu (a real call placed by tests/console.rs) and the task appears without a reload, with the
// number as a tel: link, the name as text, 不在着信; "no answer" with a note keeps it (attempt 1),
// "reached" takes it off the list into the recently done; the ticket's history says both.
//
// Talks to tests/console.rs on stdin/stdout: prints READY at the page, then reads `CALL <ticket>`
// once the caller has hung up.

import { createInterface } from 'node:readline';
import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function nextLine() {
  const { value, done } = await lines.next();
  if (done) throw new Error('tests/console.rs closed stdin');
  return value.trim();
}

await scenario('callbacks', async ({ page, env }) => {
  await signIn(page, env, '/callbacks');
  await page.waitForSelector('#live.on');
  await page.waitForSelector('.callback-tier[data-tier="1"]');
  expect((await page.textContent('nav a[aria-current="page"]')).trim() === '折り返し', 'the nav names the page');
  console.log('READY');

  const [word, ticket] = (await nextLine()).split(' ');
  expect(word === 'CALL' && /^\d{8}-\d{4,}$/.test(ticket), `a ticket number from the test: ${word} ${ticket}`);

  const task = page.locator(`.callback-tier[data-tier="1"] li.callback[data-ticket="${ticket}"]`);
  await task.waitFor();
  const tel = task.locator('a.tel');
  expect((await tel.textContent()).trim() === '+81312345678', 'the number as the PBX sent it');
  expect((await tel.getAttribute('href')) === 'tel:0312345678', 'a tel: link to the normalised number');
  const name = (await task.locator('.caller-name').textContent()).trim();
  expect(name === '山田 &lt;b&gt;', `the name as the text it is: ${name}`);
  expect((await task.locator('header b').count()) === 0, 'no element made from the name');
  expect((await task.locator('.badge').textContent()).trim() === '不在着信', 'the reason in Japanese');
  expect((await task.locator('a.ticket-no').textContent()).trim() === ticket, 'the ticket linked');
  const shownAge = (await task.locator('.age').textContent()).trim();
  expect(/^\d+分$/.test(shownAge), `its age: ${shownAge}`);
  await expectNoInlineCode(page);
  await shot(page, 'callbacks-list');

  // No result is chosen in advance: a hasty click records nothing.
  const chosen = task.locator('select[name="result"]');
  expect(await chosen.evaluate((s) => s.value === '' && !s.checkValidity()), 'no result chosen in advance');
  await chosen.selectOption('no_answer');
  await task.locator('input[name="note"]').fill('ご不在でした。夕方にもう一度');
  await task.locator('button[type="submit"]').click();
  await page.waitForSelector('#flash .flash:not(.bad)');
  await page.waitForFunction((t) => {
    const item = document.querySelector(`li.callback[data-ticket="${t}"] .callback-meta`);
    return item && item.textContent.includes('試行: 1') && item.textContent.includes('不在');
  }, ticket);
  expect((await task.locator('.callback-note').textContent()).includes('夕方にもう一度'), 'the note shows');

  await task.locator('select[name="result"]').selectOption('reached');
  await task.locator('button[type="submit"]').click();
  await task.waitFor({ state: 'detached' });
  await page.click('details.callbacks-done summary');
  const done = page.locator(`ol.callbacks-done li`, { hasText: ticket });
  await done.waitFor();
  expect((await done.textContent()).includes('通話できた'), `done, reached: ${await done.textContent()}`);
  await shot(page, 'callbacks-done');

  await page.goto(`${env.url}/tickets/${ticket}`);
  await page.waitForSelector('.timeline .action-callback_attempt');
  const timeline = await page.textContent('.timeline');
  for (const says of ['折り返し登録 (不在着信)', '折り返し: 不在', '折り返し: 通話できた — 完了', 'ご不在でした。夕方にもう一度']) {
    expect(timeline.includes(says), `the history says ${says}`);
  }
  console.log('DONE');
});
