"""scripts/managers on the Firestore emulator: what an operator types, what the notifier reads."""

from __future__ import annotations

import os

import pytest

from devstack import managers as script
from orderhub.managers import FirestoreManagers, Manager, current
from tests.conftest import unique


@pytest.fixture
def store(emulators: dict[str, str]) -> FirestoreManagers:
    from google.cloud import firestore

    os.environ["FIRESTORE_PREFIX"] = unique("mgr") + "-"
    client = firestore.Client(project=emulators["GOOGLE_CLOUD_PROJECT"])
    return FirestoreManagers(client, os.environ["FIRESTORE_PREFIX"])


def run(*argv: str) -> int:
    return script.main(list(argv), os.environ["GOOGLE_CLOUD_PROJECT"])


def test_set_add_remove_and_list(store: FirestoreManagers, capsys: pytest.CaptureFixture[str]):
    os.environ["NOTIFY_MANAGERS"] = '[{"subscriber_id": "9", "name": "From env"}]'
    assert run("list") == 0
    assert "from NOTIFY_MANAGERS" in capsys.readouterr().out  # no document yet: the fallback

    assert run("set", "101=Anna Bell", "102=Boris") == 0
    assert run("add", "103", "Carla", "Diaz") == 0
    assert run("remove", "102") == 0
    assert current(store, os.environ["NOTIFY_MANAGERS"]) == (
        Manager("101", "Anna Bell"),
        Manager("103", "Carla Diaz"),
    )
    capsys.readouterr()
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "from Firestore settings/managers" in out and "Carla Diaz" in out


def test_a_bad_id_is_refused_and_changes_nothing(
    store: FirestoreManagers, capsys: pytest.CaptureFixture[str]
):
    assert run("set", "101=Anna") == 0
    assert run("add", "not-a-number", "Eve") == 2
    assert "numeric subscriber id" in capsys.readouterr().err
    assert store.load() == (Manager("101", "Anna"),)
