// Helpers for the console's browser scenarios (tests/e2e/*.mjs), run by tests/console.rs:
// Debian's Chromium driven by playwright-core (which downloads no browser of its own).
//
//   import { scenario, signIn, shot, expect } from './lib.mjs';
//   await scenario('queue', async ({ page, env }) => { await signIn(page, env); ... });
//
// The environment names the service and the user: MADOGUCHI_URL, MADOGUCHI_LOGIN,
// MADOGUCHI_PASSWORD, and MADOGUCHI_SHOTS, the directory screenshots go to.

import { chromium } from 'playwright-core';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const CHROMIUM = process.env.MADOGUCHI_CHROMIUM || '/usr/bin/chromium';

/** The scenario's settings from the environment; a missing one stops it at once. */
export function settings() {
  const need = (name) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  return {
    url: need('MADOGUCHI_URL').replace(/\/$/, ''),
    login: need('MADOGUCHI_LOGIN'),
    password: need('MADOGUCHI_PASSWORD'),
    shots: process.env.MADOGUCHI_SHOTS || 'target/e2e',
  };
}

/** A failed expectation: the scenario stops, with a screenshot of where it was. */
export function expect(condition, message) {
  if (!condition) throw new Error(`expected: ${message}`);
}

/** Headless Chromium with one page whose problems are collected in `problems`. */
export async function launch() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  const context = await browser.newContext({ locale: 'ja-JP', timezoneId: 'Asia/Tokyo', viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  // Chromium reports Content-Security-Policy refusals and script errors on the console; an
  // answer's status (a 401 for a wrong password) is the scenario's business, except for assets.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.startsWith('/assets/') && response.status() >= 400) {
      problems.push(`asset ${response.url()}: ${response.status()}`);
    }
  });
  return { browser, context, page, problems };
}

/** A full-page screenshot `<name>.png` in MADOGUCHI_SHOTS. */
export async function shot(page, name, dir = settings().shots) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Fills in and sends the sign-in form on the page that shows it. */
export async function submitSignIn(page, login, password) {
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', password);
  const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  return response;
}

/** Opens the sign-in page (to come back to `next`) and signs in; fails unless it worked. */
export async function signIn(page, { url, login, password }, next = '/') {
  await page.goto(`${url}/login?next=${encodeURIComponent(next)}`);
  await submitSignIn(page, login, password);
  expect(new URL(page.url()).pathname === next.split('?')[0], `signed in and at ${next}, not ${page.url()}`);
}

/** Signs out with the header's button; fails unless the sign-in page is shown. */
export async function signOut(page) {
  await Promise.all([page.waitForNavigation(), page.click('form.sign-out button')]);
  expect(new URL(page.url()).pathname === '/login', `at the sign-in page after signing out, not ${page.url()}`);
}

/** Fails if the page has inline script, inline style or event-handler attributes. */
export async function expectNoInlineCode(page) {
  const found = await page.evaluate(() => {
    const all = [...document.querySelectorAll('*')];
    return {
      scripts: [...document.querySelectorAll('script')].filter((s) => !s.src || s.textContent.trim()).length,
      styles: document.querySelectorAll('style').length + all.filter((e) => e.hasAttribute('style')).length,
      handlers: all.filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
    };
  });
  expect(found.scripts === 0, `no inline <script> (found ${found.scripts})`);
  expect(found.styles === 0, `no inline style (found ${found.styles})`);
  expect(found.handlers === 0, `no on… attributes (found ${found.handlers})`);
}

/**
 * Runs `body({ page, env, problems, ... })` in a fresh browser. On failure a screenshot
 * `<name>-failure.png` is taken and the process exits 1; problems the browser reported (CSP
 * refusals, script errors) fail the scenario too.
 */
export async function scenario(name, body) {
  const env = settings();
  rmSync(join(env.shots, `${name}-failure.png`), { force: true });
  const run = await launch();
  try {
    await body({ ...run, env });
    expect(run.problems.length === 0, `no browser problems, got:\n  ${run.problems.join('\n  ')}`);
    console.log(`ok: ${name}`);
  } catch (error) {
    process.exitCode = 1;
    console.error(`FAILED ${name}: ${error.stack || error}`);
    try {
      console.error(`  at ${run.page.url()}; screenshot ${await shot(run.page, `${name}-failure`, env.shots)}`);
    } catch (e) {
      console.error(`  (no screenshot: ${e.message})`);
    }
  } finally {
    await run.browser.close();
  }
}
