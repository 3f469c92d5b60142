// Signing in to the console as an operator would: sent to the sign-in page, a wrong password,
// the right one, the header with their name, English and back, signing out.

import { expect, expectNoInlineCode, scenario, shot, signOut, submitSignIn } from './lib.mjs';

await scenario('signin', async ({ page, env }) => {
  const first = await page.goto(`${env.url}/`);
  expect(new URL(page.url()).pathname === '/login', `a stranger is sent to sign in, not left at ${page.url()}`);
  expect(first.status() === 200, `the sign-in page answers 200, not ${first.status()}`);
  expect((await page.title()).includes('ログイン'), 'the page is titled ログイン');
  await expectNoInlineCode(page);
  await shot(page, 'signin-form');

  const wrong = await submitSignIn(page, env.login, `${env.password}-wrong`);
  expect(wrong.status() === 401, `a wrong password is answered 401, not ${wrong.status()}`);
  const error = await page.textContent('.error');
  expect(error.includes('ログインIDまたはパスワードが違います'), `the error says so: ${error}`);
  expect(await page.inputValue('input[name="login"]') === env.login, 'the login is kept');
  await shot(page, 'signin-wrong-password');

  await submitSignIn(page, env.login, env.password);
  expect(new URL(page.url()).pathname === '/', `at the queue after signing in, not ${page.url()}`);
  const name = (await page.textContent('header .user-name')).trim();
  expect(name === process.env.MADOGUCHI_NAME || !process.env.MADOGUCHI_NAME, `the header names the user: ${name}`);
  expect(await page.isVisible('nav a[href="/mine"]'), 'the navigation shows 自分の担当');
  expect(!(await page.isVisible('nav a[href="/admin"]')), 'an operator sees no 管理 link');
  await expectNoInlineCode(page);
  await shot(page, 'queue');

  await Promise.all([page.waitForNavigation(), page.click('button[data-lang="en"]')]);
  expect((await page.textContent('nav')).includes('My tickets'), 'English after choosing it');
  expect(await page.getAttribute('html', 'lang') === 'en', 'the page says it is English');
  await shot(page, 'queue-en');
  await Promise.all([page.waitForNavigation(), page.click('button[data-lang="ja"]')]);
  expect((await page.textContent('nav')).includes('自分の担当'), 'Japanese again');

  const session = await page.evaluate(() => window.madoguchi.api('/api/session'));
  expect(session.login === env.login && session.csrf.length === 64, `the script sees the session: ${JSON.stringify(session.login)}`);

  await signOut(page);
  await page.goto(`${env.url}/mine`);
  expect(page.url().endsWith('/login?next=%2Fmine'), `signed out: sent to sign in again, not ${page.url()}`);
});
