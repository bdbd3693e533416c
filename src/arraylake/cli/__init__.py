"""The ``arraylake`` (alias ``al``) command line."""
