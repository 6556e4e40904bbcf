// Starts the real `sovra` binary (SOVRA_BIN, default target/debug/sovra) on a
// free port with the simulated engine and its own data dir, and drives it
// with headless Chromium (playwright-core, the system's /usr/bin/chromium:
// Playwright's own browser download is not needed). Also: axe-core checks,
// screenshots into docs/screenshots/, and page-weight measurement.

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

import { chromium } from "playwright-core";

const here = fileURLToPath(new URL(".", import.meta.url));
export const ROOT = resolve(here, "../..");
export const BIN = process.env.SOVRA_BIN ?? resolve(ROOT, "target/debug/sovra");
export const CHROMIUM = process.env.SOVRA_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENSHOTS = resolve(ROOT, "docs/screenshots");
export const OUT = resolve(here, "out");
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * `sovra serve --engine sim` with embeddings and the safety classifier, and
 * extra `env`; resolves once /readyz says ready (the classifier in force).
 * `tokensPerSecond` 0 streams as fast as possible; `dataDir` reuses a data dir (restarts).
 */
export async function startSovra({ env = {}, tokensPerSecond = 80, ttftMs = 30, dataDir } = {}) {
  const port = await freePort();
  const data = dataDir ?? mkdtempSync(join(tmpdir(), "sovra-browser-"));
  const logPath = join(data, `sovra-${port}.log`);
  const log = openSync(logPath, "w");
  const environment = {
    ...process.env,
    // As served: embeddings on, so the safety classifier moderates every
    // message (readiness waits for it); the first wave tested without it
    // and refused "Hello".
    SOVRA_EMBEDDINGS_ENABLED: "true",
    SOVRA_ENGINE_SIM_TTFT_MS: String(ttftMs),
    SOVRA_ENGINE_SIM_TOKENS_PER_SECOND: String(tokensPerSecond),
    ...env,
  };
  delete environment.SOVRA_CONFIG;
  const proc = spawn(BIN, ["serve", "--engine", "sim", "--listen", `127.0.0.1:${port}`, "--data-dir", data], {
    stdio: ["ignore", log, log],
    env: environment,
  });
  let exited = null;
  proc.on("exit", (code, signal) => (exited = { code, signal }));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`sovra exited (${JSON.stringify(exited)}):\n${readFileSync(logPath, "utf8").slice(-3000)}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`sovra was not ready in time:\n${readFileSync(logPath, "utf8").slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    data,
    /** SIGTERM, and the exit code (0 after a graceful shutdown). */
    async stop() {
      if (exited) return exited.code;
      const done = new Promise((ok) => proc.on("exit", (code) => ok(code)));
      proc.kill("SIGTERM");
      return done;
    },
  };
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

/** A fresh context (its own cookies: its own anonymous person). */
export async function newPage(browser, { width = 1280, height = 800, colorScheme = "light", locale = "en-US", reducedMotion = "no-preference" } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme, locale, reducedMotion, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of (401|404)/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { context, page, problems };
}

/**
 * The page's anonymous person: the HttpOnly cookie the server handed it
 * (read from the browser's jar), its CSRF token and its user id, as
 * `GET /auth/me` says with that cookie.
 */
export async function userOf(page) {
  const jar = await page.context().cookies();
  const anon = jar.find((c) => c.name === "sovra_anon" || c.name === "__Host-sovra_anon");
  if (!anon) throw new Error("the page holds no anonymous cookie");
  const cookie = `${anon.name}=${anon.value}`;
  const base = new URL(page.url()).origin;
  const me = await (await fetch(base + "/auth/me", { headers: { cookie } })).json();
  return { cookie, csrf: me.csrf_token, id: me.anonymous_id };
}

/** axe-core on the page as it is now; returns serious and critical violations. */
export async function axe(page, label) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `axe-${label}.json`), JSON.stringify(result, null, 2));
  return bad;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

export function report(name, value) {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${name}.json`), JSON.stringify(value, null, 2));
}

/** Sends `text` from the composer and waits until the answer is complete. */
export async function sendAndWait(page, text) {
  const before = await page.locator(".msg-assistant").count();
  await page.fill("#prompt", text);
  await page.press("#prompt", "Enter");
  await page.locator(".msg-assistant").nth(before).waitFor();
  await page.waitForFunction((n) => {
    const a = document.querySelectorAll(".msg-assistant");
    return a.length > n && !a[n].classList.contains("streaming") && !document.querySelector("#stop:not([hidden])");
  }, before);
  return page.locator(".msg-assistant").nth(before);
}

/** JSON from the API as `who`: a page's person (`userOf`), or `{ key }`. */
export async function apiAs(base, who, path, init = {}) {
  const as = who.key ? { authorization: `Bearer ${who.key}` } : { cookie: who.cookie, "x-csrf-token": who.csrf };
  const res = await fetch(base + path, { ...init, headers: { ...as, ...(init.headers || {}) } });
  const body = res.status === 204 ? null : await res.json();
  return { status: res.status, body };
}
