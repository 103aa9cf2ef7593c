// Starts the real `kezek` binary on a fresh database and a free port, and launches Debian's
// Chromium through playwright-core. The tests build nothing: scripts/e2e builds the binary.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, readFile, mkdir } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_PASSWORD = 'kezek-demo';
export const LANGS = ['kk', 'ru', 'en'];
export const SCREENSHOT_DIR = path.join(REPO, 'target', 'e2e-screenshots');

const CHROMIUM = process.env.KEZEK_CHROMIUM || '/usr/bin/chromium';
// The server prints its banner within a few seconds; this bounds a hung start, it is no pacing.
const START_TIMEOUT_MS = 30_000;

function kezekBin() {
  const bin = process.env.KEZEK_BIN || 'target/debug/kezek';
  return path.isAbsolute(bin) ? bin : path.join(REPO, bin);
}

/**
 * Starts `kezek serve` with a temporary data folder. Resolves to
 * { url, logins: [{ role, iin, organization }], dataDir, stop() } once the banner names the URL.
 */
export async function startServer() {
  const bin = kezekBin();
  if (!existsSync(bin)) {
    throw new Error(`kezek binary not found at ${bin}: run scripts/e2e, or cargo build --bin kezek, or set KEZEK_BIN`);
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), 'kezek-e2e-'));
  const env = { ...process.env, KEZEK_LOG: 'warn' };
  // The server would pick these up over its defaults; the test wants SQLite in dataDir.
  for (const k of ['DATABASE_URL', 'KEZEK_DATA_DIR', 'KEZEK_BIND', 'KEZEK_CATALOG_DIR', 'KEZEK_NO_DEMO', 'KEZEK_SECURE_COOKIES']) {
    delete env[k];
  }
  const child = spawn(bin, [
    'serve',
    '--bind', '127.0.0.1:0',
    '--data-dir', dataDir,
    '--catalog-dir', path.join(REPO, 'catalog'),
  ], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });

  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-8000); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  // A test file that dies before its `after` hook, or is interrupted, still takes its server
  // down with it.
  const killNow = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  process.once('exit', killNow);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      killNow();
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }

  const logins = [];
  const lines = createInterface({ input: child.stdout });
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kezek printed no URL within ${START_TIMEOUT_MS} ms\n${stderr}`)), START_TIMEOUT_MS);
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`kezek exited (code ${code}, signal ${signal}) before printing its URL\n${stderr}`));
      });
      lines.on('line', (line) => {
        const m = /^kezek is running at (http:\/\/\S+?)\/?(\s|$)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
          return;
        }
        // "kindergarten_head    700402301139   Kindergarten No. 1 "Balapan""
        const login = /^([a-z_]+)\s+(\d{12})\s*(.*)$/.exec(line);
        if (login) logins.push({ role: login[1], iin: login[2], organization: login[3].trim() });
      });
    });
    return { url, logins, dataDir, stop, stderr: () => stderr };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The demo login of `role` printed `index`-th (0 for the first). */
export function demoLogin(server, role, index = 0) {
  const login = server.logins.filter((l) => l.role === role)[index];
  if (!login) throw new Error(`the server printed no demo login ${index} for ${role}; it printed ${JSON.stringify(server.logins)}`);
  return login;
}

/**
 * Launches headless Chromium. Playwright gives every launch a fresh, empty profile folder of its
 * own (it refuses a --user-data-dir argument) and removes it on close.
 */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get install chromium (or set KEZEK_CHROMIUM)`);
  }
  // No background networking: this machine reaches no network but the package registries, and
  // Chromium's own update, sync and metrics requests would only fail.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return { browser, close: () => browser.close().catch(() => {}) };
}

/**
 * The interface messages of the server (crates/web/i18n/*.ftl), so the tests check that each
 * language shows its own words without copying them. Only single-line `key = value` messages.
 */
export async function loadMessages() {
  const out = {};
  for (const lang of LANGS) {
    const text = await readFile(path.join(REPO, 'crates', 'web', 'i18n', `${lang}.ftl`), 'utf8');
    const msgs = {};
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z][\w-]*) = (.*)$/.exec(line);
      if (m) msgs[m[1]] = m[2].trim();
    }
    out[lang] = msgs;
  }
  return out;
}

/** Replaces Fluent placeables `{ $name }` with the given values. */
export function fill(message, args = {}) {
  return message.replace(/\{\s*\$(\w+)\s*\}/g, (_, name) => (name in args ? String(args[name]) : `{$${name}}`));
}

/** An IIN with the same digits but a wrong last (check) digit. */
export function withWrongCheckDigit(iin) {
  const last = Number(iin[11]);
  return iin.slice(0, 11) + String((last + 1) % 10);
}

export async function screenshotPath(name) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return path.join(SCREENSHOT_DIR, name);
}

/** Today in Almaty as YYYY-MM-DD (the server counts days there), or `days` later. */
export function almatyToday(days = 0) {
  return new Date(Date.now() + 5 * 3600 * 1000 + days * 86_400_000).toISOString().slice(0, 10);
}

/** The child's age band on 1 September of this school year, as the queue computes it. */
export function bandOf(birth) {
  const today = almatyToday();
  const year = Number(today.slice(5, 7)) >= 9 ? Number(today.slice(0, 4)) : Number(today.slice(0, 4)) - 1;
  const [by, bm, bd] = birth.split('-').map(Number);
  let age = year - by;
  if (bm > 9 || (bm === 9 && bd > 1)) age -= 1;
  return `${age}-${age + 1}`;
}

/** Signs a demo account in through the API; answers its bearer token. */
export async function apiToken(server, iin) {
  const r = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ iin, password: DEMO_PASSWORD }),
  });
  if (r.status !== 200) throw new Error(`API login of a demo account answered ${r.status}`);
  return (await r.json()).token;
}

/** What a test file starts before its tests: the messages, a server and a browser. */
export async function startDemo() {
  const msgs = await loadMessages();
  const server = await startServer();
  try {
    return { msgs, server, chromium: await launchBrowser() };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/** Closes what `startDemo` started (either may be missing if starting failed). */
export async function stopDemo({ server, chromium }) {
  await chromium?.close();
  await server?.stop();
}

/** The demo region with `code`, as the public API lists it. */
export async function demoRegion(server, code) {
  const regions = await (await fetch(`${server.url}/api/v1/regions`)).json();
  const region = regions.find((r) => r.code === code);
  if (!region) throw new Error(`the demo has no region ${code}`);
  return region;
}
