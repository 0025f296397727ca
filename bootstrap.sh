#!/usr/bin/env bash
# Set up gitops-sandbox on a fresh Debian/Ubuntu machine (or any Linux with Python >= 3.11):
# system packages (when root and apt is there), the Python environment in .venv, and the control-plane
# binaries in ~/.cache/gitops-sandbox (built offline from Debian source when they cannot be downloaded).
# Safe to run again: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(git gettext-base gnupg openssh-client golang-go golang-github-modern-go-reflect2-dev rsync jq make docker-registry prometheus prometheus-alertmanager docker.io chromium debootstrap)

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# busybox-static: the kind backend's integration test builds its node and workload image from /bin/busybox.
APT_PACKAGES+=(busybox-static)

if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
elif command -v apt-get >/dev/null; then
  echo "not root: skipping system packages (${APT_PACKAGES[*]}); install them yourself if missing" >&2
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -e "$stamp" ]; then
  step "creating the Python environment in .venv"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

step "control-plane binaries"
.venv/bin/sandbox setup
