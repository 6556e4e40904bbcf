"""The official `openai` Python SDK's Files and vector-stores calls against Sovra.

Upload a document with `client.files.create(file=..., purpose="assistants")`,
attach it with `client.vector_stores.files.create(vector_store_id, file_id=...)`,
search it, and delete both; the file belongs to its uploader (each user a
member of the public tenant with a key of their own, made with the
operator's key). Starts the real `sovra` binary with the simulated chat
engine and the embedded multilingual-e5-small (model cache, or
SOVRA_TEST_EMBEDDING_MODEL).
"""

import io
import os
import urllib.request

import openai
import pytest

from test_openai_sdk import member_key, start, stop

PASSPORT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "eval", "knowledge", "corpus", "en", "passport-renewal.md")


OPERATOR = "sk-sovra-python-files-operator-0123456789"
KEYS = {}


@pytest.fixture(scope="module")
def server():
    env = {"SOVRA_EMBEDDINGS_ENABLED": "true", "SOVRA_AUTH_API_KEYS": f'["{OPERATOR}"]'}
    if os.environ.get("SOVRA_TEST_EMBEDDING_MODEL"):
        env["SOVRA_EMBEDDINGS_MODEL"] = os.environ["SOVRA_TEST_EMBEDDING_MODEL"]
    proc, base = start(["--engine", "sim"], env)
    yield base
    stop(proc)


def key(base, user):
    if user not in KEYS:
        KEYS[user] = member_key(base, OPERATOR, user)
    return KEYS[user]


def client(base, user):
    return openai.OpenAI(base_url=base + "/v1", api_key=key(base, user))


def test_files_and_vector_store_round_trip(server):
    alice = client(server, "alice")
    with open(PASSPORT, "rb") as f:
        uploaded = alice.files.create(file=("passport.md", f), purpose="assistants")
    assert uploaded.object == "file"
    assert uploaded.id.startswith("file-")
    assert uploaded.filename == "passport.md"
    assert uploaded.purpose == "assistants"
    assert uploaded.bytes == os.path.getsize(PASSPORT)
    assert alice.files.retrieve(uploaded.id).filename == "passport.md"
    assert [f.id for f in alice.files.list().data] == [uploaded.id]

    # Someone else neither sees nor reads it.
    bob = client(server, "bob")
    assert bob.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(uploaded.id)

    store = alice.vector_stores.create(name="my documents")
    attached = alice.vector_stores.files.create(vector_store_id=store.id, file_id=uploaded.id)
    assert attached.object == "vector_store.file"
    assert attached.id == uploaded.id
    assert attached.vector_store_id == store.id
    assert attached.status == "completed"
    listed = alice.vector_stores.files.list(vector_store_id=store.id)
    assert [f.id for f in listed.data] == [uploaded.id]
    results = alice.vector_stores.search(vector_store_id=store.id, query="express passport service fee")
    assert results.data, "the attached file is searchable"
    assert results.data[0].file_id == uploaded.id
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.files.create(vector_store_id=store.id, file_id=uploaded.id)

    deleted = alice.files.delete(uploaded.id)
    assert deleted.deleted is True and deleted.id == uploaded.id
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(uploaded.id)
    alice.vector_stores.delete(store.id)


def test_upload_errors_are_openai_shaped(server):
    alice = client(server, "alice-errors")
    with pytest.raises(openai.BadRequestError) as e:
        alice.files.create(file=("notes.md", io.BytesIO(b"# hi")), purpose="not-a-purpose")
    assert e.value.body["param"] == "purpose"
    # An unknown format is accepted as a file but cannot be attached.
    odd = alice.files.create(file=("table.xyz", io.BytesIO(b"a,b")), purpose="assistants")
    store = alice.vector_stores.create(name="errors")
    with pytest.raises(openai.BadRequestError) as e:
        alice.vector_stores.files.create(vector_store_id=store.id, file_id=odd.id)
    assert e.value.body["param"] == "file"


def test_erasure_takes_the_files(server):
    carol = client(server, "carol")
    f = carol.files.create(file=("note.txt", io.BytesIO(b"my private note about a tax refund")), purpose="user_data")
    req = urllib.request.Request(server + "/api/me/data", method="DELETE", headers={"Authorization": f"Bearer {key(server, 'carol')}"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    with pytest.raises(openai.NotFoundError):
        carol.files.retrieve(f.id)
    assert carol.files.list().data == []


def test_files_list_pages_through_everything(server):
    """`client.files.list(limit=2)` pages with `after` until `has_more` is false."""
    frank = client(server, "frank-pages")
    made = [
        frank.files.create(file=(f"note-{i}.txt", io.BytesIO(b"a note")), purpose="user_data" if i == 3 else "assistants").id
        for i in range(5)
    ]
    first = frank.files.list(limit=2)
    assert len(first.data) == 2 and first.has_more is True
    newest_first = [f.id for f in frank.files.list(limit=2)]  # auto-paging: three requests
    assert sorted(newest_first) == sorted(made) and len(newest_first) == 5
    assert [f.id for f in frank.files.list()] == newest_first
    oldest_first = [f.id for f in frank.files.list(limit=2, order="asc")]
    assert oldest_first == newest_first[::-1]
    pages = list(frank.files.list(limit=2, order="asc").iter_pages())
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [f.id for f in frank.files.list(purpose="user_data")] == [made[3]]
    with pytest.raises(openai.BadRequestError) as e:
        frank.files.list(limit=0)
    assert e.value.body["param"] == "limit"
    with pytest.raises(openai.BadRequestError) as e:
        frank.files.list(after="file-not-mine")
    assert e.value.body["param"] == "after"
