#!/bin/sh
# ade-linux (dracut, systemd generator in the initramfs): /sysroot is /dev/mapper/$ADE_NAME, whatever root=
# on the kernel command line says.
#
# With systemd in the initramfs, dracut's cmdline hooks do not decide what is mounted on /sysroot:
# systemd-fstab-generator makes sysroot.mount from the kernel's root= (grub's root=UUID=<fs uuid>), and
# dracut-rootfs-generator makes it when there is no root=. Until the reencryption has passed its start the raw
# data partition carries that same file system UUID, so /dev/disk/by-uuid/<uuid> may point at either the raw
# partition or the mapper (and fsck would check the one it points at). Both generators write to the normal
# generator directory ($1); this one writes to the early one ($2), whose units take precedence over /etc, /run
# and the normal directory. So sysroot.mount (and its fsck) name the mapper only, and if the disk is not opened
# (ade-linux-open fails closed), nothing is mounted on /sysroot at all.
CONF=/etc/ade-linux/osencrypt.conf
[ -r "$CONF" ] || exit 0
[ -e /etc/initrd-release ] || [ -e /usr/lib/initrd-release ] || exit 0
type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh

NAME=$(
    . "$CONF" > /dev/null 2>&1
    echo "${ADE_NAME:-osencrypt}"
)
DEV=/dev/mapper/$NAME
EARLY=${2:-/run/systemd/generator.early}
UNIT=$(dev_unit_name "$DEV")

fstype=$(getarg rootfstype=)
flags=$(getarg rootflags=)
# as systemd mounts the root in the initramfs: read-only unless rw is on the command line
if getargbool 0 rw; then flags="${flags:+$flags,}rw"; else flags="${flags:+$flags,}ro"; fi
timeout=$(getarg rd.timeout)

mkdir -p "$EARLY/initrd-root-fs.target.requires" "$EARLY/$UNIT.device.d" "$EARLY/initrd-root-device.target.d"
{
    echo "# Written by ade-linux-generator: the root is the encrypted OS disk, opened by ade-linux-open"
    echo "[Unit]"
    echo "Description=/sysroot on the encrypted OS disk ($DEV)"
    echo "SourcePath=$CONF"
    echo "Before=initrd-root-fs.target"
    echo "Requires=systemd-fsck@$UNIT.service"
    echo "After=systemd-fsck@$UNIT.service"
    echo "[Mount]"
    echo "What=$DEV"
    echo "Where=/sysroot"
    [ -n "$fstype" ] && [ "$fstype" != auto ] && echo "Type=$fstype"
    echo "Options=$flags"
} > "$EARLY/sysroot.mount"
ln -sf ../sysroot.mount "$EARLY/initrd-root-fs.target.requires/sysroot.mount"
# the root device is the mapper (as rd.timeout says: no limit by default; ade-linux-open ends the wait itself)
{
    echo "[Unit]"
    echo "JobTimeoutSec=${timeout:-0}"
    echo "JobRunningTimeoutSec=${timeout:-0}"
} > "$EARLY/$UNIT.device.d/ade-linux.conf"
{
    echo "[Unit]"
    echo "Requires=$UNIT.device"
    echo "After=$UNIT.device"
} > "$EARLY/initrd-root-device.target.d/ade-linux.conf"
root=$(getarg root=)
echo "<30>ade-linux: /sysroot is $DEV${root:+ (not root=$root)}" > /dev/kmsg 2> /dev/null
exit 0
