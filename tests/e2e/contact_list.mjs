// An admin edits the contact list (連絡先一覧) in the console: the groups are shown by tier with
// their people and hours; a wrong address is refused with the line it is on and nothing changes;
// the corrected list is saved as version 1, shown at once, and listed with its reason.

import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

await scenario('contact-list', async ({ page, env }) => {
  await signIn(page, env, '/contact-list');
  const ops = page.locator('.contact-group[data-group="operations"]');
  await ops.waitFor();
  const shown = await ops.textContent();
  expect(shown.includes('運用担当') && shown.includes('ops@example.go.jp') && shown.includes('03-5253-1112'),
    `the group with its contact: ${shown}`);
  const origin = await page.textContent('.contact-list-origin');
  expect(origin.includes('組み込みの一覧'), `the built-in list is in force: ${origin}`);
  await expectNoInlineCode(page);

  const editor = page.locator('form.contact-list-editor');
  const source = editor.locator('textarea[name="source"]');
  const original = await source.inputValue();
  expect(original.includes('[[group]]'), 'the editor holds the TOML in force');
  await source.fill(original.replace('ops@example.go.jp', 'ops at example'));
  await editor.locator('input[name="reason"]').fill('運用担当の窓口変更');
  await editor.locator('button[type="submit"]').click();
  const problems = editor.locator('pre.problems');
  await problems.waitFor({ state: 'visible' });
  const said = await problems.textContent();
  const line = original.split('\n').findIndex((l) => l.includes('ops@example.go.jp')) + 1;
  expect(said.includes(`contacts.toml:${line}:`) && said.includes('is not an e-mail address'), `the wrong line is named: ${said}`);
  expect((await ops.textContent()).includes('ops@example.go.jp'), 'nothing changed');

  await source.fill(original.replace('ops@example.go.jp', 'ops-desk@example.go.jp'));
  await editor.locator('input[name="reason"]').fill('運用担当の窓口変更');
  await editor.locator('button[type="submit"]').click();
  await page.locator('#flash .flash:not(.bad)', { hasText: '保存しました' }).waitFor();
  await page.locator('.contact-group[data-group="operations"]', { hasText: 'ops-desk@example.go.jp' }).waitFor();
  const version = page.locator('.contact-list-versions tr[data-version="1"]');
  await version.waitFor();
  const row = await version.textContent();
  expect(row.includes('運用担当の窓口変更') && row.includes('第1版'), `the saved version and why: ${row}`);
  expect((await page.textContent('.contact-list-origin')).includes('第1版'), 'version 1 is in force');
  await shot(page, 'contact-list-saved');
});
