"""Which repository names the git servers accept (the rule Gitea applies, so both backends agree)."""

from __future__ import annotations

import re

from sandbox.errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# Gitea refuses these outright; ".git" and ".wiki" endings would collide with its own paths.
_RESERVED = {".", "..", "-", "_", "assets", "api", "avatars", "user", "org", "explore", "repo", "new", "login"}


def check_repo_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise InputError saying what is allowed."""
    problem = ""
    if not _NAME.match(name):
        problem = "use 1-100 letters, digits, '.', '-' or '_'"
    elif name.lower() in _RESERVED:
        problem = "that name is reserved"
    elif name.lower().endswith((".git", ".wiki", ".rss", ".atom")):
        problem = "a name must not end in .git, .wiki, .rss or .atom"
    elif name.startswith(".") or ".." in name:
        problem = "a name must not start with '.' or contain '..'"
    if problem:
        raise InputError(f"invalid repository name {name!r}: {problem} (for example: 'fleet-infra')")
    return name
