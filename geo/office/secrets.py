"""Keys that must not live in the repository: the identity-number hash key, the
session key and the key that encrypts backups (``GRIDMAP_BACKUP_KEY``). Configured keys
win; otherwise they are generated once into ``var/secrets.toml`` (mode 0600) and reused,
so hashes stay comparable across runs.

Production deployments set ``GRIDMAP_ID_KEY`` and ``GRIDMAP_SECRET_KEY`` and keep them
in their own secret store: changing the ID key breaks de-duplication of old records.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

KEYS = ("id_key", "secret_key", "backup_key")


def ensure_secrets(cfg: dict[str, Any]) -> dict[str, Any]:
    """Return ``cfg`` with ``id_key``, ``secret_key`` and ``backup_key`` filled in."""
    if all(cfg.get(k) for k in KEYS):
        return cfg
    path = Path(cfg["var_dir"]) / "secrets.toml"
    stored: dict[str, str] = {}
    if path.exists():
        with open(path, "rb") as fh:
            stored = tomllib.load(fh)
    missing = [k for k in KEYS if not stored.get(k)]
    if missing:
        for key in missing:
            stored[key] = secrets.token_hex(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(f'{k} = "{v}"\n' for k, v in stored.items()))
    return {**cfg, **{k: cfg.get(k) or stored[k] for k in KEYS}}
