// Language and culture from the country profile: Morocco (Arabic first,
// right to left), Estonia (Estonian), and the language switcher.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";

import { ROOT, axe, launch, newPage, screenshot, sendAndWait, startSovra } from "./harness.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("Morocco: Arabic, dir=rtl, mirrored layout, the profile's assistant and lines", async () => {
  const sovra = await startSovra({ env: { SOVRA_SAFETY_PROFILE: resolve(ROOT, "profiles/ma.toml"), SOVRA_RETENTION_CONVERSATIONS_DAYS: "30" } });
  try {
    const profile = await (await fetch(sovra.base + "/api/profile")).json();
    assert.equal(profile.country, "MA");
    assert.deepEqual(profile.languages, ["ar", "fr", "en"]);
    assert.equal(profile.privacy.conversations_days, 30);
    assert.ok(!JSON.stringify(profile).includes("system_prompt"));

    const { context, page, problems } = await newPage(browser, { locale: "ar-MA" });
    await page.goto(sovra.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.getAttribute("html", "dir"), "rtl");
    assert.equal(await page.getAttribute("html", "lang"), "ar");
    assert.equal(await page.textContent("#welcome-name"), profile.assistant.ar.name);
    assert.equal(await page.textContent("#welcome-text"), profile.assistant.ar.persona);
    assert.equal(await page.textContent("#send"), "إرسال");
    assert.match(await page.textContent("#hotlines"), new RegExp(profile.services.emergency.number));
    // The language list starts with the profile's languages.
    const options = await page.locator("#lang option").evaluateAll((o) => o.map((x) => x.value));
    assert.deepEqual(options.slice(0, 3), ["ar", "fr", "en"]);
    assert.ok(options.length >= 12);

    // Mirrored: the sidebar is on the right, messages from the user on the left.
    const side = await page.locator("#sidebar").boundingBox();
    const main = await page.locator("#main").boundingBox();
    assert.ok(side.x > main.x, `sidebar (${side.x}) right of the chat (${main.x})`);
    // A starter question (public services) is sent as it reads.
    const starter = await page.textContent(".starter[data-kind=services]");
    await page.click(".starter[data-kind=services]");
    await page.waitForFunction(() => document.querySelector(".msg-assistant") && !document.querySelector(".msg-assistant.streaming") && !document.querySelector("#stop:not([hidden])"));
    assert.equal(await page.textContent(".msg-user .text"), starter);
    await page.click("#new-chat");
    await sendAndWait(page, "كيف أجدد جواز السفر");
    const mine = await page.locator(".msg-user").boundingBox();
    const theirs = await page.locator(".msg-assistant").boundingBox();
    assert.ok(mine.x < theirs.x, "the user's bubble sits at the inline end (left in RTL)");
    // Dates in Arabic (Moroccan locale) in the list.
    const when = await page.textContent(".conv-open time");
    assert.ok(when.length > 0);
    // Privacy facts from the profile and the config: 30 days, Morocco.
    await page.click("#privacy-open");
    const facts = await page.textContent("#privacy-facts");
    assert.match(facts, /30/);
    assert.match(facts, /المغرب/);
    await page.click("#privacy-close");
    assert.deepEqual(await axe(page, "chat-rtl"), []);
    await screenshot(page, "chat-desktop-rtl");

    // Switch to French: left to right again, French strings, French persona.
    await page.selectOption("#lang", "fr");
    assert.equal(await page.getAttribute("html", "dir"), "ltr");
    assert.equal(await page.textContent("#send"), "Envoyer");
    await page.click("#new-chat");
    assert.equal(await page.textContent("#welcome-text"), profile.assistant.fr.persona);
    // The choice is remembered.
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.getAttribute("html", "lang"), "fr");
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await sovra.stop();
  }
});

test("every UI language renders, RTL only for Arabic, axe clean in each", async () => {
  const sovra = await startSovra({ env: { SOVRA_SAFETY_PROFILE: resolve(ROOT, "profiles/ee.toml") } });
  try {
    const { context, page } = await newPage(browser, { locale: "et-EE" });
    await page.goto(sovra.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.getAttribute("html", "lang"), "et");
    assert.equal(await page.textContent("#welcome-name"), "Kratt");
    const codes = await page.locator("#lang option").evaluateAll((o) => o.map((x) => x.value));
    const seen = new Set();
    for (const code of codes) {
      await page.selectOption("#lang", code);
      assert.equal(await page.getAttribute("html", "dir"), code === "ar" ? "rtl" : "ltr", code);
      const send = await page.textContent("#send");
      seen.add(send);
      if (code !== "en") assert.notEqual(await page.textContent("#ai-notice"), "", code);
    }
    assert.ok(seen.size >= 10, `at least 10 distinct translations of "Send": ${[...seen].join(", ")}`);
    assert.deepEqual(await axe(page, "chat-ee-last-language"), []);
    await context.close();
  } finally {
    await sovra.stop();
  }
});
