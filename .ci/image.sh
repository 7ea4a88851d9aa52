#!/usr/bin/env bash
# The container image, checked in CI (run by .ci/run after the tests):
#   1. a base image made here from Debian's packages (debootstrap), as no registry is reachable;
#   2. the Dockerfile's `prebuilt` runtime stage built on it with podman, holding the binary the
#      tests ran;
#   3. its configuration read back with `podman inspect`: the unprivileged user, the entrypoint,
#      the command and the health check;
#   4. the image run: with `podman run` where this machine allows it; where it does not (here
#      crun refuses the hybrid cgroups and runc the rlimits), the image's own files are run with
#      chroot as the image's user: the service migrates a fresh database and serves, and the
#      image's HEALTHCHECK command must report it ready.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
base="localhost/internal-store-base:bookworm"
image="localhost/internal-store:ci"
binary="target/debug/internal-store"
mkdir -p "$root/.ci/work"

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  $sudo apt-get install -y podman debootstrap >/dev/null \
    || { $sudo apt-get update >/dev/null && $sudo apt-get install -y podman debootstrap >/dev/null; }
fi
[ -x "$binary" ] || cargo build --locked --quiet

# --- 1. the base image ------------------------------------------------------------------------
if ! $sudo podman image exists "$base"; then
  rootfs=$(mktemp -d)
  echo "image: debootstrap bookworm (minbase) into $rootfs"
  $sudo debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  $sudo tar -C "$rootfs" -c . | $sudo podman import - "$base" >/dev/null
  $sudo rm -rf "$rootfs"
fi

# --- 2. the runtime stage with the tested binary ------------------------------------------------
echo "image: podman build --target prebuilt (base $base, binary $binary)"
$sudo podman build --quiet --isolation=chroot --format docker --target prebuilt \
  --build-arg BASE="$base" --build-arg BINARY="$binary" -t "$image" . >/dev/null

# --- 3. its configuration -----------------------------------------------------------------------
$sudo podman inspect "$image" | python3 -c '
import json, sys
image = json.load(sys.stdin)[0]
config = image["Config"]
check = image.get("Healthcheck") or config.get("Healthcheck") or {}
problems = []
if config.get("User") != "internal-store:internal-store":
    problems.append("user %r, not internal-store" % config.get("User"))
if config.get("Entrypoint") != ["/usr/local/bin/internal-store"]:
    problems.append("entrypoint %r" % config.get("Entrypoint"))
if config.get("Cmd") != ["serve"]:
    problems.append("command %r" % config.get("Cmd"))
if "/health/ready" not in " ".join(check.get("Test", [])):
    problems.append("health check %r" % check)
env = dict(e.split("=", 1) for e in config.get("Env", []))
if env.get("BIND") != "0.0.0.0:8080" or env.get("APP_ENV") != "production":
    problems.append("environment %r" % env)
if problems:
    sys.exit("image: " + "; ".join(problems))
print("image: user internal-store, entrypoint internal-store serve, HEALTHCHECK on /health/ready")
'

# --- 4. run it ------------------------------------------------------------------------------------
check=$($sudo podman inspect "$image" | python3 -c '
import json, shlex, sys
image = json.load(sys.stdin)[0]
test = (image.get("Healthcheck") or image["Config"].get("Healthcheck"))["Test"]
print(shlex.join(test[1:]))')
server_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
database="internal_store_image_$$"
database_url="${server_url%/*}/$database"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mnt=""
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$mnt" ]; then $sudo podman image unmount "$image" >/dev/null 2>&1 || true; fi
  psql "${server_url%/*}/postgres" -qAtc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
if $sudo podman run --rm --network=host -e BIND="127.0.0.1:$port" -e DATABASE_URL="$database_url" \
    -e APP_ENV=development --entrypoint /usr/local/bin/internal-store "$image" --version >/dev/null 2>&1; then
  echo "image: podman run works here"
  $sudo podman run --rm -d --name "is-image-$$" --network=host -e BIND="127.0.0.1:$port" \
    -e DATABASE_URL="$database_url" -e APP_ENV=development "$image" >/dev/null
  server_pid=""
  trap '$sudo podman rm -f "is-image-$$" >/dev/null 2>&1 || true; cleanup' EXIT
  run_check() { $sudo podman exec "is-image-$$" bash -c "$(printf '%s' "$check" | sed "s#/127.0.0.1/8080#/127.0.0.1/$port#")"; }
else
  echo "image: podman cannot start containers on this machine; running the image's files with chroot"
  mnt=$($sudo podman image mount "$image")
  $sudo chroot --userspec=internal-store:internal-store "$mnt" /usr/bin/env -i \
    BIND="127.0.0.1:$port" DATABASE_URL="$database_url" APP_ENV=development LOG_FORMAT=json \
    /usr/local/bin/internal-store serve >"$root/.ci/work/image-server.log" 2>&1 &
  server_pid=$!
  run_check() { $sudo chroot "$mnt" bash -c "$(printf '%s' "$check" | sed "s#/127.0.0.1/8080#/127.0.0.1/$port#")"; }
fi
for _ in $(seq 1 60); do
  if run_check >/dev/null 2>&1; then
    echo "image: the service in the image migrated a fresh database and its HEALTHCHECK says ready"
    exit 0
  fi
  sleep 0.5
done
echo "image: the HEALTHCHECK never passed; server log:" >&2
tail -20 "$root/.ci/work/image-server.log" >&2 || true
exit 1
