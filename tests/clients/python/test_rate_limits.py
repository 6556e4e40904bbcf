"""RateLimitError as the SDK raises it: a tenant over its share of the fleet's admission queue.

A fleet of one simulated node that takes one stream at a time; a tenant may
hold a quarter of the 4-deep queue. With the node busy and one request of
the tenant waiting, its next request gets a 429 with `retry-after`, which
the SDK maps to `openai.RateLimitError`; another tenant still gets in line.
A tenant is a real one (made with the operator's key), and its client
carries a key of that tenant: the queue's share is the caller's tenant, never
a header's.
"""

import os
import subprocess
import tempfile
import threading
import time
import urllib.request

import openai

from test_openai_sdk import BIN, admin_post, free_port, start, stop

OPERATOR = "sk-sovra-python-limits-operator-0123456789"


def sim_node(port):
    log = open(os.path.join(tempfile.mkdtemp(prefix="sovra-sim-"), "sim.log"), "w")
    proc = subprocess.Popen(
        [BIN, "sim-node", "--listen", f"127.0.0.1:{port}", "--model", "sim",
         "--tokens-per-second", "5", "--answer-tokens", "60"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except Exception:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sim-node did not become ready")


def test_a_tenant_over_its_share_gets_rate_limit_error():
    port = free_port()
    node = sim_node(port)
    backend = f'[{{name="node-1",url="http://127.0.0.1:{port}/v1",models=["sim"],jurisdiction="EE",site="tallinn-1",max_concurrency=1}}]'
    proc, base = start([], {
        "SOVRA_SOVEREIGNTY_ALLOWED_JURISDICTIONS": '["EE"]',
        "SOVRA_BACKENDS": backend,
        "SOVRA_ROUTER_QUEUE_DEPTH": "4",
        "SOVRA_ROUTER_TENANT_QUEUE_PERCENT": "25",
        "SOVRA_AUTH_API_KEYS": f'["{OPERATOR}"]',
    })
    try:
        keys = {}
        for tenant in ["startup-a", "ministry"]:
            admin_post(base, OPERATOR, "/admin/tenants", {"path": tenant, "kind": "startup"})
            keys[tenant] = admin_post(base, OPERATOR, "/admin/keys", {"name": tenant, "tenant": tenant, "service": True})["secret"]

        def client(tenant):
            return openai.OpenAI(base_url=base + "/v1", api_key=keys[tenant], max_retries=0)
        startup = client("startup-a")
        messages = [{"role": "user", "content": "hello"}]
        busy = startup.chat.completions.create(model="sim", messages=messages, stream=True)
        next(iter(busy))  # the node's only slot is now taken
        waiting = threading.Thread(
            target=lambda: startup.chat.completions.create(model="sim", messages=messages, max_tokens=2))
        waiting.start()
        time.sleep(0.5)  # the tenant's one queue place is now taken
        try:
            startup.chat.completions.create(model="sim", messages=messages, max_tokens=2)
            raise AssertionError("expected a 429")
        except openai.RateLimitError as e:
            assert e.status_code == 429
            assert int(e.response.headers["retry-after"]) >= 1
            assert e.body["type"] == "rate_limit_error"
        # Another tenant is not starved by the first one's backlog.
        other = threading.Thread(
            target=lambda: client("ministry").chat.completions.create(model="sim", messages=messages, max_tokens=2))
        other.start()
        busy.close()
        waiting.join(timeout=60)
        other.join(timeout=60)
        assert not waiting.is_alive() and not other.is_alive()
    finally:
        stop(proc)
        node.terminate()
        node.wait(timeout=30)
