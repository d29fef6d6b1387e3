"""``scripts/manager``: roles for the CRM app (owner or manager), against the emulator."""

from __future__ import annotations

import io
import os
import sys

import pytest

from orderhub.order_form import manage
from orderhub.order_form.stores import FirestoreAccounts
from tests.conftest import unique


@pytest.fixture
def prefix(emulators: dict[str, str]) -> str:
    found = unique("roles") + "-"
    os.environ["FIRESTORE_PREFIX"] = found
    os.environ.pop("MANAGERS_DATABASE", None)
    return found


def managers(prefix: str) -> FirestoreAccounts:
    from google.cloud import firestore

    return FirestoreAccounts(firestore.Client(), prefix + "managers")


def test_an_owner_is_added_and_roles_change_without_a_new_password(
    prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password 1\n"))
    assert manage.main(["add", "olga", "--owner", "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password 2\n"))
    assert manage.main(["add", "anna", "--password-stdin"]) == 0
    store = managers(prefix)
    olga, anna = store.get("olga"), store.get("anna")
    assert olga is not None and olga.is_owner
    assert anna is not None and not anna.is_owner and anna.role == "manager"

    assert manage.main(["role", "anna", "owner"]) == 0
    promoted = store.get("anna")
    assert promoted is not None and promoted.is_owner
    assert promoted.password_hash == anna.password_hash  # her password and sessions stay
    assert manage.main(["role", "olga", "manager"]) == 0
    demoted = store.get("olga")
    assert demoted is not None and not demoted.is_owner

    listed = capsys.readouterr().out
    assert manage.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("anna") and line.endswith("owner") for line in lines), listed
    with pytest.raises(SystemExit, match="no manager"):
        manage.main(["role", "nobody", "owner"])
