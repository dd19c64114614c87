"""API keys in the store (SQLite and PostgreSQL): only hashes kept, found, revoked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pdfq.store import Database
from pdfq.store import keys as key_repo
from pdfq.store.tables import api_keys


def test_a_key_is_found_by_its_token_and_only_its_hash_is_stored(db: Database) -> None:
    record, token = key_repo.create_key(
        db, tenant="acme", scopes=frozenset({"read", "submit"}), name="ingest"
    )
    assert token.startswith(f"pdfq_{record.id}_")
    found = key_repo.find_key(db, token)
    assert found is not None
    assert (found.tenant, found.scopes, found.name) == (
        "acme",
        frozenset({"read", "submit"}),
        "ingest",
    )
    parts = key_repo.split_token(token)
    assert parts is not None
    assert parts[0] == record.id
    secret = parts[1]
    with db.read() as conn:
        row = conn.execute(select(api_keys)).one()
    assert secret not in str(tuple(row))
    for wrong in (token + "x", token[:-1] + ("A" if token[-1] != "A" else "B"), "pdfq_x_y", ""):
        assert key_repo.find_key(db, wrong) is None
    assert key_repo.live_key_count(db) == 1


def test_a_secret_with_underscores_is_split_whole() -> None:
    # token_urlsafe secrets hold "_" about half the time: splitting on the last one would
    # leave a fragment of the secret (a test once searched logs for a 2-letter "secret").
    secret = "ab_cd-" + "x" * 36 + "_"
    assert key_repo.split_token(f"pdfq_0123456789abcdef_{secret}") == ("0123456789abcdef", secret)
    assert key_repo.split_token(f"pdfq_0123456789abcdef_{secret}x") is None  # 44 characters
    assert key_repo.split_token("pdfq_0123456789abcde_" + "x" * 43) is None  # short id


def test_revoked_keys_stop_working(db: Database) -> None:
    record, token = key_repo.create_key(db, tenant="acme", scopes=frozenset({"admin"}))
    assert key_repo.revoke_key(db, key_id=record.id)
    assert not key_repo.revoke_key(db, key_id=record.id)  # already revoked
    assert key_repo.find_key(db, token) is None
    assert key_repo.live_key_count(db) == 0
    assert key_repo.list_keys(db, tenant="acme")[0].revoked_at is not None


def test_tenants_and_scopes_are_validated() -> None:
    assert key_repo.parse_scopes("read, submit") == {"read", "submit"}
    for bad in ("", "read,write", "root"):
        with pytest.raises(ValueError, match="scopes"):
            key_repo.parse_scopes(bad)
    for bad in ("", "a b", "../x", "x" * 65, "-lead"):
        with pytest.raises(ValueError, match="tenant"):
            key_repo.check_tenant(bad)
