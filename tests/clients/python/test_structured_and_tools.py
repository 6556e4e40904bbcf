"""Structured output, function calling and log-probabilities through the official SDK.

Against the real embedded default model: the SDK's typed parsing
(`client.beta.chat.completions.parse` with a Pydantic model), tool calls
returned whole and streamed as deltas the SDK's stream helper assembles,
and `logprobs` / `top_logprobs`.
"""

import json
from typing import List, Literal

import openai
import pydantic
import pytest

from test_openai_sdk import start, stop


@pytest.fixture(scope="module")
def embedded():
    proc, base = start(
        ["--threads", "2", "--parallel", "2", "--context", "1024"],
        {"SOVRA_EMBEDDINGS_ENABLED": "false"},
    )
    client = openai.OpenAI(base_url=base + "/v1", api_key="not-needed-yet")
    client.model_id = client.models.list().data[0].id
    yield client
    stop(proc)


class City(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=40)
    country: str = pydantic.Field(max_length=40)
    population: int
    size: Literal["small", "medium", "large"]
    landmarks: List[str] = pydantic.Field(max_length=3)


def test_parse_into_a_typed_object(embedded):
    completion = embedded.beta.chat.completions.parse(
        model=embedded.model_id,
        messages=[{"role": "user", "content": "Describe Paris as a city record."}],
        response_format=City,
        max_completion_tokens=300,
        temperature=0,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop", choice
    city = choice.message.parsed
    assert isinstance(city, City)
    assert city.size in ("small", "medium", "large")
    assert len(city.landmarks) <= 3


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def test_required_tool_call_returns_tool_calls(embedded):
    r = embedded.chat.completions.create(
        model=embedded.model_id,
        messages=[{"role": "user", "content": "What is the weather in Tallinn?"}],
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        max_completion_tokens=120,
        temperature=0,
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert set(args) == {"city", "unit"} and args["unit"] in ("celsius", "fahrenheit")


def test_streamed_tool_call_deltas_assemble(embedded):
    with embedded.beta.chat.completions.stream(
        model=embedded.model_id,
        messages=[{"role": "user", "content": "Weather in Riga, please."}],
        tools=[openai.pydantic_function_tool(Weather)],
        tool_choice={"type": "function", "function": {"name": "Weather"}},
        max_completion_tokens=120,
        temperature=0,
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    # A forced named function ends with "stop", as on OpenAI.
    assert choice.finish_reason == "stop"
    [call] = choice.message.tool_calls
    assert call.function.name == "Weather"
    assert isinstance(call.function.parsed_arguments, Weather)


class Weather(pydantic.BaseModel):
    city: str = pydantic.Field(max_length=40)
    unit: Literal["celsius", "fahrenheit"]


def test_logprobs_and_top_logprobs(embedded):
    r = embedded.chat.completions.create(
        model=embedded.model_id,
        messages=[{"role": "user", "content": "Say hello."}],
        max_completion_tokens=10,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    choice = r.choices[0]
    entries = choice.logprobs.content
    assert len(entries) == r.usage.completion_tokens
    assert "".join(e.token for e in entries) == choice.message.content
    for e in entries:
        assert e.logprob <= 0
        assert len(e.top_logprobs) == 3
        tops = [t.logprob for t in e.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        # Greedy decoding picks the likeliest token.
        assert e.token == e.top_logprobs[0].token
        assert bytes(e.bytes).decode("utf-8", "replace") == e.token
