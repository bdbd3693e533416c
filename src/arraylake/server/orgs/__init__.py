"""Orgs: the orgs themselves, their members and roles, their API clients and those clients' tokens."""
