// Starts the real `sovra` binary (SOVRA_BIN, default target/debug/sovra) on a
// free port with its own data dir, waits for /readyz, and hands back an
// official OpenAI Node SDK client pointed at it.

import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import OpenAI from "openai";

const here = fileURLToPath(new URL(".", import.meta.url));
export const BIN = process.env.SOVRA_BIN ?? resolve(here, "../../../target/debug/sovra");

/** The simulated engine with no delays: exact, fast. */
export const FAST_SIM = {
  args: ["--engine", "sim"],
  env: { SOVRA_ENGINE_SIM_TTFT_MS: "0", SOVRA_ENGINE_SIM_TOKENS_PER_SECOND: "0" },
};

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

/** `sovra serve` with `args` and extra `env`; resolves once /readyz says ready. */
export async function start({ args = [], env = {} } = {}, clientOptions = {}) {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), "sovra-node-"));
  const logPath = join(data, "sovra.log");
  const log = openSync(logPath, "w");
  const environment = { ...process.env, ...env };
  delete environment.SOVRA_CONFIG;
  const proc = spawn(BIN, ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", data, ...args], {
    stdio: ["ignore", log, log],
    env: environment,
  });
  let exited = null;
  proc.on("exit", (code, signal) => (exited = { code, signal }));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) {
      throw new Error(`sovra exited (${JSON.stringify(exited)}):\n${readFileSync(logPath, "utf8").slice(-3000)}`);
    }
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
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "not-needed-yet", maxRetries: 0, ...clientOptions });
  return {
    base,
    client,
    /** SIGTERM, and the exit code (0 after a graceful shutdown). */
    async stop() {
      if (exited) return exited.code;
      const done = new Promise((ok) => proc.on("exit", (code) => ok(code)));
      proc.kill("SIGTERM");
      return done;
    },
  };
}
