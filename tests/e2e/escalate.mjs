// Escalating from the ticket page, as an operator who cannot answer: the SLA clocks are shown
// (first response running, with its due time); the operator relays the ticket to 運用担当 with a
// reason, sees it escalated to tier 2 and the relay in the timeline, then logs a phone call to the
// hardware vendor with its time.

import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

const ticket = process.env.MADOGUCHI_TICKET;

await scenario('escalate', async ({ page, env }) => {
  await signIn(page, env, `/tickets/${ticket}`);
  const first = page.locator('.sla-clock[data-kind="first_response"]');
  await first.waitFor();
  const clock = await first.textContent();
  expect(clock.includes('初回応答') && clock.includes('計測中') && clock.includes('期限'), `the first-response clock runs: ${clock}`);
  await expectNoInlineCode(page);

  const form = page.locator('form.escalate');
  await form.locator('select[name="group"]').selectOption('operations');
  await form.locator('input[name="reason"]').fill('サーバ側の設定確認が必要');
  await form.locator('button[type="submit"]').click();
  await page.locator('#flash .flash:not(.bad)', { hasText: 'エスカレーションしました' }).waitFor();
  await page.locator('.ticket-meta .badge', { hasText: 'エスカレーション' }).waitFor();
  const meta = await page.textContent('.ticket-meta');
  expect(meta.includes('階層 2'), `the operations group's tier: ${meta}`);
  const relay = page.locator('.event.action-relay', { hasText: '運用担当' });
  await relay.waitFor();
  const said = await relay.textContent();
  expect(said.includes('ops@example.go.jp') && said.includes('サーバ側の設定確認が必要'), `the relay, to whom and why: ${said}`);

  const log = page.locator('form.relay');
  await log.locator('select[name="relay_group"]').selectOption('hardware-vendor');
  await log.locator('input[name="contact"]').fill('保守センター 田中様');
  await log.locator('input[name="at"]').fill('2026-11-20T10:15');
  await log.locator('input[name="relay_note"]').fill('ディスク交換を依頼');
  // A change from elsewhere redraws the page while the operator is typing: nothing typed is lost.
  await page.evaluate(async (n) => {
    const s = await (await fetch('/api/session')).json();
    await fetch('/api/tickets/' + n, { method: 'PATCH', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf },
      body: JSON.stringify({ note: '別の端末からのメモ' }) });
  }, ticket);
  await page.locator('.timeline', { hasText: '別の端末からのメモ' }).waitFor();
  const kept = await log.locator('input[name="contact"]').inputValue();
  expect(kept === '保守センター 田中様', `what was typed survives the redraw: ${kept}`);
  expect(await log.locator('select[name="relay_group"]').inputValue() === 'hardware-vendor', 'the chosen group too');
  await log.locator('button[type="submit"]').click();
  const phoned = page.locator('.event.action-relay', { hasText: '保守センター 田中様' });
  await phoned.waitFor();
  const text = await phoned.textContent();
  expect(text.includes('電話') && text.includes('2026-11-20 10:15'), `the phone relay with its time: ${text}`);
  await shot(page, 'ticket-escalated');
});
