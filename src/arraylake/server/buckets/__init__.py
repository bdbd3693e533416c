"""Bucket configs: where an org's repos keep their data, and how to reach it."""
