"""Repos: the catalog entries of Icechunk repositories and their lifecycle."""
