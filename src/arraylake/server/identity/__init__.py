"""Identity: who is asking. Principals, API tokens, sign-in (passwords, device and OAuth login, sessions)."""
