#!/usr/bin/env bash
# The main job in one command: start `keyplane serve`, then `pulumi up` an example against it, over
# HTTP with SigV4 and the credentials `keyplane init` made. Needs the Pulumi CLI.
#
#   examples/up.sh                  # examples/quickstart (the root Pulumi.yaml)
#   examples/up.sh cross_account    # or multi_region, db_credentials: examples/<name>/Pulumi.yaml
#
# Environment: KEYPLANE_STATE (default ./.keyplane), KEYPLANE_PORT (4566), KEYPLANE_VENV (./venv,
# the virtualenv of the README and of every Pulumi.yaml), PULUMI_STACK (dev),
# PULUMI_CONFIG_PASSPHRASE (empty unless set), PULUMI_BACKEND_URL (file://~, Pulumi's local state in
# ~/.pulumi, for this run only: your `pulumi login` is left as it is). The server is started with
# what this script relies on (127.0.0.1, plain HTTP, one process, not dev mode) whatever KEYPLANE_*
# says; it stops when pulumi is done, and the state stays in KEYPLANE_STATE for your applications.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
example="${1:-quickstart}"
state="${KEYPLANE_STATE:-$root/.keyplane}"
port="${KEYPLANE_PORT:-4566}"
venv="${KEYPLANE_VENV:-$root/venv}"
endpoint="http://127.0.0.1:$port"
say() { printf 'up.sh: %s\n' "$*" >&2; }

case "$example" in
  quickstart) project="$root" ;;                      # Pulumi.yaml at the root runs examples/quickstart
  *) project="$root/examples/$example"
     [ -f "$project/Pulumi.yaml" ] || { say "no example $example (examples/*/Pulumi.yaml)"; exit 2; } ;;
esac

command -v pulumi >/dev/null || { say "the Pulumi CLI is needed (https://www.pulumi.com/docs/install/)"; exit 1; }
# the Pulumi SDK for the provider; the database drivers for db_credentials' rotation
extras="$root[pulumi,postgres,mysql]"
if [ ! -x "$venv/bin/keyplane" ]; then
  say "creating the virtualenv $venv (python3 -m venv; pip install -e '$extras')"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q -e "$extras"
elif ! "$venv/bin/python" -c 'import pulumi, psycopg, pymysql' 2>/dev/null; then
  # e.g. made by `pip install -e '.[pulumi]'`: the examples would fail at their first import
  say "using the virtualenv $venv, adding what the examples need (pip install -e '$extras')"
  "$venv/bin/pip" install -q -e "$extras"
else
  say "using the virtualenv $venv"
fi

say "keyplane init --state $state (state, root key and identities.yaml; kept if they exist)"
creds="$("$venv/bin/keyplane" init --state "$state" --port "$port" --no-tls | grep '^export ' || true)"
[ -n "$creds" ] || { say "keyplane init printed no credentials"; exit 1; }
eval "$creds"
export AWS_ENDPOINT_URL="$endpoint"

# Anything accepting connections on the port (another keyplane, LocalStack's 4566, ...) is refused
# here, before a server that could not bind it leaves that other one answering.
if "$venv/bin/python" - "$port" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
except OSError:
    sys.exit(1)
PY
then
  say "something already answers on $endpoint; stop it or set KEYPLANE_PORT"; exit 1
fi

say "starting keyplane serve on $endpoint"
"$venv/bin/keyplane" serve --state "$state" --host 127.0.0.1 --port "$port" --no-tls --workers 1 --no-dev &
server=$!
trap 'say "stopping keyplane serve (pid $server)"; kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
# Wait until the server answers, and make sure it is the one started here: its health answer
# carries its pid (a readiness poll, not a timing assumption); a server that exits (its reason is
# on stderr above) ends the wait at once.
"$venv/bin/python" - "$endpoint" "$server" <<'PY'
import json, os, sys, time, urllib.request
endpoint, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"up.sh: keyplane serve (pid {pid}) exited before it answered")
    try:
        with urllib.request.urlopen(endpoint + "/_keyplane/health", timeout=2) as r:
            answer = json.load(r)
        if answer.get("pid") != pid:
            sys.exit(f"up.sh: {endpoint} is answered by pid {answer.get('pid')}, not the keyplane serve "
                     f"started here (pid {pid})")
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("up.sh: keyplane serve did not come up")
        time.sleep(0.2)
PY
say "keyplane serve (pid $server) answers on $endpoint"

cd "$project"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-}"
stack="${PULUMI_STACK:-dev}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://~}"
say "pulumi: backend $PULUMI_BACKEND_URL, stack $stack, keyplane:endpoint/accessKey/secretKey (the secret key on stdin)"
pulumi stack select --create "$stack"
pulumi config set keyplane:endpoint "$endpoint"
pulumi config set keyplane:accessKey "$AWS_ACCESS_KEY_ID"
printf '%s' "$AWS_SECRET_ACCESS_KEY" | pulumi config set --secret keyplane:secretKey
say "pulumi up (${project#"$root"/})"
pulumi up --yes
