"""Repo kinds served by Arraylake besides Icechunk: the legacy V1 repos (:mod:`arraylake.repos.v1`)."""
