// FAQ upkeep in the console: a supervisor opens FAQ, sees the candidates from the resolved
// tickets with their counts, drafts an entry from the largest cluster (its question carries
// markup), makes it public and submits it, and is offered no approval of their own entry. A
// second supervisor records 統括責任者の承認 and 業務課の承認 in order, with a comment, and
// publishes it; the entry is then on the public page /faq, its markup as text. Prints
// `FAQ <id>` for tests/console.rs to check the API.

import { expect, expectNoInlineCode, scenario, shot, signIn, signOut } from './lib.mjs';

const QUESTION = 'アカウントがロックされたときは？ <img src=x onerror=alert(1)>';

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

await scenario('faq', async ({ page, env }) => {
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const expected = need('MADOGUCHI_CLUSTER').split(' ');

  await signIn(page, env, '/faq-desk');
  expect(await page.isVisible('nav a[href="/faq-desk"][aria-current="page"]'), 'the menu shows FAQ as open');
  const top = page.locator('li.faq-candidate').first();
  await top.waitFor();
  expect((await top.getAttribute('data-count')) === '3', `the largest cluster first, with its count: ${await top.textContent()}`);
  const numbers = await top.locator('a.ticket-no').allTextContents();
  expect(JSON.stringify([...numbers].sort()) === JSON.stringify([...expected].sort()), `its tickets: ${numbers}`);
  expect((await page.locator('li.faq-candidate').count()) === 2, 'the other wording is a candidate of its own');
  await expectNoInlineCode(page);
  await shot(page, 'faq-candidates');

  // Draft from the cluster: the form is filled in from it.
  await top.locator('button.draft-from').click();
  const form = page.locator('form.faq-form');
  const prefilled = await form.locator('textarea[name="question"]').inputValue();
  expect(prefilled.includes('ロック'), `the question starts as the cluster's subject: ${prefilled}`);
  expect((await form.locator('input[name="category"]').inputValue()) === 'account_unlock', 'and its category');
  const linked = (await form.locator('input[name="tickets"]').inputValue()).split(' ');
  expect(JSON.stringify(linked.sort()) === JSON.stringify([...expected].sort()), `and its tickets: ${linked}`);
  await form.locator('textarea[name="question"]').fill(QUESTION);
  await form.locator('textarea[name="answer"]').fill('ヘルプデスク（内線 1234）へお電話ください。\n本人確認のうえ、ロックを解除します。');
  await form.locator('select[name="audience"]').selectOption('public');
  await form.locator('button[type="submit"]').click();
  await page.locator('#flash .flash:not(.bad)', { hasText: '下書きを保存しました' }).waitFor();
  const draft = page.locator('li.faq-entry[data-state="draft"]', { hasText: QUESTION });
  await draft.waitFor();
  const id = await draft.getAttribute('data-faq');
  expect((await page.locator('main img').count()) === 0, 'the question\'s markup made no element');

  await draft.locator('button.submit').click();
  const mine = page.locator(`li.faq-entry[data-faq="${id}"][data-state="submitted"]`);
  await mine.waitFor();
  expect((await mine.locator('button.approve, button.reject').count()) === 0, 'no approve button on one\'s own entry');
  expect((await mine.textContent()).includes('自分が作成・編集した FAQ は承認・差し戻しできません'), 'it says why');
  await shot(page, 'faq-submitted');
  await signOut(page);

  // The second supervisor records both approvals in order and publishes.
  await signIn(page, { ...env, login: need('MADOGUCHI_LOGIN2'), password: need('MADOGUCHI_PASSWORD2') }, '/faq-desk');
  const entry = page.locator(`li.faq-entry[data-faq="${id}"]`);
  await entry.locator('button.approve[data-step="general_manager"]').waitFor();
  expect((await entry.locator('button.approve').textContent()).includes('統括責任者の承認'), 'the next step by its label');
  await entry.locator('input[name="comment"]').fill('統括責任者 了承（11/20 打合せ）');
  await entry.locator('button.approve[data-step="general_manager"]').click();
  await entry.locator('.faq-steps li.done[data-step="general_manager"]').waitFor();
  await entry.locator('button.approve[data-step="business_division"]').click();
  await page.locator(`li.faq-entry[data-faq="${id}"][data-state="approved"]`).waitFor();
  const approved = await entry.textContent();
  expect(approved.includes('統括責任者 了承（11/20 打合せ）') && approved.includes('業務課の承認'), `both steps shown: ${approved}`);
  await entry.locator('button.publish').click();
  await page.locator(`li.faq-entry[data-faq="${id}"][data-state="published"]`).waitFor();
  await expectNoInlineCode(page);
  await shot(page, 'faq-published');

  // Published: searchable in the console, and on the public page as text.
  const search = page.locator('section.faq-search');
  await search.locator('input[name="q"]').fill('ﾛｯｸ');
  await search.locator('button[type="submit"]').click();
  await search.locator(`li.faq-hit[data-faq="${id}"]`).waitFor();
  await page.goto(`${env.url}/faq`);
  const article = page.locator(`article#faq-${id}`);
  await article.waitFor();
  expect((await article.locator('h3').textContent()) === QUESTION, 'on the public page, as text');
  expect((await page.locator('img').count()) === 0, 'no element from the question\'s markup');
  await shot(page, 'faq-public');
  expect(dialogs.length === 0, `no dialogs: ${dialogs.join('; ')}`);
  console.log(`FAQ ${id}`);
});
