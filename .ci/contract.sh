#!/usr/bin/env bash
# Contract checks, run by .ci/run after `cargo test`:
#   1. Redocly CLI lints the committed OpenAPI document with its `recommended` rules (0 errors).
#   2. Schemathesis tests a running server against that document, with every check and every
#      phase, once per role: admin, finance, purchaser and employee (0 failures).
# The tools are pinned in .ci/tools (package.json + package-lock.json, requirements.txt) and
# installed there by this script (gitignored). Runs are reproducible: fixed seed, bounded
# examples per operation. The server runs on a fresh throwaway database of the PostgreSQL at
# 127.0.0.1:5432 (or DATABASE_URL's server), loaded with the demo group.
#
# Environment: CONTRACT_EXAMPLES (default 25) examples per operation and phase;
# CONTRACT_SEED (default 20261128); CONTRACT_ROLES (default "admin finance purchaser employee").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.ci/tools"
work="$root/.ci/work"
examples="${CONTRACT_EXAMPLES:-25}"
seed="${CONTRACT_SEED:-20261128}"
roles="${CONTRACT_ROLES:-admin finance purchaser employee}"
mkdir -p "$work"

# --- tools ----------------------------------------------------------------------------------
# Each install is redone when its manifest changes (a stamp holds the manifest it installed).
if ! cmp -s "$tools/package-lock.json" "$tools/node_modules/.installed-from" 2>/dev/null; then
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$tools/package-lock.json" "$tools/node_modules/.installed-from"
fi
if ! cmp -s "$tools/requirements.txt" "$tools/venv/.installed-from" 2>/dev/null; then
  rm -rf "$tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q --disable-pip-version-check -r "$tools/requirements.txt"
  cp "$tools/requirements.txt" "$tools/venv/.installed-from"
fi

# --- 1. lint ----------------------------------------------------------------------------------
echo "contract: redocly lint (recommended)"
NO_UPDATE_NOTIFIER=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$tools/node_modules/.bin/redocly" lint openapi/openapi.json --extends recommended \
  --format stylish 2>&1 | grep -v '[║╔╚]' | sed '/^\s*$/d'
# `redocly lint` exits non-zero on any error; pipefail carries it.

# --- 2. a server on a fresh database ------------------------------------------------------------
cargo build --locked --quiet
binary="$root/target/debug/internal-store"
base_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
database="internal_store_contract_$$"
export DATABASE_URL="${base_url%/*}/$database"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BIND="127.0.0.1:$port" APP_ENV=development JWT_TTL_SECS=7200 LOG_FORMAT=json \
  RUST_LOG="${RUST_LOG:-warn}" JWT_SECRET="contract-$(date +%s%N)-0123456789abcdefghijklmnop"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  psql "${base_url%/*}/postgres" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$binary" seed-demo >"$work/seed.log" 2>&1
"$binary" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null

token() {
  curl -fs "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"demo-password-2026\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
declare -A account=(
  [admin]=ada.admin@jkl.example
  [finance]=fiona.finance@jkl.example
  [purchaser]=paul.purchaser@abc.example
  [employee]=alex.operational@jkl.example
)
declare -A tokens=()
for role in $roles; do tokens[$role]=$(token "${account[$role]}"); done

# --- 3. schemathesis, once per role -----------------------------------------------------------
status=0
for role in $roles; do
  echo "contract: schemathesis as $role (${account[$role]}), seed $seed, $examples examples"
  if ! "$tools/venv/bin/st" --config-file .ci/schemathesis.toml run openapi/openapi.json \
      --url "http://127.0.0.1:$port" \
      --header "Authorization: Bearer ${tokens[$role]}" \
      --checks all \
      --phases examples,coverage,fuzzing,stateful \
      --seed "$seed" --max-examples "$examples" --workers 1 \
      --request-timeout 15 --no-color \
      --report junit --report-junit-path "$work/schemathesis-$role.xml" \
      >"$work/schemathesis-$role.log" 2>&1; then
    status=1
  fi
  tail -n 25 "$work/schemathesis-$role.log"
done
if [ "$status" -ne 0 ]; then
  echo "contract: schemathesis reported failures (full logs in .ci/work/)" >&2
  exit 1
fi
echo "contract: 0 lint errors, 0 schemathesis failures for: $roles"
