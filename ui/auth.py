"""Sign-in glue: optional OIDC sign-in (``st.login``) and whose workspace a session sees.

Without an ``[auth]`` section in ``.streamlit/secrets.toml`` the app is
single-user: every session is the owner ``"local"`` (do not expose such an
instance to a network). With it, every page requires sign-in and the owner is
the signed-in user, so uploads, saved views and notes are private: the
workspace filters every query on the owner.

The owner is resolved by the pure function :func:`owner_for` (tested without
a real identity provider); everything else here is thin Streamlit glue.

Environment:

- ``CRM_REQUIRE_SIGN_IN=1``: refuse to run without an ``[auth]`` section
  (a team server can't silently come up open).
- ``CRM_OWNER_CLAIM``: ``email`` (default; used only when the provider marks
  it ``email_verified``, else the subject is used) or ``sub`` (always the
  provider's stable subject id, qualified by its issuer).

Identity rules: an e-mail becomes the owner only with ``email_verified`` true;
otherwise the owner is ``sub:<issuer>|<subject>``. Reserved names (the
single-user owner ``local``, ``admin``, ``system``, ``root``, empty...) can
never be an owner from sign-in, whatever their case.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

LOCAL_OWNER = "local"
REQUIRE_ENV = "CRM_REQUIRE_SIGN_IN"
OWNER_CLAIM_ENV = "CRM_OWNER_CLAIM"
USERS_FOLDER = "users"
#: Owner names no sign-in can claim (compared lower-cased): the open single-user workspace and
#: names an operator could mistake for a service account.
RESERVED_OWNERS = frozenset({LOCAL_OWNER, "admin", "administrator", "root", "system", "anonymous", "nobody", ""})
SUBJECT_PREFIX = "sub:"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _auth_section() -> Mapping[str, Any] | None:
    """The ``[auth]`` secrets section, or None (no secrets file, or no section)."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets.toml at all
        return None
    return section if isinstance(section, Mapping) and section else None


def auth_configured() -> bool:
    """True when sign-in is configured (an ``[auth]`` section in secrets)."""
    return _auth_section() is not None


def owner_for(user: Mapping[str, Any], sign_in_on: bool, claim: str = "email") -> str | None:
    """The workspace owner for a session.

    Parameters
    ----------
    user
        ``st.user`` as a dict (OIDC claims plus ``is_logged_in``).
    sign_in_on
        Whether sign-in is configured; without it everyone is ``"local"``.
    claim
        ``"email"``: the e-mail address, lower-cased, when the provider says
        ``email_verified`` is true; ``"sub"``: ``sub:<issuer>|<subject>``.
        Without a verified, usable e-mail the subject is used.

    Returns
    -------
    str or None
        None when sign-in is on and nobody is signed in (or the provider gave
        neither a verified e-mail nor a subject).
    """
    if not sign_in_on:
        return LOCAL_OWNER
    if not user.get("is_logged_in"):
        return None
    email = str(user.get("email") or "").strip().lower()
    if claim == "email" and _verified(user.get("email_verified")) and _usable_email(email):
        return email
    subject = str(user.get("sub") or "").strip()
    if subject:
        return f"{SUBJECT_PREFIX}{str(user.get('iss') or '').strip()}|{subject}"
    return None


def _verified(flag: Any) -> bool:
    """``email_verified`` is true (some providers send the string "true")."""
    return flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")


def _usable_email(email: str) -> bool:
    """An address (one @, text on both sides) that is not a reserved name and cannot pass for a subject owner."""
    local, at, domain = email.partition("@")
    return bool(local and at and domain and "@" not in domain) and email not in RESERVED_OWNERS \
        and not email.startswith(SUBJECT_PREFIX)


def current_owner() -> str:
    """The owner of this session's workspace (stops the run if sign-in is needed).

    Without sign-in the owner is ``"local"`` whoever the user is, so ``st.user`` is not read: each read
    looks for the secrets file again under Streamlit's one lock, which every session's run queued on.
    """
    if not auth_configured():
        return LOCAL_OWNER
    owner = owner_for(dict(st.user), True, os.environ.get(OWNER_CLAIM_ENV, "email").strip().lower())
    if owner is None:
        st.stop()
    return owner


def owner_folder(root: Path, owner: str) -> Path:
    """A private folder for an owner's other files (notes, saved views).

    ``"local"`` keeps the workspace root (single-user installs keep their
    files); signed-in owners get ``users/<sha256 of owner>`` so no e-mail
    address becomes a path.
    """
    if owner == LOCAL_OWNER:
        return Path(root)
    folder = Path(root) / USERS_FOLDER / hashlib.sha256(owner.encode("utf-8")).hexdigest()[:32]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # private like the datasets (crm_core.workspace)
    (Path(root) / USERS_FOLDER).chmod(0o700)
    return folder


def user_workspace():
    """The signed-in user's (or the local) :class:`crm_core.workspace.Workspace`."""
    from crm_core.workspace import Workspace
    from ui.paths import workspace_root

    return Workspace(workspace_root(), owner=current_owner())


def user_notes():
    """The signed-in user's (or the local) :class:`crm_core.notes.NotesStore`."""
    from crm_core.notes import NotesStore
    from ui.paths import workspace_root

    return NotesStore(owner_folder(workspace_root(), current_owner()))


def _providers(section: Mapping[str, Any]) -> list[str | None]:
    """One unnamed provider (client_id at the top of [auth]) or the named [auth.<name>] ones."""
    if "client_id" in section:
        return [None]
    return [name for name, value in section.items() if isinstance(value, Mapping)] or [None]


def _sign_in_screen(section: Mapping[str, Any]) -> None:
    st.title("Customer portfolio")
    st.write(
        "Sign in to continue. Your uploads, saved views and notes are private to you: "
        "other people on this server cannot see them."
    )
    for provider in _providers(section):
        label = "Sign in" if provider is None else f"Sign in with {provider.replace('_', ' ').title()}"
        st.button(label, type="primary", icon=":material/login:", key=f"sign_in_{provider or 'default'}",
                  on_click=st.login, args=(provider,) if provider else ())


def require_sign_in() -> str:
    """Gate for app.py: returns the owner, or shows the sign-in screen and stops.

    Without ``[auth]`` this returns ``"local"`` (unless ``CRM_REQUIRE_SIGN_IN``
    is set, then it explains the configuration and stops).
    """
    section = _auth_section()
    if section is None:
        if _flag(REQUIRE_ENV):
            st.error(
                "This server is set to require sign-in (CRM_REQUIRE_SIGN_IN), but no sign-in provider is "
                "configured. Add an [auth] section to .streamlit/secrets.toml as described in docs/deployment.md, "
                "then restart the server.",
                icon=":material/lock:",
            )
            st.stop()
        return LOCAL_OWNER
    owner = owner_for(dict(st.user), True, os.environ.get(OWNER_CLAIM_ENV, "email").strip().lower())
    if owner is None:
        _sign_in_screen(section)
        st.stop()
    with st.sidebar:
        name = str(st.user.get("name") or st.user.get("email") or "you")
        st.caption("Signed in as")
        st.text(name)
        st.button("Sign out", icon=":material/logout:", key="sign_out", on_click=st.logout)
    return owner
