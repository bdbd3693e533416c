"""The append-only, hash-chained audit log: recording (``record``), the chain (``chain``), reading and
verifying it (``queries``, ``verify``), checkpoints (``checkpoints``) and its endpoints (``router``)."""
