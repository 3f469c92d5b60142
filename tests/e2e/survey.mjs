// The requester opens the satisfaction survey's link (no sign-in), rates the handling 2 of 5 with
// a comment holding markup, and is thanked; the page runs no script and the browser reports no
// policy refusal. Then an operator opens the ticket: the survey line shows two stars and the
// comment as the requester wrote it, as text (no element from it, no script run).

import { expect, expectNoInlineCode, scenario, shot, signIn } from './lib.mjs';

const ticket = process.env.MADOGUCHI_TICKET;
const link = process.env.MADOGUCHI_SURVEY_PATH;
const comment = process.env.MADOGUCHI_COMMENT;

await scenario('survey', async ({ page, env }) => {
  await page.goto(`${env.url}${link}`);
  expect((await page.locator('h1').textContent()).startsWith('満足度調査'), 'the question, Japanese first');
  expect(await page.locator('script').count() === 0, 'the survey page has no script');
  await page.check('input[name="rating"][value="2"]');
  await page.fill('textarea[name="comment"]', comment);
  await shot(page, 'survey-form');
  const [answered] = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  expect(answered.status() === 200, `the answer is taken: ${answered.status()}`);
  await page.locator('h1', { hasText: 'ご回答ありがとうございました' }).waitFor();
  expect((await page.title()) !== 'pwned', 'nothing the requester wrote ran');

  await signIn(page, env, `/tickets/${ticket}`);
  const box = page.locator('section.ticket-survey');
  await box.locator('.survey-rating').waitFor();
  const stars = await box.locator('.survey-rating').textContent();
  expect(stars.startsWith('★★☆☆☆'), `two stars: ${stars}`);
  const shown = await box.locator('.survey-comment').textContent();
  expect(shown === comment, `the comment as written, as text: ${shown}`);
  expect(await box.locator('script, b, img').count() === 0, 'no element from the comment');
  expect((await page.title()) !== 'pwned', 'no script from the comment ran');
  await page.locator('.action-survey_answered').waitFor();
  await expectNoInlineCode(page);
  await shot(page, 'ticket-survey');
});
