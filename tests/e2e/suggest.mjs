// An operator opens a new inquiry about アカウントロック: the resolved ticket about アカウントの
// ロック解除 is suggested first with its answer and the matching words (as text, never markup),
// and the operator records that they answered from it.

import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

const asked = process.env.MADOGUCHI_TICKET;
const answer = process.env.MADOGUCHI_ANSWER;

await scenario('suggest', async ({ page, env }) => {
  await signIn(page, env, `/tickets/${asked}`);
  const first = page.locator('.suggested .suggestion').first();
  await first.waitFor();
  expect((await first.getAttribute('data-ticket')) === answer, `the unlock ticket first: ${await first.textContent()}`);
  const said = await first.textContent();
  expect(said.includes('本人確認のうえロックを解除しました') && said.includes('<b>'), `its answer, markup as text: ${said}`);
  const marks = await first.locator('.suggestion-why mark').allTextContents();
  expect(marks.includes('アカウント') && marks.includes('ロック'), `the matching words: ${marks}`);
  expect(await first.locator('b').count() === 0, 'no markup from a ticket is rendered');
  await expectNoInlineCode(page);
  await first.locator('button.use-answer').click();
  await page.locator('#flash .flash:not(.bad)', { hasText: '回答に使ったことを記録しました' }).waitFor();
  await page.locator('.action-answered_from', { hasText: answer }).waitFor();
  await shot(page, 'ticket-suggestions');
});
