#!/usr/bin/env bash
# The main job in one command: start `keyplane serve`, then `pulumi up` examples/quickstart against it
# (SigV4 with the credentials `keyplane init` made). Needs the Pulumi CLI. The server stops when
# pulumi is done; the state stays in ./.keyplane (or $KEYPLANE_STATE) for your applications.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
state="${KEYPLANE_STATE:-$root/.keyplane}"
port="${KEYPLANE_PORT:-4566}"
endpoint="http://127.0.0.1:$port"

command -v pulumi >/dev/null || { echo "up.sh: the Pulumi CLI is needed (https://www.pulumi.com/docs/install/)" >&2; exit 1; }
# the project's virtualenv, as Pulumi.yaml names it
[ -x venv/bin/keyplane ] || { python3 -m venv venv && venv/bin/pip install -q -e .; }

eval "$(venv/bin/keyplane init --state "$state" | grep '^export ')"
export AWS_ENDPOINT_URL="$endpoint"
venv/bin/keyplane serve --state "$state" --port "$port" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
venv/bin/python - "$endpoint" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 60
while True:   # wait until the server answers (readiness poll, not a timing assumption)
    try:
        urllib.request.urlopen(sys.argv[1] + "/_keyplane/health", timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("up.sh: keyplane serve did not come up")
        time.sleep(0.2)
PY

export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-}"
pulumi login --local
pulumi stack select --create "${PULUMI_STACK:-dev}"
pulumi config set keyplane:endpoint "$endpoint"
pulumi config set keyplane:accessKey "$AWS_ACCESS_KEY_ID"
pulumi config set --secret keyplane:secretKey "$AWS_SECRET_ACCESS_KEY"
pulumi up --yes
