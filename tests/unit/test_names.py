"""Naming rules shared by the client and the service (``arraylake.names``)."""

from __future__ import annotations

import re

import pytest

from arraylake.exceptions import InvalidNameError
from arraylake.names import (
    MAX_ORG_NAME_LENGTH,
    MAX_PREFIX_LENGTH,
    MAX_REPO_NAME_LENGTH,
    RESERVED_REPO_NAMES,
    join_prefix,
    parse_repo_name,
    validate_bucket_name,
    validate_nickname,
    validate_org_name,
    validate_prefix,
    validate_repo_name,
)

VALID_NAMES = ["ab", "my-org", "My_Org.2", "_private", "0rg", "a.b-c_d", "x" * 64]
# (name, why it is refused)
INVALID_NAMES = [
    ("", "empty"),
    ("a", "too short"),
    ("-org", "starts with '-'"),
    (".org", "starts with '.'"),
    ("org name", "space"),
    ("org/name", "slash"),
    ("org\\name", "backslash"),
    ("org@x", "@"),
    ("org:x", "colon"),
    ("org%20x", "percent"),
    ("org\n", "trailing newline"),
    ("\norg", "leading newline"),
    ("örg", "non-ASCII letter"),
    ("\u043e\u0440\u0433", "Cyrillic"),
    ("org\u200b", "zero-width space"),
    ("\uff4f\uff52\uff47", "full-width letters"),
    ("..", "dots only"),
]


# ------------------------------------------------------------------------------------------- org names


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_org_names_are_returned_unchanged(name: str) -> None:
    assert validate_org_name(name) == name


@pytest.mark.parametrize(("name", "why"), INVALID_NAMES)
def test_invalid_org_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid org name"):
        validate_org_name(name)


def test_org_name_length_limit() -> None:
    assert validate_org_name("o" * MAX_ORG_NAME_LENGTH) == "o" * MAX_ORG_NAME_LENGTH
    with pytest.raises(InvalidNameError, match=f"at most {MAX_ORG_NAME_LENGTH} characters"):
        validate_org_name("o" * (MAX_ORG_NAME_LENGTH + 1))


@pytest.mark.parametrize("value", [None, 42, b"org", ["org"]])
def test_org_name_must_be_a_string(value: object) -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        validate_org_name(value)


def test_invalid_name_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_org_name("a")


# ------------------------------------------------------------------------------------------ repo names


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_repo_names(name: str) -> None:
    assert validate_repo_name(name) == name
    assert validate_repo_name(name, new=True) == name


@pytest.mark.parametrize(("name", "why"), INVALID_NAMES)
def test_invalid_repo_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid repo name"):
        validate_repo_name(name)


def test_repo_name_length_limit() -> None:
    assert validate_repo_name("r" * MAX_REPO_NAME_LENGTH) == "r" * MAX_REPO_NAME_LENGTH
    with pytest.raises(InvalidNameError, match=f"at most {MAX_REPO_NAME_LENGTH} characters"):
        validate_repo_name("r" * (MAX_REPO_NAME_LENGTH + 1))


@pytest.mark.parametrize("name", sorted(RESERVED_REPO_NAMES))
def test_reserved_names_are_refused_for_new_repos_only(name: str) -> None:
    # Existing repos may carry such a name (they are looked up, not created).
    assert validate_repo_name(name) == name
    with pytest.raises(InvalidNameError, match="is reserved"):
        validate_repo_name(name, new=True)


@pytest.mark.parametrize("name", ["Buckets", "REPOS", "Virtual-Chunks"])
def test_reserved_names_are_matched_case_insensitively(name: str) -> None:
    with pytest.raises(InvalidNameError, match="is reserved"):
        validate_repo_name(name, new=True)


@pytest.mark.parametrize("name", ["buckets2", "my-repos", "settings.old", "_sql"])
def test_names_that_merely_contain_a_reserved_word_are_fine(name: str) -> None:
    assert validate_repo_name(name, new=True) == name


# ---------------------------------------------------------------------------------------- parse_repo_name


def test_parse_repo_name_splits_org_and_repo() -> None:
    assert parse_repo_name("my-org/my.repo") == ("my-org", "my.repo")


@pytest.mark.parametrize(
    "full_name",
    ["repo-only", "org/repo/extra", "org//repo", "", "a/b/c/d"],
)
def test_parse_repo_name_needs_exactly_one_slash(full_name: str) -> None:
    with pytest.raises(InvalidNameError, match="ORG/REPO"):
        parse_repo_name(full_name)


@pytest.mark.parametrize(
    ("full_name", "match"),
    [
        ("/repo", "invalid org name ''"),
        ("/", "invalid org name ''"),
        ("org/", "invalid repo name ''"),
        ("-x/repo", "invalid org name"),
        ("org/-x", "invalid repo name"),
        ("örg/repo", "invalid org name"),
        ("org/r e p o", "invalid repo name"),
    ],
)
def test_parse_repo_name_validates_both_parts(full_name: str, match: str) -> None:
    with pytest.raises(InvalidNameError, match=match):
        parse_repo_name(full_name)


@pytest.mark.parametrize("value", [None, 7, ("org", "repo")])
def test_parse_repo_name_needs_a_string(value: object) -> None:
    with pytest.raises(InvalidNameError, match="ORG/REPO"):
        parse_repo_name(value)


def test_parse_repo_name_allows_existing_repos_with_reserved_names() -> None:
    assert parse_repo_name("org/buckets") == ("org", "buckets")


# ------------------------------------------------------------------------------------------ nicknames


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("abc", "abc"),
        ("  my-bucket  ", "my-bucket"),
        ("\tdata.v2\n", "data.v2"),
        ("n" * 64, "n" * 64),
        (" " + "n" * 64 + " ", "n" * 64),
    ],
)
def test_nicknames_are_trimmed(given: str, expected: str) -> None:
    assert validate_nickname(given) == expected


@pytest.mark.parametrize("nickname", ["", "ab", "  ab  ", "   ", "n" * 65])
def test_nickname_length_is_3_to_64_after_trimming(nickname: str) -> None:
    with pytest.raises(InvalidNameError, match="use 3 to 64 characters"):
        validate_nickname(nickname)


@pytest.mark.parametrize("nickname", ["my bucket", "my/bucket", "-bucket", "bücket", "bucket!"])
def test_nickname_characters(nickname: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid bucket nickname"):
        validate_nickname(nickname)


def test_nickname_must_be_a_string() -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        validate_nickname(123)


# --------------------------------------------------------------------------------------- bucket names


@pytest.mark.parametrize("name", ["abc", "my-bucket", "my.bucket_1", "b" * 63])
def test_valid_bucket_names(name: str) -> None:
    assert validate_bucket_name(name) == name


@pytest.mark.parametrize("name", ["", "ab", "b" * 64])
def test_bucket_name_length_is_3_to_63(name: str) -> None:
    with pytest.raises(InvalidNameError, match="use 3 to 63 characters"):
        validate_bucket_name(name)


@pytest.mark.parametrize(
    "name", ["my/bucket", "..", "...", "../x", "-bucket", "bucket name", "bückets", "a\\b"]
)
def test_bucket_name_characters(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_bucket_name(name)


def test_bucket_name_is_not_trimmed() -> None:
    with pytest.raises(InvalidNameError):
        validate_bucket_name(" bucket ")


def test_bucket_name_must_be_a_string() -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        validate_bucket_name(None)


# ------------------------------------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "data",
        "a/b/c",
        "deep/er/and/deeper/still",
        "year=2024/month=01",
        "a.b/c-d/e_f/g+h/i@j/k,l",
        "..a/b..",  # dots inside a segment are not traversal
        "p" * MAX_PREFIX_LENGTH,
    ],
)
def test_valid_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize(
    ("prefix", "match"),
    [
        ("..", "'.' and '..' segments"),
        (".", "'.' and '..' segments"),
        ("a/../b", "'.' and '..' segments"),
        ("a/./b", "'.' and '..' segments"),
        ("a/..", "'.' and '..' segments"),
        ("../etc", "'.' and '..' segments"),
        ("a//b", "empty"),
        ("/a", "no leading or trailing '/'"),
        ("a/", "no leading or trailing '/'"),
        ("/", "no leading or trailing '/'"),
        ("//", "no leading or trailing '/'"),
        ("a\\b", "use A-Z"),
        ("..\\..\\windows", "use A-Z"),
        ("a b", "use A-Z"),
        (" a", "use A-Z"),
        ("a\tb", "use A-Z"),
        ("ä/b", "use A-Z"),
        ("a/b%2F..", "use A-Z"),
        ("a:b", "use A-Z"),
        ("a*", "use A-Z"),
        ("p" * (MAX_PREFIX_LENGTH + 1), "too long"),
    ],
)
def test_invalid_prefixes(prefix: str, match: str) -> None:
    with pytest.raises(InvalidNameError, match=match):
        validate_prefix(prefix)


def test_prefix_errors_say_what_was_checked() -> None:
    with pytest.raises(InvalidNameError, match=re.escape("invalid bucket prefix '../x'")):
        validate_prefix("../x", what="bucket prefix")
    with pytest.raises(InvalidNameError, match="repo prefix must be a string"):
        validate_prefix(None, what="repo prefix")


# ---------------------------------------------------------------------------------------- join_prefix


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("a", "b"), "a/b"),
        (("a/b", "c"), "a/b/c"),
        (("", "repo"), "repo"),
        (("bucket-prefix", ""), "bucket-prefix"),
        (("", ""), ""),
        ((), ""),
        (("a", "", "b"), "a/b"),
    ],
)
def test_join_prefix(parts: tuple[str, ...], expected: str) -> None:
    assert join_prefix(*parts) == expected
