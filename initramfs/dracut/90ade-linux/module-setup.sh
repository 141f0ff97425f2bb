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
    # the ciphers need not be loaded when dracut runs. crypto_null: the old side of the OS disk's reencryption.
    hostonly='' instmods dm_mod dm_crypt xts ecb cbc crypto_null aesni_intel aes_generic crypto-aes crypto-xts \
        af_alg algif_skcipher vfat nls_cp437 nls_iso8859_1 nls_utf8 nls_ascii "${fstype:-ext4}"
    # the network unlock's NIC drivers (virtio in the lab, hv_netvsc on Azure)
    [[ -n $(ade_conf_get ADE_KV_SECRET) ]] && hostonly='' instmods virtio_net hv_vmbus hv_netvsc af_packet
    return 0
}

# iproute2's ip (every Azure image has it), else busybox's applet (a minimal system; the lab's guests).
ade_ip() {
    if command -v ip > /dev/null; then ip "$@"; else busybox ip "$@"; fi
}

# The VM's network as it is while dracut runs, for the network unlock (ade-linux-open.sh, net_up): the MAC of
# the interface holding the default route, its IPv4 address/prefix, the gateway and the first DNS server that
# is not a local stub. dracut brings no network up unless the root is on it (a hostonly RHEL initramfs has
# none), and its DHCP clients differ by release; Azure keeps a NIC's private address for the NIC's life, and
# every kernel update rebuilds the initramfs, which records it again.
ade_net_record() {
    local dev addr gw dns f
    dev=$(ade_ip -4 route show default 2> /dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)
    [[ -n $dev && -r /sys/class/net/$dev/address ]] || return 1
    addr=$(ade_ip -4 -o addr show dev "$dev" | sed -n 's/.* inet \([0-9.]*\/[0-9]*\).*/\1/p' | head -n1)
    gw=$(ade_ip -4 route show default dev "$dev" | sed -n 's/^default via \([0-9.]*\).*/\1/p' | head -n1)
    [[ -n $addr && -n $gw ]] || return 1
    for f in /run/systemd/resolve/resolv.conf /etc/resolv.conf; do
        [[ -r $f ]] || continue
        dns=$(sed -n 's/^nameserver[[:space:]]\{1,\}\([0-9.]*\)[[:space:]]*$/\1/p' "$f" | grep -v '^127\.' | head -n1)
        [[ -n $dns ]] && break
    done
    printf 'ADE_NET_MAC=%s\nADE_NET_ADDR=%s\nADE_NET_GW=%s\nADE_NET_DNS=%s\n' "$(cat "/sys/class/net/$dev/address")" "$addr" "$gw" "$dns"
}

# Protector 2, Key Vault over the network (kv_open in ade-linux-functions): curl and the tools it calls, the
# system's CA bundle plus the extra CA the extension trusts, how the extension reached Azure (osencrypt.env:
# proxy, IMDS endpoint; root-only), `ip` (or busybox), and the address to use.
ade_install_network() {
    local t ca extra net
    for t in curl sed tr base64; do inst_binary "$(command -v "$t")" "/usr/lib/ade-linux/$t"; done
    # the opener calls `ip`, which may be busybox's applet
    if command -v ip > /dev/null; then inst_multiple ip; else inst_binary "$(command -v busybox)" /usr/lib/ade-linux/busybox; fi
    # glibc before 2.34 (RHEL 8) resolves names through libnss_dns
    inst_libdir_file "libnss_dns.so.*" "libnss_files.so.*"
    mkdir -p "$initdir/etc/ade-linux"
    if [[ -r /etc/ade-linux/osencrypt.env ]]; then
        inst_simple /etc/ade-linux/osencrypt.env
        chmod 600 "$initdir/etc/ade-linux/osencrypt.env"
        extra=$(. /etc/ade-linux/osencrypt.env; printf '%s' "${SSL_CERT_FILE:-$NODE_EXTRA_CA_CERTS}")
    fi
    for ca in /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/certs/ca-certificates.crt; do [[ -r $ca ]] && break; done
    cat "$ca" ${extra:+"$extra"} > "$initdir/etc/ade-linux/ca.pem" 2> /dev/null
    if net=$(ade_net_record); then
        printf '%s' "$net" > "$initdir/etc/ade-linux/net.conf"
    else
        dwarn "ade-linux: no IPv4 default route now: this initramfs cannot reach Key Vault (rebuild it once the network is up)"
    fi
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
    if [[ -n $(ade_conf_get ADE_KV_SECRET) ]] && command -v curl > /dev/null; then ade_install_network; fi
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
