// The screen-pop, as two operators at their desks see it: both signed in at the queue; a call
// rings (placed over real SIP by tests/console.rs); the card appears with the caller's number,
// the call's ticket and its interview, where an answer is saved as it is typed; one operator
// opens the ticket and escalates it to tier 2; the other, who has the same ticket open, sees the
// change arrive without reloading.
//
// Talks to tests/console.rs on stdin/stdout: prints READY when both are at the queue, then
// reads `CALL <ticket>` once the call has been answered.

import { createInterface } from 'node:readline';
import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function nextLine() {
  const { value, done } = await lines.next();
  if (done) throw new Error('tests/console.rs closed stdin');
  return value.trim();
}

await scenario('screenpop', async ({ page, browser, env }) => {
  const second = await browser.newContext({ locale: 'ja-JP', timezoneId: 'Asia/Tokyo', viewport: { width: 1280, height: 800 } });
  const other = await second.newPage();
  other.setDefaultTimeout(15000);
  const otherErrors = [];
  other.on('pageerror', (e) => otherErrors.push(e.message));
  const dialogs = [];
  for (const p of [page, other]) p.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });

  await signIn(page, env, '/');
  await signIn(other, { ...env, login: process.env.MADOGUCHI_LOGIN2, password: process.env.MADOGUCHI_PASSWORD2 }, '/');
  // Both follow the live stream before the call rings.
  await page.waitForSelector('#live.on');
  await other.waitForSelector('#live.on');
  await expectNoInlineCode(page);

  // A sender's markup is shown as the text it is, in the queue and on the ticket, and runs nowhere.
  const hostile = process.env.MADOGUCHI_HOSTILE_TICKET;
  await page.locator('.queue td.subject', { hasText: '<img src=x onerror=alert(1)>' }).waitFor();
  await other.goto(`${env.url}/tickets/${hostile}`);
  await other.waitForSelector('.timeline pre.body');
  const body = await other.textContent('.timeline pre.body');
  expect(body.includes('<script>alert(2)</script><b>太字</b>'), `the body is shown as text: ${body}`);
  expect((await other.locator('.timeline b, .timeline img, .timeline svg, .timeline script').count()) === 0,
    'no element was made from the sender\'s markup');
  expect((await other.textContent('.timeline')).includes('<svg onload=alert(3)>'), 'the name is shown as text');
  await shot(other, 'hostile-markup-as-text');
  await other.goto(`${env.url}/`);
  await other.waitForSelector('#live.on');
  console.log('READY');

  const [word, ticket] = (await nextLine()).split(' ');
  expect(word === 'CALL' && /^\d{8}-\d{4,}$/.test(ticket), `a ticket number from the test: ${word} ${ticket}`);

  const card = page.locator('.pop', { hasText: ticket });
  await card.waitFor();
  const number = (await card.locator('.pop-number').textContent()).trim();
  expect(number === '+81312345678', `the card shows the caller's number as sent: ${number}`);
  const who = await card.textContent();
  expect(who.includes('山田'), `the card shows the caller's name: ${who}`);
  expect(who.includes('VPN'), `the card lists the caller's earlier open ticket: ${who}`);
  await other.locator('.pop', { hasText: ticket }).waitFor();

  // The interview is on the card beside the caller's data; the operator picks the fault template
  // and types an answer without leaving the field: it is saved during the pause in typing.
  const interview = card.locator('form.interview');
  await interview.locator('select[name="template"] option[value="fault_report"]').waitFor({ state: 'attached' });
  await interview.locator('select[name="template"]').selectOption('fault_report');
  const system = interview.locator('[data-question="system"]');
  await system.click();
  await system.pressSequentially('人事給与システム');
  await interview.locator('.interview-status', { hasText: '保存しました' }).waitFor();
  expect(await system.evaluate((n) => n === document.activeElement), 'saved while the operator is still in the field');
  await shot(page, 'screenpop-card');

  await Promise.all([page.waitForNavigation(), card.locator('a.pop-open').click()]);
  expect(new URL(page.url()).pathname === `/tickets/${ticket}`, `one click opens the ticket: ${page.url()}`);
  await page.waitForSelector('form.work select[name="tier"]');
  // The answer typed on the card is the ticket's interview; the card's copy stays off this page.
  const onPage = page.locator('form.interview [data-question="system"]');
  await onPage.waitFor();
  expect(await onPage.inputValue() === '人事給与システム', `the card's answer is on the ticket: ${await onPage.inputValue()}`);
  expect(await page.locator('.pop form.interview').count() === 0, 'no second interview form on the ticket page');
  await other.goto(`${env.url}/tickets/${ticket}`);
  await other.waitForSelector('.ticket-meta');
  const before = await other.textContent('.ticket-meta');
  expect(before.includes('階層 1'), `the ticket starts at tier 1: ${before}`);
  expect(await page.isVisible('.timeline .contact.channel-phone'), 'the timeline shows the call');

  await page.selectOption('form.work select[name="tier"]', '2');
  await page.click('form.work button[type="submit"]');
  await page.waitForSelector('#flash .flash:not(.bad)');
  await page.waitForFunction(() => document.querySelector('.ticket-meta').textContent.includes('階層 2'));

  // The other operator's screen follows, without a reload.
  await other.waitForFunction(() => document.querySelector('.ticket-meta').textContent.includes('階層 2'));
  const after = await other.textContent('.ticket-meta');
  expect(after.includes('エスカレーション'), `escalated on the other screen too: ${after}`);
  const notice = await other.textContent('#flash');
  expect(notice.includes(env.login), `the other screen says who changed it: ${notice}`);
  await shot(page, 'screenpop-ticket-escalated');
  await shot(other, 'screenpop-other-operator');
  expect(otherErrors.length === 0, `no script errors on the other screen: ${otherErrors.join('; ')}`);
  expect(dialogs.length === 0, `no script of a sender ran: ${dialogs.join('; ')}`);
  await second.close();
  console.log('DONE');
});
