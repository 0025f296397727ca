"""The sandbox's git server: a protocol, an embedded smart-HTTP backend and a Gitea backend."""
