#!/bin/sh
# Installs the Debian packages the tests and the lab need, only when one is missing.
# openssl makes the CMS test blobs; cryptsetup-bin/e2fsprogs/xfsprogs/dosfstools work on image files on the
# host; qemu, mmdebstrap, busybox, cpio and kmod build and boot the lab's guests.
set -eu
PKGS="openssl zip unzip cryptsetup-bin e2fsprogs xfsprogs dosfstools util-linux qemu-system-x86 qemu-utils
mmdebstrap busybox-static cpio kmod zstd mtools strace fdisk ovmf"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "host-deps: installing$missing" >&2
if [ "$(id -u)" != 0 ]; then echo "host-deps: run as root, or install:$missing" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
