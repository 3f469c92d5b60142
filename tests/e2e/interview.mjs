// 問診 on a fault ticket: the category's template opens; each answer is saved as it is entered,
// the steps question appears only once the fault can be reproduced, the answers are all there
// after the page is reloaded (as if the browser had closed), and the interview is completed.

import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

const ticket = process.env.MADOGUCHI_TICKET;

await scenario('interview', async ({ page, env }) => {
  await signIn(page, env, `/tickets/${ticket}`);
  const form = page.locator('form.interview');
  await form.locator('[data-question="started_at"]').waitFor();
  expect(await form.locator('select[name="template"]').inputValue() === 'fault_report', 'the category opens its template');
  await expectNoInlineCode(page);
  const steps = form.locator('[data-row="steps"]');
  expect(await steps.isHidden(), 'the steps are not asked before the fault is known to reproduce');

  const saved = async () => form.locator('.interview-status', { hasText: '保存しました' }).waitFor();
  const answer = async (id, value) => {
    const c = form.locator(`[data-question="${id}"]`);
    const tag = await c.evaluate((n) => n.tagName);
    if (tag === 'SELECT') await c.selectOption(value);
    else { await c.fill(value); await c.blur(); }
  };
  await answer('started_at', '2026-11-20T09:30');
  await answer('system', '労災保険業務システム');
  await answer('screen_id', 'a-12');
  await answer('error_message', 'E1234 帳票出力でタイムアウトしました');
  await answer('reproducible', 'yes');
  await steps.waitFor();
  await answer('steps', '月次帳票の出力ボタンを押す');
  await saved();
  // Answers go one request at a time; the form says when none is left unsaved.
  await page.locator('form.interview[data-unsaved="0"]').waitFor();

  await page.reload();
  await form.locator('[data-question="steps"]').waitFor();
  const value = (id) => form.locator(`[data-question="${id}"]`).inputValue();
  expect(await value('system') === '労災保険業務システム', 'the system survives a reload');
  expect(await value('screen_id') === 'A-12', `the screen ID, normalised: ${await value('screen_id')}`);
  expect(await value('steps') === '月次帳票の出力ボタンを押す', 'the conditional answer too');
  expect(await value('started_at') === '2026-11-20T09:30', `the time: ${await value('started_at')}`);
  await form.locator('button[type="submit"]').click();
  await form.locator('.interview-status', { hasText: '問診完了' }).waitFor();
  await shot(page, 'ticket-interview');
});
