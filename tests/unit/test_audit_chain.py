"""The audit chain's canonical form and hash: any change to a stored field changes the hash, and details
come back from JSON exactly as they were hashed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from arraylake.server.audit.chain import GENESIS, HASHED_FIELDS, canonical, entry_hash, plain_details
from arraylake.server.audit.verify import ChainWalk


def entry(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "seq": 7,
        "at": datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC),
        "action": "token.create",
        "outcome": "ok",
        "org_id": "0b5a7c1e-0000-4000-8000-000000000001",
        "org": "acme",
        "actor_id": "u-1",
        "actor": "ada@example.com",
        "repo": None,
        "target": "ci-bot",
        "details": {"expires_in_days": 30, "name": "ci"},
        "request_id": "req-1",
        "client_address": "127.0.0.1",
        "prev_hash": GENESIS,
    }
    fields.update(changes)
    return fields


CHANGED: dict[str, Any] = {
    "seq": 8,
    "at": datetime(2026, 3, 1, 12, 30, 45, 123457, tzinfo=UTC),
    "action": "token.revoke",
    "outcome": "failed",
    "org_id": "0b5a7c1e-0000-4000-8000-000000000002",
    "org": "acme2",
    "actor_id": "u-2",
    "actor": "eve@example.com",
    "repo": "era5",
    "target": "ci-bot2",
    "details": {"expires_in_days": 31, "name": "ci"},
    "request_id": "req-2",
    "client_address": "10.0.0.1",
    "prev_hash": "1" * 64,
}


def test_every_hashed_field_has_a_change_to_try() -> None:
    assert set(CHANGED) == set(HASHED_FIELDS)


@pytest.mark.parametrize("name", HASHED_FIELDS)
def test_changing_any_field_changes_the_hash(name: str) -> None:
    assert entry_hash(entry(**{name: CHANGED[name]})) != entry_hash(entry())


@pytest.mark.parametrize("name", [n for n in HASHED_FIELDS if n not in ("seq", "at", "details")])
def test_none_and_empty_differ(name: str) -> None:
    assert entry_hash(entry(**{name: None})) != entry_hash(entry(**{name: ""}))


def test_the_hash_ignores_the_stored_hash_and_other_columns() -> None:
    plain = entry()
    assert entry_hash({**plain, "hash": "x" * 64, "extra": 1}) == entry_hash(plain)


def test_the_same_moment_in_another_zone_hashes_the_same() -> None:
    moment = entry()["at"]
    elsewhere = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert entry_hash(entry(at=elsewhere)) == entry_hash(entry())


def test_details_key_order_does_not_matter_but_values_do() -> None:
    assert entry_hash(entry(details={"b": 1, "a": 2})) == entry_hash(entry(details={"a": 2, "b": 1}))
    assert entry_hash(entry(details={"a": 1})) != entry_hash(entry(details={"a": "1"}))
    assert entry_hash(entry(details={"a": [1, 2]})) != entry_hash(entry(details={"a": [2, 1]}))


def test_canonical_form_is_json_of_exactly_the_hashed_fields() -> None:
    decoded = json.loads(canonical(entry()))
    assert set(decoded) == set(HASHED_FIELDS)
    assert decoded["at"] == "2026-03-01T12:30:45.123456Z"


def test_the_hash_covers_the_link_to_the_previous_entry() -> None:
    first = entry(seq=1)
    first_hash = entry_hash(first)
    second = entry(seq=2, prev_hash=first_hash)
    assert entry_hash(second) != entry_hash(entry(seq=2, prev_hash=GENESIS))


def test_plain_details_survive_a_json_round_trip() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    raw = {
        "n": 3,
        "whole": 4.0,
        "fraction": 0.25,
        "flag": True,
        "nothing": None,
        "when": moment,
        "tags": {"b", "a"},
        "pair": (1, "x"),
        "nested": {1: {"deep": [moment]}},
        "other": object.__name__,
    }
    plain = plain_details(raw)
    assert json.loads(json.dumps(plain)) == plain
    assert plain["whole"] == 4 and isinstance(plain["whole"], int)
    assert plain["fraction"] == "0.25"
    assert plain["when"] == "2026-01-02T03:04:05.000000Z"
    assert plain["tags"] == ["a", "b"]
    assert plain["pair"] == [1, "x"]
    assert plain["nested"] == {"1": {"deep": ["2026-01-02T03:04:05.000000Z"]}}
    hashed = entry(details=plain)
    assert entry_hash(hashed) == entry_hash({**hashed, "details": json.loads(json.dumps(plain))})


def chain(length: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    previous = GENESIS
    for seq in range(1, length + 1):
        item = entry(seq=seq, prev_hash=previous, details={"i": seq})
        item["hash"] = previous = entry_hash(item)
        entries.append(item)
    return entries


def first_break(entries: list[dict[str, Any]], **walk: Any) -> tuple[int, str] | None:
    walker = ChainWalk(**walk)
    for item in entries:
        found = walker.step(item)
        if found is not None:
            return found.seq, found.problem
    return None


def test_a_sound_chain_walks_to_the_end() -> None:
    entries = chain(5)
    walker = ChainWalk()
    assert all(walker.step(item) is None for item in entries)
    assert (walker.after, walker.last_hash, walker.checked) == (5, entries[-1]["hash"], 5)


def test_the_walk_names_a_changed_a_missing_and_an_unlinked_entry() -> None:
    entries = chain(5)
    entries[2]["actor"] = "mallory@example.com"
    assert first_break(entries) == (3, "entry 3 was changed: its hash does not match its contents")

    entries = chain(5)
    del entries[3]
    assert first_break(entries) == (4, "entry 4 is missing")

    entries = chain(5)
    entries[1]["actor"] = "mallory@example.com"
    entries[1]["hash"] = entry_hash(entries[1])
    seq, problem = first_break(entries) or (0, "")
    assert seq == 3 and problem.startswith("entry 3 does not follow entry 2")


def test_a_rewritten_tail_is_caught_by_a_checkpoint_only() -> None:
    entries = chain(6)
    vouched = {4: entries[3]["hash"]}
    previous = entries[1]["hash"]
    for item in entries[2:]:
        item["prev_hash"] = previous
        item["details"] = {"i": item["seq"], "rewritten": True}
        item["hash"] = previous = entry_hash(item)
    assert first_break(entries) is None
    seq, problem = first_break(entries, checkpoints=vouched) or (0, "")
    assert seq == 4 and "checkpoint at 4" in problem and "between entries 1 and 4" in problem
