// A supervisor opens October's monthly report (月次報告) from the period picker: its figures and
// its charts, drawn on the server as SVG (bars by channel, category, tier and the backlog's age,
// a 24-hour histogram) with their labels; nothing runs inline. An operator is refused the page
// and has no link to it. The test logged three contacts in October 2026 (JST): a call at 09:15,
// a mail at 09:40, a fax at 14:05.

import { expect, expectNoInlineCode, scenario, shot, signIn, signOut } from './lib.mjs';

await scenario('reports', async ({ page, env }) => {
  await signIn(page, env, '/reports');
  const link = page.locator('header nav a[href="/reports"]');
  expect((await link.getAttribute('aria-current')) === 'page', 'the nav link to the reports is current');

  await page.selectOption('form.report-picker select[name="kind"]', 'monthly');
  await page.fill('form.report-picker input[name="date"]', '2026-10-15');
  await Promise.all([page.waitForNavigation(), page.click('form.report-picker button[type="submit"]')]);
  const report = page.locator('section.report[data-kind="monthly"][data-period="2026-10"]');
  await report.waitFor();
  const contacts = await report.locator('tr[data-key="contacts"] td').textContent();
  expect(contacts.trim() === '3', `three contacts in October, not ${contacts}`);
  const days = await report.locator('tr[data-key="business_days"] td').textContent();
  expect(days.trim() === '21', `October 2026 has 21 business days (22 weekdays less スポーツの日), not ${days}`);

  const channel = report.locator('svg.chart[data-chart="channel"]');
  const bars = await channel.locator('rect.bar').evaluateAll((rects) =>
    rects.map((r) => ({ value: Number(r.dataset.value), width: r.width.baseVal.value })));
  expect(bars.length === 4, `a bar for each channel: ${JSON.stringify(bars)}`);
  expect(JSON.stringify(bars.map((b) => b.value)) === '[1,1,1,0]', `phone, e-mail, fax, by hand: ${JSON.stringify(bars)}`);
  expect(bars.slice(0, 3).every((b) => b.width > 0) && bars[3].width === 0, `drawn to scale: ${JSON.stringify(bars)}`);
  const labels = await channel.locator('text.label').allTextContents();
  expect(['電話', 'メール', 'FAX', '手入力'].every((l) => labels.includes(l)), `channel labels: ${labels}`);

  const hours = report.locator('svg.chart[data-chart="hours"] rect.bar');
  expect((await hours.count()) === 24, 'a column for each hour');
  const busy = await hours.evaluateAll((rects) =>
    rects.filter((r) => Number(r.dataset.value) > 0).map((r) => Number(r.dataset.hour)));
  expect(JSON.stringify(busy) === '[9,14]', `the hours in JST: ${busy}`);
  for (const chart of ['category', 'tier', 'backlog']) {
    expect((await report.locator(`svg.chart[data-chart="${chart}"] rect.bar`).count()) > 0, `the ${chart} chart`);
  }
  const box = await channel.boundingBox();
  expect(box && box.width > 100 && box.height > 50, `the chart is drawn: ${JSON.stringify(box)}`);
  await expectNoInlineCode(page);
  await shot(page, 'reports-monthly');

  await signOut(page);
  const operator = { ...env, login: process.env.MADOGUCHI_OPERATOR_LOGIN, password: process.env.MADOGUCHI_OPERATOR_PASSWORD };
  await signIn(page, operator, '/reports');
  const refused = await page.textContent('main');
  expect(refused.includes('スーパーバイザーと管理者だけ'), `an operator is refused: ${refused}`);
  expect((await page.locator('svg.chart').count()) === 0, 'no figures for an operator');
  expect((await page.locator('header nav a[href="/reports"]').count()) === 0, 'no link for an operator');
  await shot(page, 'reports-operator');
});
