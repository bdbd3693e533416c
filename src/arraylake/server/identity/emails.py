"""The one form of an email address that sign-in, the sign-in throttle and account lookups compare."""

from __future__ import annotations

import unicodedata


def login_key(email: str) -> str:
    """``" Ada@Example.COM\\u00a0"`` -> ``"ada@example.com"``: NFKC, no whitespace or invisible characters
    anywhere (NBSP, zero-width space, ...), lower case.

    Every variant a person could type for one account must name one account *and* one throttle key: a
    variant that reached the account under a fresh key would get a fresh allowance of guesses. ``lower()``
    rather than ``casefold()`` because that is how the stored ``login_email`` was always written.
    """
    text = unicodedata.normalize("NFKC", email)
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf").lower()
