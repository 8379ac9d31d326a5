#!/usr/bin/env bash
# Installs the system packages Assize needs to build and test on Debian 12 / Ubuntu, skipping
# those already present. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential pkg-config cmake   # C toolchain; cmake builds the bundled libopus
  libssl-dev openssl                 # CMS/X.509 bindings; `openssl` verifies our output in tests
  libvpx-dev                         # VP8 codec
  softhsm2 opensc                    # PKCS#11 token for key tests
  ffmpeg                             # an independent decoder for the hearing recording's tests
  poppler-utils                      # `pdftotext` reads the minutes PDF back in the tests
  coturn                             # a real TURN server for the relay test
  iproute2                           # the live browser test puts the SFU on a veth pair
  chromium fonts-dejavu-core         # the browser tests (tests/tests/browser.rs) drive Debian's Chromium
  firefox-esr                        # ... and Debian's Firefox ESR
)
# ... through playwright-core (Chromium) and puppeteer-core over WebDriver BiDi (Firefox)
# (tests/browser, `npm ci`). Node may come from elsewhere (NodeSource
# ships npm inside its nodejs package, and Debian's npm would conflict with it): only when the
# commands are missing.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "system packages: all present"
fi

command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first" >&2; exit 1; }
