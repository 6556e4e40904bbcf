// Grounded web chat in real headless Chromium: an official page is ingested
// through the API, a citizen asks in the chat, and the answer lists the
// page as a source with a working link, also after a reload. Needs the
// embedding model (multilingual-e5-small in the model cache, as
// `sovra models pull` leaves it, or SOVRA_TEST_EMBEDDING_MODEL).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { ROOT, apiAs, axe, launch, newPage, screenshot, sendAndWait, startSovra } from "./harness.mjs";

let browser, sovra;
// The operator's key: public collections are written by platform admins.
const KEY = "sk-sovra-browser-knowledge-operator-0123456789";

before(async () => {
  browser = await launch();
  const env = {
    SOVRA_EMBEDDINGS_ENABLED: "true",
    SOVRA_KNOWLEDGE_GROUND_BY_DEFAULT: "true",
    SOVRA_KNOWLEDGE_OFFICIAL_SOURCES_ONLY: "true",
    SOVRA_AUTH_API_KEYS: `["${KEY}"]`,
  };
  if (process.env.SOVRA_TEST_EMBEDDING_MODEL) env.SOVRA_EMBEDDINGS_MODEL = process.env.SOVRA_TEST_EMBEDDING_MODEL;
  sovra = await startSovra({ env });
});

after(async () => {
  await browser?.close();
  assert.equal(await sovra?.stop(), 0, "sovra shuts down cleanly");
});

const json = (body) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("an ingested page is cited under the answer, with its link, after a reload too", async () => {
  const store = await apiAs(sovra.base, { key: KEY }, "/v1/vector_stores", json({ name: "National services", sovra: { scope: "public" } }));
  assert.equal(store.status, 200, JSON.stringify(store.body));
  const page_ = readFileSync(join(ROOT, "eval/knowledge/corpus/en/passport-renewal.md"), "utf8");
  const file = await apiAs(sovra.base, { key: KEY }, `/v1/vector_stores/${store.body.id}/files`, json({ filename: "passport.md", content: page_ }));
  assert.equal(file.status, 200, JSON.stringify(file.body));

  const { context, page, problems } = await newPage(browser);
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  const answer = await sendAndWait(page, "How much does the express service cost to get a new passport within a week?");
  const sources = answer.locator(".citations");
  await sources.waitFor();
  assert.match(await sources.textContent(), /Renew your passport/);
  const links = await sources.locator("a").evaluateAll((as) => as.map((a) => [a.getAttribute("href"), a.textContent]));
  assert.deepEqual(links[0], ["https://www.gov.example/passport/renew", "Renew your passport"]);
  assert.equal(await sources.locator("time").first().getAttribute("datetime"), "2025-02-01");
  assert.deepEqual(await axe(page, "chat-citations"), []);
  await screenshot(page, "chat-desktop-citations");

  // Stored with the answer: a reload shows the sources again.
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  const again = page.locator(".msg-assistant").first().locator(".citations");
  await again.waitFor();
  assert.match(await again.textContent(), /Renew your passport/);

  // Nothing official about it: declined, in the question's language, no sources.
  const declined = await sendAndWait(page, "Quelle est la meilleure recette de tarte aux pommes ?");
  assert.match(await declined.locator(".text").textContent(), /sources officielles/);
  assert.equal(await declined.locator(".citations").count(), 0);
  assert.deepEqual(problems, []);
  await context.close();
});
