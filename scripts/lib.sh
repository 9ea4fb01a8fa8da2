# Shared helpers for Stadtbus scripts. Source it; do not run it.
# shellcheck shell=bash
# Everything here is idempotent: running a script twice is fine.

STADTBUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export STADTBUS_ROOT

# Debian packages Stadtbus needs to build, test and run.
STADTBUS_PACKAGES=(
    librabbitmq-dev libxml2-dev libxslt1-dev libxmlsec1-dev libxmlsec1-openssl libssl-dev
    libcurl4-openssl-dev libsqlite3-dev pkg-config python3-venv docker-compose
    rabbitmq-server amqp-tools xmlsec1 libxml2-utils openssl python3 curl
)
# Only for several instances and their tests (scripts/cluster, scripts/test): postgresql, the
# shared store (scripts/cluster runs its binaries on a data directory of its own, never the
# system service). The first README command (one instance, SQLite) does not install it.
STADTBUS_CLUSTER_PACKAGES=(postgresql)

log() { printf '\033[1m[stadtbus]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[stadtbus] error:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root (or sudo) to run: $*"
    fi
}

# Installs whichever of STADTBUS_PACKAGES (or the packages given) is missing, and nothing else.
ensure_packages() {
    local missing=()
    local wanted=("$@")
    [ ${#wanted[@]} -gt 0 ] || wanted=("${STADTBUS_PACKAGES[@]}")
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "system packages present"
        return 0
    fi
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # policy-rc.d may refuse to start the service during install; we start the broker ourselves.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_swift() {
    command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || die "Swift 6 toolchain not found (expected swift on PATH or /opt/swift)"
    command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
}

# Python with pika (a foreign AMQP client for interoperability tests) in a venv under run/.
# Prints the interpreter's path.
ensure_pika() {
    # The simulators' Python environment: run/venv with simulators/requirements.txt (pika and the
    # packages of the simulators' self-tests). Re-installs when the requirements file changes.
    local venv="$STADTBUS_ROOT/run/venv"
    local requirements="$STADTBUS_ROOT/simulators/requirements.txt"
    local stamp="$venv/.requirements.sha256"
    local wanted
    wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        log "installing the simulators' Python packages into $venv"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2 || die "python3 -m venv failed (install python3-venv)"
        "$venv/bin/python" -m pip install --quiet -r "$requirements" >&2 \
            || die "pip install -r simulators/requirements.txt failed"
        echo "$wanted" >"$stamp"
    fi
    echo "$venv/bin/python"
}
