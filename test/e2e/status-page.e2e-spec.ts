/**
 * The status page in a real headless browser (Debian's chromium driven by puppeteer-core, which
 * downloads no browser) against the built bot running real jobs: `bot:build` on two PRs of a local
 * software-layer repository, two targets each, built by the bot's job script with the local
 * executor. The page must load without a console error, list the jobs of this run, filter by PR,
 * and show hostile text as text. Screenshots go to test-output/ for a person to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { formatRowDate } from '../../src/builds/job-comment.js';
import { JobStore } from '../../src/builds/job-store.js';
import { FakeGitHub } from '../fakes/fake-github.server.js';
import { createGitFixture, type GitFixture } from '../support/git-fixture.js';
import { botEnv, writeBotConfig } from '../support/bot-config.js';
import { PROJECT_ROOT, startServer, stopAllBots, type BotServer } from '../support/bot-process.js';
import { TEST_APP_ID, TEST_INSTALLATION_ID, testAppKeys } from '../support/job-manager-env.js';
import { labeledPullRequestPayload } from '../support/payloads.js';

jest.setTimeout(180_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The flags of a quiet, private, offline headless browser. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OUTPUT_DIR = join(PROJECT_ROOT, 'test-output');
const SECRET = 'status page e2e secret';
const HOSTILE_REPO = 'EESSI/<img src=x onerror="alert(1)">';
const TARGETS = { 'linux/x86_64/generic': '', 'linux/x86_64/amd/zen2': '' };

const root = mkdtempSync(join(tmpdir(), 'status-page-e2e-'));
let fixture: GitFixture;
let github: FakeGitHub;
let bot: BotServer;
let browser: Browser;
/** PR built with the example build script (SUCCESS) and one without any (FAILURE). */
let goodPr: number;
const badPr = 1;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: this test drives a real browser. Install Debian's chromium ` +
        '(apt-get install -y chromium, as .ci/run does) or set CHROMIUM_PATH to a Chromium binary',
    );
  }
  fixture = createGitFixture();
  goodPr = 5;
  const example = join(PROJECT_ROOT, 'examples', 'software-layer');
  fixture.addPullRequest(goodPr, {
    'bot/build.sh': readFileSync(join(example, 'bot', 'build.sh'), 'utf8'),
    'bot/check-build.sh': readFileSync(join(example, 'bot', 'check-build.sh'), 'utf8'),
    'easystacks/demo.yml': 'easyconfigs:\n  - zlib-1.2.13-GCCcore-12.3.0.eb\n',
  });
  github = new FakeGitHub({
    appId: TEST_APP_ID,
    installationId: TEST_INSTALLATION_ID,
    publicKey: testAppKeys().publicKey,
  });
  await github.start();
  await recordHostileJob();
  bot = await startServer({
    config: writeConfig(),
    env: botEnv(SECRET, fixture.env),
    jobManager: true,
  });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${join(root, 'chromium-profile')}`, 'about:blank'],
  });
});

afterAll(async () => {
  await browser?.close();
  await stopAllBots();
  await github?.stop();
  fixture?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

function writeConfig(): string {
  return writeBotConfig({
    root,
    privateKey: testAppKeys().privateKey,
    appId: TEST_APP_ID,
    appName: 'status-page-bot',
    installationId: TEST_INSTALLATION_ID,
    apiUrl: github.url,
    archTargetMap: TARGETS,
    pollIntervalSeconds: 1,
  });
}

/**
 * A finished job whose record names a hostile repository: records are written from webhook
 * payloads, so the page must show whatever they hold as text. Finished before the bot starts,
 * so the job manager leaves it alone.
 */
async function recordHostileJob(): Promise<void> {
  const store = new JobStore(join(root, 'job-ids'));
  const now = new Date();
  const month = `${now.getUTCFullYear()}.${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  const jobDir = join(root, 'jobs', month, 'pr_99', 'event_x', 'run_001', 'linux_x86_64_generic');
  mkdirSync(jobDir, { recursive: true });
  await store.recordSubmitted('4242', jobDir, {
    repo: HOSTILE_REPO,
    prNumber: 99,
    target: 'linux/x86_64/<b>generic</b>',
    appName: 'status-page-bot',
    jobName: 'eessi-bot-status-page-bot',
    deliveryId: 'x',
  });
  const row = (kind: 'submitted' | 'finished', comment: string) => ({
    kind,
    date: formatRowDate(now),
    status: kind,
    comment,
  });
  await store.addRow('4242', jobDir, row('submitted', 'job id `4242` awaits release'));
  await store.addRow('4242', jobDir, row('finished', ':grin: SUCCESS <script>alert(2)</script>'));
  await store.finish('4242');
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 150_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting until ${what}:\n${bot.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface Watched {
  readonly page: Page;
  readonly problems: string[];
}

/** A page whose console errors, script errors, dialogs and failed requests are collected. */
async function watchedPage(): Promise<Watched> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 800 });
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${String(error)}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { page, problems };
}

function tableRows(page: Page): Promise<string[][]> {
  return page.$$eval('#jobs tbody tr', (rows) =>
    rows.map((row) =>
      Array.from(
        (row as unknown as { cells: ArrayLike<{ textContent: string | null }> }).cells,
      ).map((cell) => (cell.textContent ?? '').trim()),
    ),
  );
}

describe('GET /status in a headless browser', () => {
  it('lists the jobs of this run without a console error, filters by PR and escapes hostile text', async () => {
    for (const pr of [badPr, goodPr]) {
      const payload = labeledPullRequestPayload({
        label: 'bot:build',
        sender: 'maintainer',
        repo: fixture.repo,
        number: pr,
        base: { ref: fixture.baseRef },
        head: { sha: fixture.headSha[pr] },
      });
      expect(await bot.deliver('pull_request', payload, SECRET)).toBe(202);
    }
    await waitFor('the four jobs have finished', async () => {
      const report = (await (await fetch(`${bot.url}/status.json`)).json()) as {
        jobs: { items: Array<{ state: string; repo: string }> };
      };
      const ours = report.jobs.items.filter((job) => job.repo === fixture.repo);
      return ours.length === 4 && ours.every((job) => job.state === 'finished');
    });

    const { page, problems } = await watchedPage();
    const response = await page.goto(`${bot.url}/status`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: join(OUTPUT_DIR, 'status.png'), fullPage: true });

    const rows = await tableRows(page);
    const ours = rows.filter((cells) => cells[0].startsWith(`${fixture.repo}#`));
    expect(ours.map((cells) => [cells[0], cells[1], cells[3]]).sort()).toEqual(
      [
        [`${fixture.repo}#${badPr}`, 'linux/x86_64/amd/zen2', 'finished: FAILURE'],
        [`${fixture.repo}#${badPr}`, 'linux/x86_64/generic', 'finished: FAILURE'],
        [`${fixture.repo}#${goodPr}`, 'linux/x86_64/amd/zen2', 'finished: SUCCESS'],
        [`${fixture.repo}#${goodPr}`, 'linux/x86_64/generic', 'finished: SUCCESS'],
      ].sort(),
    );
    for (const cells of ours) {
      expect(cells[2]).toMatch(/^\d+$/); // job id
      expect(cells[4]).toMatch(/^\d+ (s|min)$/); // age
      expect(cells[5]).toBe('comment');
    }
    const commentLinks = await page.$$eval('#jobs a', (links) =>
      links.map((a) => (a as unknown as { href: string }).href),
    );
    expect(commentLinks).toContainEqual(
      expect.stringMatching(
        new RegExp(`^${github.url}/${fixture.repo}/pull/${goodPr}#issuecomment-\\d+$`),
      ),
    );
    // The hostile repository name is shown as text: no element was made of it, nothing ran.
    expect(rows.map((cells) => cells[0])).toContain(`${HOSTILE_REPO}#99`);
    expect(await page.$$('img')).toHaveLength(0);

    await page.type('#pr', String(goodPr));
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.click('button[type=submit]'),
    ]);
    expect(new URL(page.url()).searchParams.get('pr')).toBe(String(goodPr));
    const filtered = await tableRows(page);
    expect(filtered.map((cells) => cells[0])).toEqual([
      `${fixture.repo}#${goodPr}`,
      `${fixture.repo}#${goodPr}`,
    ]);
    expect(
      await page.$eval('#caption', (p) => (p as unknown as { textContent: string }).textContent),
    ).toBe(`2 jobs for PR ${goodPr}`);
    await page.screenshot({ path: join(OUTPUT_DIR, 'status-pr.png'), fullPage: true });

    expect(problems).toEqual([]);
  });
});
