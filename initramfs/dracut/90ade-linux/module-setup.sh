#!/bin/bash
# ade-linux: dracut module that opens the encrypted OS disk in every initramfs dracut builds (RHEL/Oracle 8/9,
# Azure Linux 3; Debian ships dracut 059 too). The initramfs-tools twin is ../../initramfs-tools. Nothing is
# added on a VM whose OS disk ade-linux has not encrypted (no /etc/ade-linux/osencrypt.conf).
#
# What goes in: the conf, cryptsetup, blkid and the kernel modules (dm-crypt, AES-XTS, vfat + nls, the header's
# file system), the opener (/sbin/ade-linux-open, run from the initqueue), a cmdline hook and, with systemd in
# the initramfs, a generator that makes /sysroot the mapper whatever root= says. The LUKS2 header never goes in:
# a stale copy opened mid-reencryption would corrupt the disk; it is read from the header file system at boot.
#
# Deliberately not 90crypt: in hostonly mode it drops crypttab lines whose device does not look like LUKS (a
# detached-header partition looks like ext4/xfs, or like nothing), it never copies header files, and
# systemd-cryptsetup's detached-header handling has had bugs (systemd#10101, #19197, #25928).

ADE_CONF=/etc/ade-linux/osencrypt.conf

# Prints one variable of the conf (read in a subshell: it is a shell file).
ade_conf_get() {
    [[ -f $dracutsysrootdir$ADE_CONF ]] || return 0
    (
        # shellcheck disable=SC1090
        . "$dracutsysrootdir$ADE_CONF" > /dev/null 2>&1
        eval "printf '%s' \"\${$1}\""
    )
}

# called by dracut
check() {
    require_binaries cryptsetup blkid mount umount || return 1
    # Included whether dracut runs hostonly (RHEL's default) or not (Debian's): the conf decides, not the
    # host's block devices (the data partition shows ext4/xfs, or nothing, never crypto_LUKS).
    [[ -f $dracutsysrootdir$ADE_CONF ]] && return 0
    # only when asked (add_dracutmodules+=" ade-linux ")
    return 255
}

# called by dracut
depends() {
    # dm: device-mapper udev rules and dmsetup (cryptsetup waits for udev on them); rootfs-block: root= handling
    echo dm rootfs-block
    return 0
}

# called by dracut
installkernel() {
    local fstype
    fstype=$(ade_conf_get ADE_HEADER_FSTYPE)
    # hostonly='': in hostonly mode instmods keeps only modules loaded on the host; vfat (the key volume) and
    # the ciphers need not be loaded when dracut runs.
    hostonly='' instmods dm_mod dm_crypt xts ecb cbc aesni_intel aes_generic crypto-aes crypto-xts \
        af_alg algif_skcipher vfat nls_cp437 nls_iso8859_1 nls_utf8 nls_ascii "${fstype:-ext4}"
    return 0
}

# called by dracut
install() {
    if [[ ! -f $dracutsysrootdir$ADE_CONF ]]; then
        dinfo "ade-linux: no $ADE_CONF, the OS disk is not encrypted: nothing to install"
        return 0
    fi
    # not mark_hostonly: rd.hostonly=0 must not drop it
    inst_simple "$ADE_CONF"
    inst_multiple cryptsetup blkid mount umount mkdir sleep modprobe
    inst_multiple -o udevadm
    inst_script "$moddir/ade-linux-open.sh" /sbin/ade-linux-open
    inst_simple "$moddir/ade-linux-functions" /lib/ade-linux-functions
    inst_hook cmdline 20 "$moddir/parse-ade-linux.sh"
    if dracut_module_included "systemd"; then
        inst_script "$moddir/ade-linux-generator.sh" "$systemdutildir/system-generators/ade-linux-generator"
        inst_multiple -o "$systemdsystemunitdir/systemd-fsck@.service" "$systemdutildir/systemd-fsck" systemd-escape
        # The recovery passphrase's prompt: systemd's password agent on the console. dracut 049 (RHEL 8) ships
        # it in its systemd module, 059 in a systemd-ask-password module that older dracut lacks (naming it in
        # depends() would break their builds): installed here either way.
        inst_multiple -o systemd-ask-password systemd-tty-ask-password-agent \
            "$systemdsystemunitdir/systemd-ask-password-console.path" "$systemdsystemunitdir/systemd-ask-password-console.service"
        if [[ -e $initdir$systemdsystemunitdir/systemd-ask-password-console.path && ! -e $initdir$systemdsystemunitdir/sysinit.target.wants/systemd-ask-password-console.path ]]; then
            mkdir -p "$initdir$systemdsystemunitdir/sysinit.target.wants"
            ln_r "$systemdsystemunitdir/systemd-ask-password-console.path" "$systemdsystemunitdir/sysinit.target.wants/systemd-ask-password-console.path"
        fi
    fi
    dracut_need_initqueue
}
