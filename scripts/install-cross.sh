#!/usr/bin/env bash
# Installs what the linux-arm64 prebuild needs on a Debian 12 (bookworm) x86-64 machine, from
# Debian's own packages (apt checks each .deb against the signed archive index):
#   g++-aarch64-linux-gnu   the cross compiler; it brings the aarch64 glibc (libc6-arm64-cross,
#                           /usr/aarch64-linux-gnu) that the addon links against and runs on
#   qemu-user               qemu-aarch64, to load the cross-built addon in an arm64 Node
# Versions are pinned to those checked on 2026-11-25 (about 15 s to install). Debian replaces
# a package version on a point/security release; then set TRTNODE_CROSS_UNPINNED=1 to take the
# current one (and update the pins here and in docs/toolchain.md).
#   bash scripts/install-cross.sh        (as root, or with sudo available)
# Not run by CI: the arm64 check (test/cpu/arm64-prebuild.test.ts) skips without these.
set -euo pipefail
PKGS=(
  "g++-aarch64-linux-gnu=4:12.2.0-3"
  "qemu-user=1:7.2+dfsg-7+deb12u18+b3"
)
if [[ "${TRTNODE_CROSS_UNPINNED:-}" == 1 ]]; then PKGS=("${PKGS[@]%%=*}"); fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-cross: not root and no sudo" >&2; exit 1; }
  SUDO=sudo
fi
if [[ $(dpkg --print-architecture) != amd64 ]]; then
  echo "install-cross: this installs the x86-64 -> aarch64 cross toolchain; this machine is $(dpkg --print-architecture)" >&2
  exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
aarch64-linux-gnu-g++ --version | head -1
qemu-aarch64 --version | head -1
