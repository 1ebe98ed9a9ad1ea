#!/bin/sh
# The image's entry point: `keyplane ARGS...`. A `serve` without --dev on a state folder that has
# never been initialised runs `keyplane init` first (root key, store, identities, credentials
# printed once), so a persistent volume needs no separate set-up step.
set -eu
if [ "$#" -eq 0 ]; then
  set -- serve
fi
case "$1" in
  -*) set -- serve "$@" ;;          # `docker run keyplane --dev` means serve --dev
esac
if [ "$1" = "serve" ]; then
  dev=no
  for arg in "$@"; do
    [ "$arg" = "--dev" ] && dev=yes
  done
  state="${KEYPLANE_STATE:-/var/lib/keyplane}"
  case "${KEYPLANE_DEV:-}" in 1|true|yes) dev=yes ;; esac
  if [ "$dev" = no ] && [ "${state#*://}" = "$state" ] && [ ! -e "$state/root.key" ] && [ -z "${KEYPLANE_ROOT_KEY:-}" ]; then
    keyplane init --state "$state"
  fi
fi
exec keyplane "$@"
