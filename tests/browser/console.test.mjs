// The operator console behind the operator key: numbers move as the chat is used.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { axe, launch, newPage, screenshot, sendAndWait, startSovra } from "./harness.mjs";

const KEY = "sk-sovra-browser-test-0123456789";
let browser, sovra;
before(async () => {
  browser = await launch();
  sovra = await startSovra({ tokensPerSecond: 0, ttftMs: 5, env: { SOVRA_AUTH_API_KEYS: `["${KEY}"]` } });
});
after(async () => {
  await browser?.close();
  await sovra?.stop();
});

const tile = (page, id) => page.textContent(`[data-tile=${id}] .value`);
const num = (s) => Number(String(s).replace(/[^\d.]/g, ""));

test("the console needs the key, then shows live usage, keys by prefix, feedback", async () => {
  assert.equal((await fetch(sovra.base + "/admin/usage")).status, 401);
  const { context, page, problems } = await newPage(browser);
  await page.goto(sovra.base + "/console");
  await page.waitForSelector("body[data-ready=true]");
  assert.match(await page.textContent("#state"), /operator key/);
  await page.fill("#key", KEY);
  await page.click("#keyform button");
  await page.waitForSelector("[data-tile=requests]");
  const before = num(await tile(page, "completion"));

  // Use the chat in another tab; the console's numbers move.
  const chat = await context.newPage();
  await chat.goto(sovra.base + "/");
  await chat.waitForSelector("body[data-ready=true]");
  const answer = await sendAndWait(chat, "Console numbers should move");
  await answer.locator(".thumb.up").click();
  await chat.waitForFunction(() => document.querySelector(".thumb.up").getAttribute("aria-pressed") === "true");
  await page.waitForFunction((b) => {
    const v = document.querySelector("[data-tile=completion] .value");
    return v && Number(v.textContent.replace(/[^\d.]/g, "")) > b;
  }, before, { timeout: 10_000 });
  assert.ok(num(await tile(page, "requests")) > 0);
  await page.waitForFunction(() => /\d/.test(document.querySelector("[data-tile=ttft] .value").textContent));
  await page.waitForFunction(() => document.querySelector("#feedback table"));
  assert.match(await page.textContent("#feedback"), /up/);
  assert.match(await page.textContent("#models"), /sim/);
  assert.match(await page.textContent("#routes"), /\/api\/conversations\/\{id\}\/messages/);
  // The key by prefix only, never the secret.
  const keys = await page.textContent("#keys");
  assert.match(keys, /sk-s…/);
  assert.ok(!keys.includes(KEY));
  assert.ok(!(await page.content()).includes(KEY));
  // The charts are drawn once two samples are in.
  await page.waitForFunction(() => document.querySelectorAll("#chart-tokens svg path").length === 2);
  assert.deepEqual(await axe(page, "console-light"), []);
  await screenshot(page, "console-light");
  await page.click("#theme");
  assert.deepEqual(await axe(page, "console-dark"), []);
  await screenshot(page, "console-dark");
  assert.deepEqual(problems, []);
  await context.close();
});
