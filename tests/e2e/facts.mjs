// An operator opens a fault ticket: what the monitoring system answered when the ticket was
// opened is there, with its source, time and an OK badge, and the answer as text (its markup
// shown, never run); 取得 (Fetch now) asks again and the new answer comes first, as theirs.

import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

const ticket = process.env.MADOGUCHI_TICKET;

await scenario('facts', async ({ page, env }) => {
  await signIn(page, env, `/tickets/${ticket}`);
  const facts = page.locator('section.facts li.fact');
  await facts.first().waitFor();
  expect((await facts.count()) === 1, `one answer, fetched when the ticket was opened: ${await facts.count()}`);
  const first = facts.first();
  expect((await first.getAttribute('data-source')) === '統合監視', `its source: ${await first.textContent()}`);
  expect((await first.locator('.badge').textContent()) === '取得成功', 'the OK badge');
  expect((await first.locator('.fact-head').textContent()).includes('自動取得'), 'fetched by itself');
  const body = await first.locator('pre.fact-body').textContent();
  expect(body.includes('"status": "<b>degraded</b>"') && body.includes('<img src=x onerror=alert(1)>'), `the answer as text: ${body}`);
  expect((await page.locator('section.facts img, section.facts b').count()) === 0, 'no markup from an answer is rendered');
  await expectNoInlineCode(page);

  await page.locator('section.facts button.fetch-facts', { hasText: '取得' }).click();
  await page.locator('#flash .flash:not(.bad)', { hasText: '取得しました' }).waitFor();
  await page.locator('section.facts li.fact').nth(1).waitFor();
  const newest = await page.locator('section.facts li.fact').first().locator('.fact-head').textContent();
  expect(newest.includes(env.login), `the new answer first, as the operator's: ${newest}`);
  await page.locator('.action-system_facts').first().waitFor();
  await shot(page, 'ticket-system-facts');
});
