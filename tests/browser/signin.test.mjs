// Web sign-in in the browser: an admin made with `sovra admin bootstrap`
// signs in to the console and sees its numbers move as the chat is used;
// a wrong password shows an error; signing out closes the console again;
// the chat's sign-in dialog, with every fetch carrying the CSRF header.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BIN, axe, launch, newPage, screenshot, sendAndWait, startSovra } from "./harness.mjs";

const NAME = "ada@gov.example";
const PASSWORD = "correct horse battery staple";
let browser, sovra;

before(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sovra-signin-"));
  const boot = spawnSync(BIN, ["admin", "bootstrap", "--data-dir", dataDir, "--name", NAME, "--password-stdin"], {
    input: PASSWORD + "\n",
    encoding: "utf8",
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "SOVRA_CONFIG")),
  });
  assert.equal(boot.status, 0, boot.stderr);
  browser = await launch();
  sovra = await startSovra({ tokensPerSecond: 0, ttftMs: 5, dataDir });
});
after(async () => {
  await browser?.close();
  await sovra?.stop();
});

const num = (s) => Number(String(s).replace(/[^\d.]/g, ""));

test("an admin signs in to the console and sees its numbers move; sign-out closes it", async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(sovra.base + "/console");
  await page.waitForSelector("body[data-ready=true]");
  await page.waitForSelector("#signin-form");
  assert.match(await page.textContent("#state"), /Sign in as an administrator/);
  assert.equal(await page.locator("[data-tile=requests]").count(), 0, "no numbers before sign-in");
  assert.deepEqual(await axe(page, "console-signin"), []);
  await screenshot(page, "console-signin");

  // A wrong password: an error, announced, and still no numbers.
  await page.fill("#signin-name", NAME);
  await page.fill("#signin-password", "not the password at all");
  await page.click("#signin-submit");
  await page.waitForFunction(() => document.querySelector("#signin-error").textContent.length > 0);
  assert.match(await page.textContent("#signin-error"), /Incorrect name or password/);
  assert.equal(await page.getAttribute("#signin-error", "role"), "alert");

  const started = Date.now();
  await page.fill("#signin-password", PASSWORD);
  await page.click("#signin-submit");
  await page.waitForSelector("#whoami");
  await page.waitForSelector("[data-tile=requests]");
  const signInMs = Date.now() - started;
  assert.match(await page.textContent("#whoami"), /platform admin/);
  // The session cookie is out of the page's reach.
  assert.equal(await page.evaluate(() => document.cookie.includes("sovra_session")), false);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "sovra_session");
  assert.ok(session && session.httpOnly && session.sameSite === "Lax", JSON.stringify(cookies));

  const before = num(await page.textContent("[data-tile=completion] .value"));
  // Use the chat in another tab of the same browser (signed in there too).
  const chat = await context.newPage();
  await chat.goto(sovra.base + "/");
  await chat.waitForSelector("body[data-ready=true]");
  await chat.waitForSelector("#whoami:not([hidden])");
  await sendAndWait(chat, "The console should count this");
  await page.waitForFunction((b) => {
    const v = document.querySelector("[data-tile=completion] .value");
    return v && Number(v.textContent.replace(/[^\d.]/g, "")) > b;
  }, before, { timeout: 10_000 });
  assert.ok(num(await page.textContent("[data-tile=requests]  .value")) > 0);
  // Tenants and keys: the key the bootstrap made, by prefix only, live.
  await page.waitForFunction(() => /tenant key\(s\) in your reach/.test(document.querySelector("#keys")?.textContent || ""));
  const keysText = await page.textContent("#keys");
  assert.match(keysText, /1 tenant key\(s\) in your reach/);
  assert.match(keysText, /sk-sovra-\S+…/);
  assert.match(keysText, /platform admin/);
  assert.match(keysText, /live/);
  assert.deepEqual(await axe(page, "console-signed-in"), []);

  // Sign out: the form is back, and the admin API refuses this browser.
  await page.click("#signout");
  await page.waitForSelector("#signin-form");
  const status = await page.evaluate(async () => (await fetch("/admin/usage")).status);
  assert.ok(status === 401 || status === 403, String(status));
  assert.deepEqual(problems, []);
  await context.close();
  console.log(`console sign-in (click to numbers): ${signInMs} ms`);
});

test("the chat's sign-in dialog: wrong password, sign in, chat with the CSRF header, sign out", async () => {
  const { context, page, problems } = await newPage(browser);
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  // Anonymous use stays: the profile allows it.
  assert.equal(await page.isVisible("#signin-open"), true);
  await page.click("#signin-open");
  await page.waitForSelector("#signin[open] #signin-form");
  assert.deepEqual(await axe(page, "chat-signin"), []);
  await screenshot(page, "chat-signin");
  await page.fill("#signin-name", NAME);
  await page.fill("#signin-password", "wrong wrong wrong");
  await page.click("#signin-submit");
  await page.waitForFunction(() => /Incorrect/.test(document.querySelector("#signin-error").textContent));
  await page.fill("#signin-password", PASSWORD);
  await page.click("#signin-submit");
  await page.waitForSelector("#signin[open]", { state: "detached" });
  await page.waitForSelector("#whoami:not([hidden])");
  assert.match(await page.textContent("#whoami"), /Signed in as/);
  // Creating a conversation and streaming an answer are state-changing:
  // they go through only because every fetch sends x-csrf-token.
  await sendAndWait(page, "Hello as a signed-in user");
  const convs = await page.evaluate(async () => (await fetch("/api/conversations")).json());
  // The admin's own conversations: this one and the console test's.
  assert.equal(convs.data.length, 2);
  // Without the header the same request is refused.
  const bare = await page.evaluate(async () => (await fetch("/api/conversations", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status);
  assert.equal(bare, 403);
  await page.click("#signout");
  await page.waitForSelector("#signin-open:not([hidden])");
  assert.equal(await page.isVisible("#whoami"), false);
  assert.deepEqual(problems.filter((p) => !/403/.test(p)), []);
  await context.close();
});
