"""Legacy V1 repos: the metastore of sessions, commits, branches, tags and documents, served per repo."""
