"""The official `openai` Python SDK as Sovra's client: models, chat, streaming, errors, embeddings.

Also the legacy completions API, refused parameters and a failure mid-stream.

Starts the real `sovra` binary (SOVRA_BIN, default target/debug/sovra) on a
free port; once with the simulated engine (exact, fast), once with the
embedded default model.
"""

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import openai
import pytest

BIN = os.environ.get("SOVRA_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "..", "target", "debug", "sovra"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, env=None):
    port = free_port()
    data = tempfile.mkdtemp(prefix="sovra-py-")
    log = open(os.path.join(data, "sovra.log"), "w")
    proc = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sovra exited: {open(log.name).read()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc, base
        except Exception:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sovra did not become ready")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def admin_post(base, key, path, body):
    """POST JSON to Sovra's admin API with `key`; the JSON answer."""
    import json
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def member_key(base, admin_key, name, tenant="public"):
    """A member of `tenant` named `name` (made with `admin_key`), and a key acting as them."""
    user = admin_post(base, admin_key, "/admin/users", {"name": f"{name}@{tenant}.test", "tenant": tenant, "role": "member"})
    return admin_post(base, admin_key, "/admin/keys", {"name": name, "user": user["id"]})["secret"]


@pytest.fixture(scope="module")
def sim():
    proc, base = start(["--engine", "sim"], {"SOVRA_ENGINE_SIM_TTFT_MS": "0", "SOVRA_ENGINE_SIM_TOKENS_PER_SECOND": "0"})
    yield openai.OpenAI(base_url=base + "/v1", api_key="not-needed-yet")
    stop(proc)


@pytest.fixture(scope="module")
def embedded():
    proc, base = start(["--threads", "2", "--parallel", "2", "--context", "1024"])
    yield openai.OpenAI(base_url=base + "/v1", api_key="not-needed-yet")
    stop(proc)


def test_models_list(sim):
    models = sim.models.list()
    assert [m.id for m in models.data] == ["sim"]
    assert sim.models.retrieve("sim").owned_by == "sovra"


def test_chat_non_streaming(sim):
    r = sim.chat.completions.create(
        model="sim",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello sdk"}],
    )
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content.startswith("You said: hello sdk.")
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming_with_usage(sim):
    plain = sim.chat.completions.create(model="sim", messages=[{"role": "user", "content": "stream sdk"}])
    stream = sim.chat.completions.create(
        model="sim",
        messages=[{"role": "user", "content": "stream sdk"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert text == plain.choices[0].message.content
    assert finish == "stop"
    assert usage.completion_tokens == plain.usage.completion_tokens


def test_errors_map_to_sdk_exceptions(sim):
    with pytest.raises(openai.NotFoundError) as e:
        sim.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        sim.chat.completions.create(model="sim", n=2, messages=[{"role": "user", "content": "x"}])
    assert e.value.param == "n"


def test_embedded_model_streams_through_sdk(embedded):
    model = embedded.models.list().data[0].id
    stream = embedded.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=40,
        stream=True,
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len(pieces) > 3
    assert "Paris" in "".join(pieces)


def test_moderations_pass_the_sdks_strict_validation(embedded):
    # As served (embedded model, embeddings, the in-country classifier), with
    # the SDK validating every field of its Moderation type: a missing
    # category_applied_input_types made it reject the whole response.
    strict = openai.OpenAI(base_url=str(embedded.base_url), api_key="not-needed-yet", _strict_response_validation=True)
    everyday = ["Hello", "Good morning", "Thanks!", "ok", "Bonjour", "Tere", "مرحبا"]
    r = strict.moderations.create(model="omni-moderation-latest", input=everyday + ["I will find you and kill you."])
    assert r.model == "omni-moderation-latest" and r.id.startswith("modr")
    assert len(r.results) == len(everyday) + 1
    for text, result in zip(everyday, r.results):
        assert not result.flagged, (text, result.category_scores)
        assert result.category_applied_input_types.harassment == ["text"]
        assert result.category_applied_input_types.self_harm_intent == ["text"]
        assert 0 <= result.category_scores.harassment < 0.5, text
    threat = r.results[-1]
    assert threat.flagged and threat.categories.violence
    single = strict.moderations.create(input="How do I renew my passport?")
    assert single.model == "sovra-guard" and not single.results[0].flagged


def test_embeddings_through_sdk(embedded):
    # Served by default beside the chat model; the SDK asks for base64 and decodes it.
    assert "multilingual-e5-small" in [m.id for m in embedded.models.list().data]
    texts = ["Where can I renew my passport?", "Où puis-je renouveler mon passeport ?", "When is the income tax deadline?"]
    r = embedded.embeddings.create(model="multilingual-e5-small", input=texts)
    assert r.object == "list" and r.model == "multilingual-e5-small"
    assert [d.index for d in r.data] == [0, 1, 2]
    vectors = [d.embedding for d in r.data]
    assert all(len(v) == 384 for v in vectors)
    assert all(abs(sum(x * x for x in v) - 1) < 1e-3 for v in vectors)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2])
    assert r.usage.prompt_tokens == r.usage.total_tokens > 10

    floats = embedded.embeddings.create(model="multilingual-e5-small", input=texts[0], encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)
    tokens = embedded.embeddings.create(model="multilingual-e5-small", input=[[6661, 12], [35378]])
    assert len(tokens.data) == 2

    with pytest.raises(openai.BadRequestError) as e:
        embedded.embeddings.create(model="multilingual-e5-small", input="x", dimensions=128)
    assert e.value.param == "dimensions"
    with pytest.raises(openai.NotFoundError):
        embedded.embeddings.create(model="text-embedding-3-small", input="x")


@pytest.fixture(scope="module")
def failing():
    """A simulated engine that fails every stream after three tokens."""
    proc, base = start(
        ["--engine", "sim"],
        {
            "SOVRA_ENGINE_SIM_TTFT_MS": "0",
            "SOVRA_ENGINE_SIM_TOKENS_PER_SECOND": "0",
            "SOVRA_ENGINE_SIM_FAIL_AFTER_TOKENS": "3",
        },
    )
    yield openai.OpenAI(base_url=base + "/v1", api_key="not-needed-yet", max_retries=0)
    stop(proc)


def test_legacy_completion(sim):
    r = sim.completions.create(model="sim", prompt="Once upon a time", max_tokens=8, echo=True)
    assert r.object == "text_completion"
    assert r.id.startswith("cmpl-")
    assert r.system_fingerprint.startswith("fp_")
    assert r.choices[0].text.startswith("Once upon a timeYou said:")
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + 8


def test_legacy_completion_streaming(sim):
    plain = sim.completions.create(model="sim", prompt="stream sdk", max_tokens=10)
    stream = sim.completions.create(
        model="sim", prompt="stream sdk", max_tokens=10, stream=True, stream_options={"include_usage": True}
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        assert chunk.object == "text_completion"
        if chunk.choices:
            text += chunk.choices[0].text
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert text == plain.choices[0].text
    assert finish == "length"
    assert usage.completion_tokens == plain.usage.completion_tokens


def test_chat_parameters_through_sdk(sim):
    r = sim.chat.completions.create(
        model="sim",
        messages=[{"role": "user", "content": "params"}],
        max_completion_tokens=20,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        logit_bias={"42": -100},
        user="someone",
        seed=1,
        response_format={"type": "text"},
    )
    assert r.choices[0].message.content
    assert r.system_fingerprint.startswith("fp_")


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "messages"),
        ({"tools": []}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"}, "tool_choice"),
        ({"max_tokens": 5, "max_completion_tokens": 5}, "max_tokens"),
    ],
)
def test_refused_chat_parameters_raise_bad_request(sim, kwargs, param):
    with pytest.raises(openai.BadRequestError) as e:
        sim.chat.completions.create(model="sim", messages=[{"role": "user", "content": "x"}], **kwargs)
    assert e.value.param == param


def test_legacy_refusals_raise_bad_request(sim):
    with pytest.raises(openai.BadRequestError) as e:
        sim.completions.create(model="sim", prompt="x", suffix="end")
    assert e.value.param == "suffix"
    with pytest.raises(openai.BadRequestError) as e:
        sim.completions.create(model="sim", prompt=["a", "b"])
    assert e.value.param == "prompt"
    with pytest.raises(openai.NotFoundError):
        sim.completions.create(model="davinci-002", prompt="x")


def test_failure_mid_stream_raises_api_error(failing):
    stream = failing.chat.completions.create(model="sim", messages=[{"role": "user", "content": "x"}], stream=True)
    received = []
    with pytest.raises(openai.APIError) as e:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "simulated failure" in str(e.value)
    assert "".join(received).startswith("You said:")
    with pytest.raises(openai.InternalServerError):
        failing.completions.create(model="sim", prompt="x")


def test_a_missing_or_wrong_key_raises_authentication_error():
    key = "sk-sovra-python-0123456789abcdef"
    proc, base = start(["--engine", "sim"], {"SOVRA_AUTH_API_KEYS": f'["{key}"]'})
    try:
        wrong = openai.OpenAI(base_url=base + "/v1", api_key="sk-sovra-wrong-0123456789", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as e:
            wrong.models.list()
        assert e.value.status_code == 401
        assert e.value.code == "invalid_api_key"
        right = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
        assert [m.id for m in right.models.list().data] == ["sim"]
    finally:
        stop(proc)
