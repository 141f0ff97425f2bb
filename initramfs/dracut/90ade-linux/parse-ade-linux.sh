#!/bin/sh
# ade-linux (dracut cmdline hook, sourced by dracut-cmdline): when the OS disk is encrypted, the root is
# /dev/mapper/$ADE_NAME whatever root= says. grub writes root=UUID=<fs uuid>, and until the reencryption has
# passed its start the raw data partition still carries that UUID: mounting it would write plaintext under
# a device being encrypted. Runs after 99base's parse-root-opts (10) and before 95rootfs-block's parse-block
# (95), which turns root=block:/dev/... into the wait and the mount (without systemd in the initramfs). With
# systemd, /sysroot comes from the kernel command line instead: ade-linux-generator overrides it.
# Sourced: no exit, no stray variables.

if [ -r /etc/ade-linux/osencrypt.conf ]; then
    _ade_name=$(
        . /etc/ade-linux/osencrypt.conf > /dev/null 2>&1
        echo "${ADE_NAME:-osencrypt}"
    )
    root="block:/dev/mapper/$_ade_name"
    rootok=1
    # the initqueue runs until the mapper exists (or rd.retry runs out: "Could not boot", emergency shell)
    wait_for_dev -n "/dev/mapper/$_ade_name"
    # the opener runs once udev has settled; it waits for its own devices
    /sbin/initqueue --settled --onetime --unique --name ade-linux-open /sbin/ade-linux-open
    unset _ade_name
fi
