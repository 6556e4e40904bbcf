"""Schemathesis hooks for Sovra's fuzz (loaded through SCHEMATHESIS_HOOKS=hooks).

Generated `model` names almost never name a served model, so nearly every
request would stop at the 404 and the fuzz would never reach the parameter
checks, the engine or the stream. Most bodies therefore get a served model
(chosen by the operation); the rest keep the generated name, so the 404
path stays covered.
"""

import os

import schemathesis

CHAT_MODEL = os.environ.get("SOVRA_FUZZ_CHAT_MODEL", "sim")
EMBEDDING_MODEL = os.environ.get("SOVRA_FUZZ_EMBEDDING_MODEL", "multilingual-e5-small")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    # `before_call`, not `map_body`: it sees the cases of every phase (the
    # coverage phase does not go through `map_body`).
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("model"), str) and len(body["model"]) % 4 != 3:
        body["model"] = EMBEDDING_MODEL if case.operation.path == "/v1/embeddings" else CHAT_MODEL
