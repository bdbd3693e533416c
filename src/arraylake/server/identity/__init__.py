"""Identity: principals (users and API clients), orgs and their members, API tokens."""
