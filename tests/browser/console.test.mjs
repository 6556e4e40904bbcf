// The operator console behind the operator key: numbers move as the chat is
// used. Then a signed-in admin creates a tenant and an API key, the secret
// works against the server, revoking it in the console shuts it out; the
// console in Arabic (right to left).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { BIN, axe, launch, newPage, report, screenshot, sendAndWait, startSovra } from "./harness.mjs";

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

test("an admin creates a tenant and a key; the secret works once shown; revoking shuts it out; Arabic, right to left", async () => {
  const NAME = "grace@gov.example";
  const PASSWORD = "a long enough console password";
  const dataDir = mkdtempSync(join(tmpdir(), "sovra-console-admin-"));
  const boot = spawnSync(BIN, ["admin", "bootstrap", "--data-dir", dataDir, "--name", NAME, "--password-stdin"], {
    input: PASSWORD + "\n",
    encoding: "utf8",
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "SOVRA_CONFIG")),
  });
  assert.equal(boot.status, 0, boot.stderr);
  const admin = await startSovra({ tokensPerSecond: 0, ttftMs: 5, dataDir });
  const { context, page, problems } = await newPage(browser);
  try {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: admin.base });
    await page.goto(admin.base + "/console");
    await page.waitForSelector("body[data-ready=true]");
    // The console's first load (with the strings of every language) stays within the chat's budget.
    const weight = await page.evaluate(() => {
      const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
      return { transferred_bytes: entries.reduce((n, e) => n + e.transferSize, 0), decoded_bytes: entries.reduce((n, e) => n + e.decodedBodySize, 0), requests: entries.length };
    });
    report("console-page-weight", weight);
    console.log(`console page weight: ${weight.transferred_bytes} B transferred (${weight.decoded_bytes} B decoded) in ${weight.requests} requests`);
    assert.ok(weight.transferred_bytes < 150 * 1024, `console first load ${weight.transferred_bytes} B must be under 150 KB`);
    assert.equal(await page.isVisible("#manage"), false, "no forms before sign-in");
    await page.fill("#signin-name", NAME);
    await page.fill("#signin-password", PASSWORD);
    await page.click("#signin-submit");
    await page.waitForSelector("#manage:not([hidden])");

    // A tenant under the admin's own (keyboard only: tab to the field, type, Enter).
    await page.selectOption("#tenant-parent", "platform");
    await page.focus("#tenant-segment");
    await page.keyboard.type("Bad Name");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#tenant-error").textContent.length > 0);
    assert.equal(await page.getAttribute("#tenant-error", "role"), "alert");
    assert.equal(await page.getAttribute("#tenant-segment", "aria-invalid"), "true");
    assert.equal(await page.evaluate(() => document.activeElement.id), "tenant-segment");
    await page.fill("#tenant-segment", "health");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "tenant-name");
    assert.equal(await page.evaluate(() => document.activeElement.matches(":focus-visible")), true, "focus is visible");
    await page.keyboard.type("Health agency");
    await page.selectOption("#tenant-kind", "agency");
    await page.click("#tenant-submit");
    await page.waitForFunction(() => /platform\/health/.test(document.querySelector("#keys-msg").textContent));
    assert.equal(await page.textContent("#tenant-error"), "");
    const tenants = await page.evaluate(async () => (await fetch("/admin/tenants")).json());
    const made = tenants.data.find((t) => t.path === "platform/health");
    assert.ok(made && made.kind === "agency" && made.name === "Health agency", JSON.stringify(tenants));
    assert.equal(await page.inputValue("#newkey-tenant"), "platform/health");
    // The API's own refusal, announced: the same tenant again.
    await page.fill("#tenant-segment", "health");
    await page.click("#tenant-submit");
    await page.waitForFunction(() => /The server refused/.test(document.querySelector("#tenant-error").textContent));

    // An API key for it; the secret is shown once, with a copy button.
    await page.fill("#newkey-name", "ci-robot");
    await page.selectOption("#newkey-role", "member");
    await page.uncheck("#newkey-scopes input[value=knowledge]");
    await page.fill("#newkey-days", "30");
    await page.click("#key-submit");
    await page.waitForFunction(() => !document.querySelector("#secret-box").hidden || document.querySelector("#key-error").textContent);
    assert.equal(await page.textContent("#key-error"), "");
    await page.waitForSelector("#secret-box:not([hidden])");
    assert.equal(await page.evaluate(() => document.activeElement.id), "secret-box");
    const secret = (await page.textContent("#secret")).trim();
    assert.match(secret, /^sk-sovra-\S+$/);
    assert.match(await page.textContent("#secret-warning"), /you will not see this again/);
    await page.click("#secret-copy");
    await page.waitForFunction(() => document.querySelector("#secret-copied").textContent.length > 0);
    assert.equal(await page.textContent("#secret-copied"), "Copied.");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    const models = (key) => fetch(admin.base + "/v1/models", { headers: { Authorization: `Bearer ${key}` } });
    assert.equal((await models(secret)).status, 200, "the new key works");
    await page.waitForFunction(() => /ci-robot/.test(document.querySelector("#keys").textContent));
    const row = page.locator("#keys tr", { hasText: "ci-robot" });
    const rowText = await row.textContent();
    assert.match(rowText, /platform\/health/);
    assert.match(rowText, /member/);
    assert.match(rowText, /live/);
    assert.doesNotMatch(rowText, /knowledge/);
    assert.ok(!(await page.textContent("#keys")).includes(secret), "the table shows the prefix only");
    const listed = await page.evaluate(async () => (await fetch("/admin/keys")).json());
    const record = listed.api_keys.find((k) => k.name === "ci-robot");
    assert.ok(record.expires_at_ms > Date.now() + 29 * 86400e3 && record.expires_at_ms < Date.now() + 31 * 86400e3);
    assert.deepEqual(record.scopes, ["inference", "embeddings", "conversations"]);
    assert.equal(record.user, null, "a tenant service key");
    assert.equal(record.tenant, "platform/health");
    assert.ok(rowText.includes(await page.evaluate((ms) => new Date(ms).toLocaleDateString("en"), record.expires_at_ms)));
    await page.click("#secret-done");
    assert.equal(await page.isVisible("#secret-box"), false);
    assert.ok(!(await page.content()).includes(secret), "gone from the page once dismissed");

    // Revoke, after a confirmation; dismissing it revokes nothing.
    const revoke = page.getByRole("button", { name: /^Revoke the key ci-robot/ });
    page.once("dialog", (d) => d.dismiss());
    await revoke.click();
    assert.equal((await models(secret)).status, 200, "dismissed: still live");
    let asked = "";
    page.once("dialog", (d) => { asked = d.message(); d.accept(); });
    await revoke.click();
    await page.waitForFunction(() => /revoked/.test(document.querySelector("#keys-msg").textContent));
    assert.match(asked, /Revoke the key “ci-robot”/);
    assert.equal((await models(secret)).status, 401, "revoked: refused");
    await page.waitForFunction(() => [...document.querySelectorAll("#keys tr")].some((r) => /ci-robot/.test(r.textContent) && /revoked/.test(r.textContent)));
    assert.equal(await page.getByRole("button", { name: /^Revoke the key ci-robot/ }).count(), 0);
    assert.deepEqual(await axe(page, "console-manage"), []);

    // Arabic: right to left, translated headings, locale dates; axe clean.
    await page.selectOption("#lang", "ar");
    assert.equal(await page.getAttribute("html", "dir"), "rtl");
    assert.equal(await page.getAttribute("html", "lang"), "ar");
    assert.equal(await page.textContent("h1"), "لوحة تشغيل Sovra");
    assert.equal(await page.textContent("#h-keys"), "الجهات والمفاتيح");
    assert.equal(await page.textContent("#h-manage"), "إنشاء الجهات والمفاتيح");
    assert.equal(await page.textContent("#h-new-key"), "مفتاح API جديد");
    assert.equal(await page.textContent("label[for=newkey-name]"), "اسم المفتاح");
    assert.equal(await page.textContent("[data-tile=requests] .label"), "الطلبات");
    assert.equal(await page.title(), "لوحة تشغيل Sovra");
    const arRow = await page.locator("#keys tr", { hasText: "ci-robot" }).textContent();
    assert.match(arRow, /ملغى/);
    assert.ok(arRow.includes(await page.evaluate((ms) => new Date(ms).toLocaleDateString("ar"), record.expires_at_ms)));
    // Mirrored: the language menu sits at the start (left) of the header in RTL.
    const box = await page.locator("h1").boundingBox();
    const tools = await page.locator(".top-tools").boundingBox();
    assert.ok(tools.x < box.x, `tools ${tools.x} left of the title ${box.x}`);
    await page.waitForFunction(() => /مباشر/.test(document.querySelector("#state").textContent));
    assert.deepEqual(await axe(page, "console-rtl"), []);
    // The choice is kept.
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.getAttribute("html", "dir"), "rtl");
    await page.selectOption("#lang", "en");
    assert.equal(await page.getAttribute("html", "dir"), "ltr");
    // The one 400 is the tenant made twice, on purpose.
    assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
  } finally {
    await context.close();
    await admin.stop();
  }
});
