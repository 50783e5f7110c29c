"""Sign-in: who owns a session's workspace, and that signed-in users stay private.

AppTest cannot run a real OIDC flow, so these tests seed ``at.secrets`` with an
``[auth]`` section and ``at.user`` with the claims a provider would return.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path

import polars as pl
import pytest
from conftest import app_path
from streamlit.testing.v1 import AppTest

from crm_core.dataset import Dataset
from crm_core.ingest import IngestReport
from crm_core.notes import NotesStore
from crm_core.workspace import UnknownDataset, Workspace
from ui.auth import LOCAL_OWNER, RESERVED_OWNERS, owner_folder, owner_for

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "a-long-random-test-secret-of-32-chars+",
    "client_id": "crm-test",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
}
ALICE = {"is_logged_in": True, "email": "Alice@Example.com", "email_verified": True, "name": "Alice", "sub": "1", "iss": "https://id.example.com"}
BOB = {"is_logged_in": True, "email": "bob@example.com", "email_verified": "true", "name": "Bob", "sub": "2",
       "iss": "https://id.example.com"}  # some providers send the flag as a string


def _save(owner: str, name: str) -> str:
    tx = pl.DataFrame({"customer_id": ["A", "B"], "order_date": [dt.date(2024, 1, 2), dt.date(2024, 2, 3)], "amount": [10.0, 20.0]})
    workspace = Workspace(Path(os.environ["CRM_WORKSPACE"]), owner=owner)
    return workspace.save(name, b"raw", "orders.csv", Dataset(transactions=tx.lazy()), IngestReport(rows_read=2, rows_valid=2))


def _app(user: dict | None = None, auth: bool = True) -> AppTest:
    at = AppTest.from_file(app_path(), default_timeout=120)
    if auth:
        at.secrets = {"auth": AUTH}
    if user is not None:
        at.user = user
    return at


# --- owner resolution (pure) -------------------------------------------------------------


def test_without_sign_in_everyone_is_local():
    assert owner_for({}, sign_in_on=False) == LOCAL_OWNER
    assert owner_for(ALICE, sign_in_on=False) == LOCAL_OWNER


def test_signed_in_owner_is_the_verified_email_lower_cased():
    assert owner_for(ALICE, sign_in_on=True) == "alice@example.com"
    assert owner_for(BOB, sign_in_on=True) == "bob@example.com"


def test_an_email_is_an_identity_only_when_verified():
    subject = "sub:https://id.example.com|1"
    for flag in (False, "false", None, 1, "yes"):
        claims = {**ALICE, "email_verified": flag}
        assert owner_for(claims, sign_in_on=True) == subject, flag
    missing = {k: v for k, v in ALICE.items() if k != "email_verified"}
    assert owner_for(missing, sign_in_on=True) == subject  # e.g. a provider that never sends the flag
    assert owner_for({"is_logged_in": True, "email": "alice@example.com"}, sign_in_on=True) is None  # nothing certain


@pytest.mark.parametrize("name", ["LOCAL", "local", " Local ", "admin", "SYSTEM", "root", "", "sub:https://id.example.com|1"])
def test_reserved_names_cannot_be_claimed(name):
    claims = {"is_logged_in": True, "email": name, "email_verified": True, "sub": "7", "iss": "https://evil.example"}
    owner = owner_for(claims, sign_in_on=True)
    assert owner == "sub:https://evil.example|7"  # their own private space, never the reserved one
    assert owner.lower() not in RESERVED_OWNERS and owner != LOCAL_OWNER
    assert owner_for({**claims, "sub": ""}, sign_in_on=True) is None


def test_subjects_of_different_issuers_never_meet():
    one = owner_for({"is_logged_in": True, "sub": "42", "iss": "https://a.example"}, sign_in_on=True)
    other = owner_for({"is_logged_in": True, "sub": "42", "iss": "https://b.example"}, sign_in_on=True)
    assert one != other and one.startswith("sub:") and other.startswith("sub:")


def test_nobody_signed_in_has_no_owner():
    assert owner_for({}, sign_in_on=True) is None
    assert owner_for({"is_logged_in": False, "email": "x@y.z"}, sign_in_on=True) is None


def test_unverified_email_or_sub_claim_uses_the_subject():
    unverified = {**ALICE, "email_verified": False}
    assert owner_for(unverified, sign_in_on=True) == "sub:https://id.example.com|1"
    assert owner_for(ALICE, sign_in_on=True, claim="sub") == "sub:https://id.example.com|1"
    assert owner_for({"is_logged_in": True}, sign_in_on=True) is None


def test_owner_folders_are_private_and_hide_the_address(tmp_path):
    alice, bob = owner_folder(tmp_path, "alice@example.com"), owner_folder(tmp_path, "bob@example.com")
    assert alice != bob and alice.is_dir() and "@" not in str(alice) and alice.parent == tmp_path / "users"
    assert owner_folder(tmp_path, LOCAL_OWNER) == tmp_path  # single-user installs keep their files
    NotesStore(alice).save_view("Mine", "overview", "period=2024-01-01")
    assert NotesStore(bob).list_views().height == 0 and NotesStore(alice).list_views().height == 1


def test_workspace_of_one_signed_in_user_is_invisible_to_another(tmp_path):
    root = Path(os.environ["CRM_WORKSPACE"])
    alice_id = _save(owner_for(ALICE, True), "Alice orders")
    bob = Workspace(root, owner=owner_for(BOB, True))
    assert bob.list_datasets() == []
    for attempt in (bob.load, bob.delete, bob.report, bob.get):
        with pytest.raises(UnknownDataset):
            attempt(alice_id)
    assert [entry.id for entry in Workspace(root, owner="alice@example.com").list_datasets()] == [alice_id]


# --- the app -------------------------------------------------------------------------------


def test_sign_in_screen_until_signed_in():
    at = _app({"is_logged_in": False}).run()
    assert not at.exception
    assert [button.label for button in at.button] == ["Sign in"]
    assert not at.metric  # no page ran
    assert any("private to you" in block.value for block in at.markdown)


def test_named_providers_get_one_button_each():
    at = AppTest.from_file(app_path(), default_timeout=120)
    at.secrets = {"auth": {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"],
                           "google": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
                           "microsoft": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}}}
    at.user = {"is_logged_in": False}
    at.run()
    assert [button.label for button in at.button] == ["Sign in with Google", "Sign in with Microsoft"]


def test_signed_in_user_sees_only_their_datasets():
    alice_id = _save("alice@example.com", "Alice orders")
    bob_id = _save("bob@example.com", "Bob orders")
    _save(LOCAL_OWNER, "Local orders")
    at = _app(ALICE).run()
    assert not at.exception
    picker = at.selectbox(key="ds")
    assert picker.options == ["Demo portfolio", "Alice orders"]
    assert "Alice" in [text.value for text in at.sidebar.text] and at.sidebar.button(key="sign_out")
    picker.set_value(alice_id).run()  # loads Alice's dataset into the shared cache
    assert not at.exception and at.session_state["ds"] == alice_id

    # Bob pasting Alice's id into the URL gets the demo, not Alice's (cached) data.
    bob = _app(BOB)
    bob.query_params["ds"] = alice_id
    bob.run()
    assert not bob.exception
    assert bob.selectbox(key="ds").value == "demo" and bob.selectbox(key="ds").options == ["Demo portfolio", "Bob orders"]
    bob.selectbox(key="ds").set_value(bob_id).run()
    assert not bob.exception and bob.session_state["ds"] == bob_id


def test_saved_datasets_tab_lists_only_the_signed_in_users():
    _save("alice@example.com", "Alice orders")
    _save("bob@example.com", "Bob orders")
    at = _app(BOB).run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception
    names = [frame.value["name"].to_list() for frame in at.dataframe if "name" in frame.value.columns]
    assert names == [["Bob orders"]]


def test_without_auth_the_local_owner_sees_local_datasets_only():
    _save(LOCAL_OWNER, "Local orders")
    _save("alice@example.com", "Alice orders")
    at = _app(auth=False).run()
    assert not at.exception
    assert at.selectbox(key="ds").options == ["Demo portfolio", "Local orders"]
    assert not at.sidebar.button  # no sign-out without sign-in


def test_required_sign_in_without_provider_refuses_to_run(monkeypatch):
    monkeypatch.setenv("CRM_REQUIRE_SIGN_IN", "1")
    at = _app(auth=False).run()
    assert any("CRM_REQUIRE_SIGN_IN" in error.value for error in at.error)
    assert not at.metric


# --- failures show a plain message in production --------------------------------------------


def _failing_app() -> None:
    import streamlit as st

    from ui.errors import run_page

    class Broken:
        url_path = "broken"

        def run(self) -> None:
            raise ValueError("secret customer jane@example.com")

    st.set_option("client.showErrorDetails", st.session_state.get("mode", "none"))
    run_page(Broken())


def test_production_failure_is_a_plain_message_with_an_incident_number():
    from crm_core.logging_setup import configure_logging

    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        at = AppTest.from_function(_failing_app).run()
    finally:
        configure_logging(stream=io.StringIO())
    assert not at.exception
    (message,) = [error.value for error in at.error]
    assert "incident" in message and "jane" not in message and "Traceback" not in message
    logged = json.loads(stream.getvalue().splitlines()[-1])
    assert logged["event"] == "page_failed" and logged["error_type"] == "ValueError" and logged["incident"] in message
    assert "jane" not in stream.getvalue()


def test_development_failure_still_raises_for_tests():
    at = AppTest.from_function(_failing_app)
    at.session_state["mode"] = "full"
    at.run()
    assert at.exception and not at.error


def _version_app() -> None:
    import streamlit as st

    from ui.data import dataset_version

    st.text(dataset_version(st.session_state["dataset"]))


def test_cache_keys_of_workspace_datasets_name_the_owner():
    dataset_id = _save("alice@example.com", "Alice orders")
    versions = {}
    for name, user in (("alice", ALICE), ("bob", BOB)):
        at = AppTest.from_function(_version_app)
        at.secrets, at.user = {"auth": AUTH}, user
        at.session_state["dataset"] = dataset_id
        versions[name] = at.run().text[0].value
    assert versions["alice"] != versions["bob"] and versions["alice"].endswith("owner:alice@example.com")
    demo = AppTest.from_function(_version_app)
    demo.session_state["dataset"] = "demo"
    assert "owner" not in demo.run().text[0].value  # the demo is cached once for everyone
