// The citizen web chat in real headless Chromium against the real binary.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";

import { ROOT, apiAs, axe, launch, newPage, report, screenshot, sendAndWait, startSovra, userOf } from "./harness.mjs";

let browser, sovra;
// The operator's key: the feedback queue is the operator's to read.
const KEY = "sk-sovra-browser-chat-operator-0123456789";

before(async () => {
  browser = await launch();
  sovra = await startSovra({ env: { SOVRA_AUTH_API_KEYS: `["${KEY}"]` } });
});

after(async () => {
  await browser?.close();
  assert.equal(await sovra?.stop(), 0, "sovra shuts down cleanly");
});

test("first load: page weight, no external requests, streamed answer, no layout shift, axe clean", async () => {
  const { context, page, problems } = await newPage(browser);
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  const weight = await page.evaluate(() => {
    const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
    return {
      transferred_bytes: entries.reduce((n, e) => n + e.transferSize, 0),
      decoded_bytes: entries.reduce((n, e) => n + e.decodedBodySize, 0),
      requests: entries.length,
      files: entries.map((e) => ({ url: new URL(e.name).pathname, transferred: e.transferSize, decoded: e.decodedBodySize })),
    };
  });
  report("page-weight", weight);
  console.log(`page weight: ${weight.transferred_bytes} B transferred (${weight.decoded_bytes} B decoded) in ${weight.requests} requests`);
  assert.ok(weight.transferred_bytes < 150 * 1024, `first load ${weight.transferred_bytes} B must be under 150 KB`);
  assert.ok(requests.every((u) => u.startsWith(sovra.base)), `only same-origin requests: ${requests.join(", ")}`);

  // The persistent AI notice and the neutral profile's assistant.
  assert.match(await page.textContent("#ai-notice"), /AI/);
  assert.equal(await page.textContent("#welcome-name"), "Sovra");
  assert.deepEqual(await axe(page, "chat-empty-light"), []);
  await screenshot(page, "chat-desktop-light-welcome");

  // Layout shifts while the answer streams.
  await page.evaluate(() => {
    window.__cls = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
    }).observe({ type: "layout-shift", buffered: false });
  });
  await page.fill("#prompt", "Hello there, **bold** and `code` please");
  await page.press("#prompt", "Enter");
  const answer = page.locator(".msg-assistant").first();
  await answer.waitFor();
  // It streams: seen mid-answer, busy, with the stop button shown.
  await page.waitForSelector(".msg-assistant.streaming[aria-busy=true]");
  assert.equal(await page.isVisible("#stop"), true);
  await page.waitForFunction(() => !document.querySelector(".msg-assistant.streaming"));
  const text = await answer.locator(".text").textContent();
  assert.match(text, /You said: Hello there, bold and code please\./);
  // Markdown rendered: the echoed **bold** and `code`.
  assert.equal(await answer.locator(".text strong").textContent(), "bold");
  assert.equal(await answer.locator(".text code").textContent(), "code");
  const cls = await page.evaluate(() => window.__cls);
  report("layout-shift", { cls_while_streaming: cls });
  assert.ok(cls < 0.001, `cumulative layout shift while streaming ${cls}`);
  // Screen readers got the answer in sentences, and the completion.
  assert.match(await page.textContent("#answer-live"), /You said/);
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Answer complete"));
  assert.deepEqual(await axe(page, "chat-answer-light"), []);
  await screenshot(page, "chat-desktop-light");
  assert.deepEqual(problems, []);
  await context.close();
});

test("markdown is sanitised: no HTML, only http/https/mailto links", async () => {
  const { context, page } = await newPage(browser);
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  const answer = await sendAndWait(page, '<img src=x onerror=alert(1)> <script>alert(2)</script> [bad](javascript:alert(3)) [good](https://example.org/a) _it_');
  const html = await answer.locator(".text").innerHTML();
  assert.ok(!/<img|<script/i.test(html), html);
  assert.match(await answer.locator(".text").textContent(), /<img src=x onerror=alert\(1\)>/);
  const links = await answer.locator(".text a").evaluateAll((as) => as.map((a) => [a.getAttribute("href"), a.rel, a.target]));
  assert.deepEqual(links, [["https://example.org/a", "noopener noreferrer", "_blank"]]);
  assert.equal(await answer.locator(".text em").textContent(), "it");
  // The renderer itself, on what the sim cannot echo (blocks).
  const rendered = await page.evaluate(async () => {
    const md = await import("/assets/markdown.js");
    const div = document.createElement("div");
    div.append(md.render("# Title\n\n- one\n- **two**\n\n1. a\n2. b\n\n| x | y |\n|---|--:|\n| 1 | 2 |\n\n```js\nlet a = '<b>';\n```\n[m](mailto:a@b.c) [d](data:text/html,hi)"));
    return {
      html: div.innerHTML,
      lists: div.querySelectorAll("ul li, ol li").length,
      cells: div.querySelectorAll("td").length,
      code: div.querySelector("pre code").textContent,
      links: [...div.querySelectorAll("a")].map((a) => a.getAttribute("href")),
    };
  });
  assert.equal(rendered.lists, 4);
  assert.equal(rendered.cells, 2);
  assert.equal(rendered.code, "let a = '<b>';");
  assert.deepEqual(rendered.links, ["mailto:a@b.c"]);
  assert.ok(!rendered.html.includes("<b>"), rendered.html);
  await context.close();
});

// Issue 21, finding 16: the renderer runs on every streamed paint, and its
// emphasis regexes were cubic on `*a* **x ` repeated (16 KB: 13 s, a frozen
// tab). Each input below once took seconds to minutes (or was the next
// pattern an attacker would try); all are now linear. The bound is generous
// for a slow CI machine and orders of magnitude below the old times.
test("markdown renders hostile answers in linear time", async () => {
  const { context, page } = await newPage(browser);
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  const timings = await page.evaluate(async () => {
    const md = await import("/assets/markdown.js");
    const fill = (unit, n) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
    const inputs = (n) => ({
      "*a* **x ": fill("*a* **x ", n),
      "_a_ __x ": fill("_a_ __x ", n),
      "__a …__": "__a ".repeat(n / 8) + "__".repeat(n / 8),
      "*…": "*".repeat(n),
      "_…": "_".repeat(n),
      "[a](": fill("[a](", n),
      "http://a.…": "http://a" + ".".repeat(n),
      "``` …!": "```" + " ".repeat(n) + "!",
      "# a …b": "# a" + " ".repeat(n) + "b",
      "a|b / …|x": "a|b\n" + " ".repeat(n) + "|x",
      "table rows": "a|b\n|--|--|\n" + fill("|a|*b* **x\n", n),
      "list": fill("- *a* **x\n", n),
    });
    const out = [];
    for (const kb of [16, 64]) {
      for (const [name, src] of Object.entries(inputs(kb * 1024))) {
        const div = document.createElement("div");
        const t0 = performance.now();
        div.append(md.render(src));
        out.push({ name, kb, ms: performance.now() - t0, em: div.querySelectorAll("em").length });
      }
    }
    return out;
  });
  report("markdown-timings", timings);
  for (const { name, kb, ms, em } of timings) {
    assert.ok(ms < 1500, `${kb} KB of ${JSON.stringify(name)} took ${ms.toFixed(0)} ms`);
    // Still rendered, not skipped: every `*a*` is an emphasis.
    if (name === "*a* **x ") assert.equal(em, (kb * 1024) / 8, `${kb} KB of ${name}`);
  }
  await context.close();
});

test("citations carried by a message are listed under the answer", async () => {
  const { context, page } = await newPage(browser);
  // The knowledge work adds citations; until the server sends them, the
  // stream is stubbed here (the conversation itself is real).
  const citations = [
    { index: 1, title: "Health Insurance Act", url: "https://www.riigiteataja.ee/akt/1", effective_date: "2026-01-01", snippet: "Coverage starts on the day of registration." },
    { index: 2, title: "Bad link", url: "javascript:alert(1)", snippet: "" },
  ];
  await page.route("**/api/conversations/*/messages", (route) => route.fulfill({
    status: 200,
    contentType: "text/event-stream",
    body: `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Coverage starts at registration [1]." } }] })}\n\n`
      + `data: ${JSON.stringify({ citations, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`,
  }));
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  const answer = await sendAndWait(page, "When does my health insurance start?");
  const sources = answer.locator(".citations");
  assert.match(await sources.textContent(), /Health Insurance Act/);
  assert.match(await sources.textContent(), /Coverage starts on the day of registration/);
  const links = await sources.locator("a").evaluateAll((as) => as.map((a) => [a.getAttribute("href"), a.rel]));
  assert.deepEqual(links, [["https://www.riigiteataja.ee/akt/1", "noopener noreferrer"]]);
  assert.equal(await sources.locator("time").getAttribute("datetime"), "2026-01-01");
  assert.deepEqual(await axe(page, "citations"), []);
  await context.close();
});

test("stop a stream, then regenerate and edit", async () => {
  const slow = await startSovra({ tokensPerSecond: 8 });
  try {
    const { context, page } = await newPage(browser);
    await page.goto(slow.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    await page.fill("#prompt", "Tell me a long story");
    await page.click("#send");
    await page.waitForSelector(".msg-assistant.streaming");
    await page.waitForFunction(() => (document.querySelector(".msg-assistant .text")?.textContent || "").length > 12);
    await page.click("#stop");
    await page.waitForSelector(".msg-assistant .note");
    assert.equal(await page.textContent(".msg-assistant .note"), "Stopped.");
    assert.equal(await page.isVisible("#stop"), false);
    const partial = await page.textContent(".msg-assistant .text");
    assert.ok(partial.length < 200, "stopped early");

    // The stopped answer was stored as far as it got; regenerate replaces it.
    const user = await userOf(page);
    const id = decodeURIComponent((await page.evaluate(() => location.hash)).slice(3));
    await page.waitForSelector(".msg-assistant .regenerate:not([disabled]):not([hidden])");
    await page.click(".msg-assistant .regenerate");
    await page.waitForSelector(".msg-assistant.streaming");
    await page.waitForFunction(() => !document.querySelector(".msg-assistant.streaming") && !document.querySelector("#stop:not([hidden])"), null, { timeout: 30_000 });
    assert.equal(await page.locator(".msg").count(), 2, "one question, one (new) answer");
    let stored = (await apiAs(slow.base, user, `/api/conversations/${id}`)).body.messages;
    assert.deepEqual(stored.map((m) => m.role), ["user", "assistant"]);
    assert.match(stored[1].content, /You said: Tell me a long story\./);

    // Edit the last question: it and its answer are replaced.
    await page.click(".msg-user .edit");
    assert.equal(await page.inputValue("#prompt"), "Tell me a long story");
    assert.equal(await page.isVisible("#editing"), true);
    await page.fill("#prompt", "Short one");
    await page.press("#prompt", "Enter");
    await page.waitForFunction(() => document.querySelectorAll(".msg-user").length === 1 && document.querySelector(".msg-user .text").textContent === "Short one");
    await page.waitForFunction(() => !document.querySelector(".msg-assistant.streaming") && !document.querySelector("#stop:not([hidden])"), null, { timeout: 30_000 });
    stored = (await apiAs(slow.base, user, `/api/conversations/${id}`)).body.messages;
    assert.deepEqual(stored.map((m) => m.content.slice(0, 20)), ["Short one", "You said: Short one."]);
    await context.close();
  } finally {
    await slow.stop();
  }
});

test("history survives a reload and a restart; search, rename, delete", async () => {
  const server = await startSovra({ tokensPerSecond: 0, ttftMs: 0 });
  let restarted;
  try {
    const { context, page } = await newPage(browser);
    await page.goto(server.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    await sendAndWait(page, "Where do I renew a passport");
    await page.click("#new-chat");
    await sendAndWait(page, "School holidays this year");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await page.waitForFunction(() => document.querySelectorAll(".conv-open").length === 2);

    // Search filters the list.
    await page.fill("#search", "passport");
    assert.equal(await page.locator(".conv-open").count(), 1);
    await page.fill("#search", "zzz");
    assert.equal(await page.textContent("#conv-msg"), "No conversation matches.");
    await page.fill("#search", "");

    // Restart the server on the same data dir (another port, the same
    // host): the browser's cookie still names its person; the history is there.
    assert.equal(await server.stop(), 0);
    restarted = await startSovra({ tokensPerSecond: 0, ttftMs: 0, dataDir: server.data });
    await page.goto(restarted.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    const user = await userOf(page);
    await page.waitForFunction(() => document.querySelectorAll(".conv-open").length === 2);
    await page.click(".conv-open >> text=Where do I renew a passport");
    await page.waitForSelector(".msg-assistant");
    assert.match(await page.textContent(".msg-assistant .text"), /You said: Where do I renew a passport\./);

    // Rename through the dialog.
    await page.click(".conv-rename >> nth=0");
    await page.fill("#ask-input", "Passport renewal");
    await page.press("#ask-input", "Enter");
    await page.waitForSelector(".conv-open >> text=Passport renewal");
    const list = (await apiAs(restarted.base, user, "/api/conversations")).body.data;
    assert.ok(list.some((c) => c.title === "Passport renewal"));

    // Delete (confirmed).
    page.once("dialog", (d) => d.accept());
    await page.click(".conv-delete >> nth=0");
    await page.waitForFunction(() => document.querySelectorAll(".conv-open").length === 1);
    assert.equal((await apiAs(restarted.base, user, "/api/conversations")).body.data.length, 1);
    await context.close();
  } finally {
    await restarted?.stop();
    await server.stop();
  }
});

test("feedback, then download and delete my data", async () => {
  const { context, page } = await newPage(browser);
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  const answer = await sendAndWait(page, "Is the clinic open on Sunday");
  const user = await userOf(page);

  await answer.locator(".thumb.up").click();
  await page.waitForFunction(() => document.querySelector(".thumb.up").getAttribute("aria-pressed") === "true");
  await answer.locator(".thumb.down").click();
  await page.fill("#ask-input", "The hours were wrong");
  await page.click("#ask-ok");
  await page.waitForFunction(() => document.querySelector(".thumb.down").getAttribute("aria-pressed") === "true");
  const stored = (await apiAs(sovra.base, user, "/api/conversations")).body.data;
  const messages = (await apiAs(sovra.base, user, `/api/conversations/${stored[0].id}`)).body.messages;
  const mine = async () =>
    (await apiAs(sovra.base, { key: KEY }, "/admin/feedback")).body.data.filter((f) => f.message_id === messages[1].id);
  // One rating per answer: the second click replaces the first.
  const feedback = await mine();
  assert.deepEqual(feedback.map((f) => [f.rating, f.reason]), [["down", "The hours were wrong"]]);

  // The privacy dialog: what is kept, then the data itself.
  await page.click("#privacy-open");
  assert.match(await page.textContent("#privacy-facts"), /encrypted/);
  assert.deepEqual(await axe(page, "privacy-dialog"), []);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-data")]);
  const exported = JSON.parse(await (await import("node:fs/promises")).readFile(await download.path(), "utf8"));
  assert.equal(exported.user, user.id);
  assert.equal(exported.conversations.length, 1);

  page.once("dialog", (d) => d.accept());
  await page.click("#delete-data");
  await page.waitForFunction(() => document.getElementById("privacy-msg").textContent.includes("deleted"));
  const after = (await apiAs(sovra.base, user, "/api/me/data")).body;
  assert.equal(after.conversations.length, 0, "nothing left in the export");
  assert.equal((await apiAs(sovra.base, user, "/api/conversations")).body.data.length, 0);
  assert.equal((await mine()).length, 0, "feedback erased too");
  await context.close();
});

test("a failed answer offers Retry, which resends without duplicating the question; copy", async () => {
  const failing = await startSovra({ tokensPerSecond: 0, ttftMs: 0, env: { SOVRA_ENGINE_SIM_FAIL_AFTER_TOKENS: "4" } });
  try {
    const { context, page } = await newPage(browser);
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: failing.base });
    await page.goto(failing.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    await page.fill("#prompt", "This answer will fail");
    await page.press("#prompt", "Enter");
    await page.waitForSelector(".msg-error .retry");
    assert.equal(await page.isVisible("#stop"), false);
    // The partial answer stays, with Copy.
    await page.click(".msg-assistant .copy");
    await page.waitForFunction(() => document.getElementById("status").textContent.includes("Copied"));
    assert.match(await page.evaluate(() => navigator.clipboard.readText()), /^You said/);
    await page.click(".msg-error .retry");
    await page.waitForSelector(".msg-error .retry");
    const user = await userOf(page);
    const id = decodeURIComponent((await page.evaluate(() => location.hash)).slice(3));
    const stored = (await apiAs(failing.base, user, `/api/conversations/${id}`)).body.messages;
    assert.equal(stored.filter((m) => m.role === "user").length, 1, "retry replaced the question, not added one");
    assert.equal(await page.locator(".msg-user").count(), 1);
    assert.equal(await page.locator(".msg-error").count(), 1);
    await context.close();
  } finally {
    await failing.stop();
  }
});

test("keyboard only: skip link, send with Enter, Escape stops, focus visible", async () => {
  const slow = await startSovra({ tokensPerSecond: 10 });
  try {
    const { context, page } = await newPage(browser);
    await page.goto(slow.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "skip");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(outline, "solid", "focus is visible");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "prompt");
    await page.keyboard.type("Keyboard question");
    await page.keyboard.press("Enter");
    await page.waitForSelector(".msg-assistant.streaming");
    await page.waitForFunction(() => (document.querySelector(".msg-assistant .text")?.textContent || "").length > 5);
    await page.keyboard.press("Escape");
    await page.waitForSelector(".msg-assistant .note");
    assert.equal(await page.evaluate(() => document.activeElement.id), "prompt");
    await context.close();
  } finally {
    await slow.stop();
  }
});

test("dark theme, 360 px phone, 200 % zoom, reduced motion", async () => {
  // Dark by system preference, desktop.
  {
    const { context, page } = await newPage(browser, { colorScheme: "dark" });
    await page.goto(sovra.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.getAttribute("#theme", "aria-pressed"), "true");
    await sendAndWait(page, "Dark mode question about **taxes**");
    assert.deepEqual(await axe(page, "chat-dark"), []);
    await screenshot(page, "chat-desktop-dark");
    // The toggle switches to light and remembers it.
    await page.click("#theme");
    assert.equal(await page.getAttribute("html", "data-theme"), "light");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    assert.equal(await page.getAttribute("html", "data-theme"), "light");
    await context.close();
  }
  // A 360 px phone, light and dark.
  for (const scheme of ["light", "dark"]) {
    const { context, page } = await newPage(browser, { width: 360, height: 740, colorScheme: scheme });
    await page.goto(sovra.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    await sendAndWait(page, "How do I register a newborn");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 360 px (${overflow})`);
    assert.equal(await page.isVisible("#sidebar"), false, "the sidebar folds away");
    assert.deepEqual(await axe(page, `phone-${scheme}`), []);
    await screenshot(page, `chat-phone-${scheme}`);
    await page.click("#menu");
    assert.equal(await page.isVisible("#sidebar"), true);
    assert.equal(await page.getAttribute("#menu", "aria-expanded"), "true");
    await page.keyboard.press("Escape");
    assert.equal(await page.isVisible("#sidebar"), false);
    await context.close();
  }
  // 200 % zoom of a 1280 px window: a 640 px viewport at twice the pixels.
  {
    const context = await browser.newContext({ viewport: { width: 640, height: 400 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    await page.goto(sovra.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 200 % (${overflow})`);
    assert.equal(await page.isVisible("#send"), true);
    await context.close();
  }
  // Reduced motion: the streaming cursor does not blink.
  {
    const { context, page } = await newPage(browser, { reducedMotion: "reduce" });
    await page.goto(sovra.base + "/");
    await page.waitForSelector("body[data-ready=true]");
    const animation = await page.evaluate(() => {
      const li = document.createElement("li");
      li.className = "msg streaming";
      li.innerHTML = '<div class="text">x</div>';
      document.getElementById("messages").append(li);
      return getComputedStyle(li.querySelector(".text"), "::after").animationName;
    });
    assert.equal(animation, "none");
    await context.close();
  }
});

test("screenshots are where the README links them", async () => {
  const { existsSync } = await import("node:fs");
  for (const name of ["chat-desktop-light", "chat-desktop-dark", "chat-phone-light", "chat-phone-dark"]) {
    assert.ok(existsSync(resolve(ROOT, `docs/screenshots/${name}.png`)), name);
  }
});

test("a greeting in every language is answered, not refused, with the classifier in force", async () => {
  const ready = await (await fetch(sovra.base + "/readyz")).json();
  assert.equal(ready.checks.safety_classifier, "ready");
  const { context, page, problems } = await newPage(browser);
  await page.goto(sovra.base + "/");
  await page.waitForSelector("body[data-ready=true]");
  const greetings = ["Hello", "Tere", "Привет", "Привіт", "Bonjour", "Hallo", "Ciao", "Hola", "Olá", "Hei", "Habari", "مرحبا", "Good morning", "Thanks!"];
  for (const text of greetings) {
    const answer = await sendAndWait(page, text);
    // The simulated model echoes the question: it ran, nothing refused it.
    assert.match(await answer.textContent(), new RegExp(`You said: ${text}`), `${text} was not answered`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});
