"""The catalog database: tables, engine and migrations."""
