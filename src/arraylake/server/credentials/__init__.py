"""Credential vending: short-lived storage credentials scoped to one repo and one kind of access."""
