/**
 * Headless Chromium for the dashboard tests: the launch flags this machine needs (no background
 * networking: the network is closed) and a page watched for every kind of failure.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What went wrong in a page: console errors (with their source URL), uncaught errors, CSP reports. */
export interface Problems {
  console: { text: string; url: string }[];
  pageErrors: string[];
  csp(): Promise<string[]>;
}

/** A fresh page in its own context (its own sessionStorage), watched for every kind of failure. */
export async function openPage(
  browser: Browser,
  t: TestContext,
  viewport = { width: 1280, height: 800 },
): Promise<{ page: Page; problems: Problems }> {
  const context = await browser.newContext({ viewport });
  t.after(() => context.close());
  // The page's own CSP report: every violation fires `securitypolicyviolation` on the document.
  // Init scripts are injected by the browser, so the CSP does not block this listener itself.
  await context.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  const problems: Problems = {
    console: [],
    pageErrors: [],
    csp: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
  };
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content[- ]Security[- ]Policy/i.test(m.text())) {
      problems.console.push({ text: m.text(), url: m.location().url });
    }
  });
  page.on('pageerror', (e) => problems.pageErrors.push(e.message));
  return { page, problems };
}

/** Waits until `selector`'s text contains `want`; on timeout fails saying what the text was. */
export async function waitText(page: Page, selector: string, want: string, timeoutMs = 5_000): Promise<void> {
  try {
    await page.waitForFunction(
      ([s, w]) => (document.querySelector(s)?.textContent ?? '').includes(w),
      [selector, want] as const,
      { timeout: timeoutMs },
    );
  } catch {
    const text = await page
      .locator(selector)
      .textContent()
      .catch(() => null);
    assert.fail(
      `${selector} never showed ${JSON.stringify(want)} within ${timeoutMs} ms; it shows ${JSON.stringify(text)}`,
    );
  }
}
