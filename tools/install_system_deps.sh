#!/usr/bin/env bash
# Install the Debian packages the project needs outside pip:
#   - GStreamer's RTSP server and PyGObject for the system python3, which
#     tests/rtsp_server.py runs on (the RTSP tests skip without them);
#   - libgl1 and libglib2.0-0, which the GUI build of opencv-python loads;
#   - chromium, the headless browser the preview sink's test opens its page with.
# Packages already installed are skipped, so a second run is a quiet no-op.
# Never fails the build: where apt-get or root/sudo is missing it only warns,
# because everything except the RTSP tests works without these packages.
set -uo pipefail

PACKAGES=(
    gir1.2-gst-rtsp-server-1.0
    python3-gi
    gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-ugly
    libgl1
    libglib2.0-0
    chromium
)

me="install_system_deps"

warn() {
    echo "$me: warning: $*; RTSP tests will be skipped (and cv2 needs libgl1)" >&2
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "$me: all ${#PACKAGES[@]} system packages already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    warn "apt-get not found, cannot install: ${missing[*]}"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
elif command -v sudo >/dev/null 2>&1 && [[ -t 0 ]]; then
    # Someone at a terminal can type their password; a CI job cannot, so
    # there sudo without a cached/passwordless login counts as no sudo.
    echo "$me: sudo is needed to install: ${missing[*]}" >&2
    as_root=(sudo)
else
    warn "not root and no usable sudo, cannot install: ${missing[*]}"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT

apt_install() {
    "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1
}

# The package lists are usually fresh enough; only refresh them (slow) when
# the first attempt fails, typically on a new container with empty lists.
if ! apt_install; then
    if ! "${as_root[@]}" apt-get update -q >>"$log" 2>&1 || ! apt_install; then
        cat "$log" >&2
        warn "apt-get could not install: ${missing[*]}"
        exit 0
    fi
fi
echo "$me: installed ${missing[*]}"
