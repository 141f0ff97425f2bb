#!/bin/sh
# ade-linux (dracut; run once from the initqueue, see parse-ade-linux.sh): opens the encrypted OS disk before
# the root is mounted, and fails closed. The data partition still shows the plaintext file system until
# reencryption has passed its start, so mounting it directly while a reencryption is under way would corrupt
# it: when the disk cannot be opened, the boot stops here (dracut's die: halt, or a shell with rd.shell), and
# the root stays /dev/mapper/$ADE_NAME, which does not exist (parse-ade-linux.sh, ade-linux-generator).
# The LUKS2 header is detached, on the unencrypted /boot file system, mounted read-write because opening a
# device whose reencryption was interrupted repairs the header first.
# Same steps and console lines as the initramfs-tools script (scripts/local-top/ade-linux).
type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh

CONF=/etc/ade-linux/osencrypt.conf
[ -r "$CONF" ] || exit 0
. "$CONF"
# luks2_slots, protector_failed and kv_protector: shared with the initramfs-tools script
. /lib/ade-linux-functions
# To the kernel log at daemon.crit, as dracut's die writes its FATAL lines: the console prints it even with
# loglevel=3 (Azure's images), the journal keeps it, and it is out before die halts the machine (with systemd,
# stderr goes through journald's console forwarding, which a halt can cut short).
say() { echo "<26>ade-linux: $*" > /dev/kmsg 2> /dev/null || echo "ade-linux: $*" >&2; }
NAME=${ADE_NAME:-osencrypt}
W=/run/ade-linux
[ -b "/dev/mapper/$NAME" ] && exit 0

for m in dm_mod dm_crypt xts aesni_intel crypto_null vfat nls_cp437 nls_iso8859_1; do modprobe -q "$m" 2> /dev/null; done

# Waits up to $2 seconds for a device named by UUID=/PARTUUID=/LABEL= to appear; prints its path.
find_dev() {
    i=0
    while [ "$i" -lt "$2" ]; do
        d=$(blkid -l -o device -t "$1" 2> /dev/null) && [ -b "$d" ] && {
            echo "$d"
            return 0
        }
        [ "$i" = 0 ] && udevadm settle --timeout=10 > /dev/null 2>&1
        sleep 1
        i=$((i + 1))
    done
    return 1
}

# kv_open's network: the address this VM had when the initramfs was built (module-setup.sh, ade_net_record), set
# by hand on the interface with that MAC. dracut has brought none up (the root is not on the network).
NETDEV=""
# iproute2's ip, or busybox's applet where the VM has no iproute2 (module-setup.sh installed one of them)
ade_ip() {
    if command -v ip > /dev/null 2>&1; then ip "$@"; else "$ADE_BIN/busybox" ip "$@"; fi
}
net_up() {
    [ -r /etc/ade-linux/net.conf ] || {
        echo "this initramfs was built with no network up: no address to use (run dracut -f once the VM is on the network)"
        return 1
    }
    . /etc/ade-linux/net.conf
    for m in virtio_net hv_vmbus hv_netvsc; do modprobe -q "$m" 2> /dev/null; done
    i=0
    while [ "$i" -lt 30 ]; do
        udevadm settle --timeout=5 > /dev/null 2>&1
        for n in /sys/class/net/*; do
            [ "$(cat "$n/address" 2> /dev/null)" = "$ADE_NET_MAC" ] && [ ! -e "$n/master" ] && {
                NETDEV=${n##*/}
                break 2
            }
        done
        sleep 1
        i=$((i + 1))
    done
    [ -n "$NETDEV" ] || {
        echo "no network interface with the MAC $ADE_NET_MAC appeared"
        return 1
    }
    { ade_ip link set dev "$NETDEV" up && ade_ip addr replace "$ADE_NET_ADDR" dev "$NETDEV" && ade_ip route replace default via "$ADE_NET_GW" dev "$NETDEV"; } 2> /dev/null || {
        echo "cannot set $ADE_NET_ADDR via $ADE_NET_GW on $NETDEV"
        return 1
    }
    # not through a link to systemd-resolved's stub: nothing answers there in the initramfs
    [ -z "$ADE_NET_DNS" ] || { rm -f /etc/resolv.conf && echo "nameserver $ADE_NET_DNS" > /etc/resolv.conf; } 2> /dev/null
    return 0
}
# Whatever Key Vault answered: the real root's network manager starts from an interface it has not seen configured.
net_down() {
    [ -n "$NETDEV" ] || return 0
    ade_ip addr flush dev "$NETDEV" 2> /dev/null
    ade_ip link set dev "$NETDEV" down 2> /dev/null
    return 0
}

fail() {
    say "the OS disk ($ADE_DATA) stays locked: $*"
    say "nothing was mounted. Attach the key volume or restore the key, then reboot."
    die "ade-linux: cannot open the encrypted OS disk"
    exit 1
}

data=$(find_dev "$ADE_DATA" 60) || fail "its partition $ADE_DATA did not appear"
hdrdev=$(find_dev "$ADE_HEADER_FS" 60) || fail "the file system $ADE_HEADER_FS holding its header did not appear"
mkdir -p "$W/boot" "$W/key"
mount -t "${ADE_HEADER_FSTYPE:-ext4}" -o rw "$hdrdev" "$W/boot" || fail "cannot mount $hdrdev read-write to reach the header"
hdr="$W/boot/$ADE_HEADER"
[ -f "$hdr" ] || {
    umount "$W/boot"
    fail "the header $ADE_HEADER is missing from $hdrdev"
}

ADE_TRIED=""
opened=""
# Protector 1: the key volume the platform attaches (vfat labelled "BEK VOLUME").
if keydev=$(find_dev "LABEL=${ADE_KEY_LABEL:-BEK VOLUME}" 15); then
    if mount -t vfat -o ro "$keydev" "$W/key"; then
        if [ -f "$W/key/$ADE_KEY_FILE" ]; then
            if cryptsetup open --header "$hdr" --key-file "$W/key/$ADE_KEY_FILE" "$data" "$NAME"; then
                opened="key volume"
            else protector_failed "key volume" "the key file $ADE_KEY_FILE did not open the header"; fi
        else protector_failed "key volume" "no file $ADE_KEY_FILE on $keydev"; fi
        umount "$W/key"
    else protector_failed "key volume" "cannot mount $keydev"; fi
else protector_failed "key volume" "no disk labelled ${ADE_KEY_LABEL:-BEK VOLUME} attached"; fi

# Protector 2: the key escrowed in Key Vault, over the network (the VM's managed identity through IMDS).
kv_protector

# The recovery passphrase, three tries. With systemd in the initramfs (RHEL 8/9, Azure Linux) through its
# password agent on the console, as dracut's own crypt module asks (a tty read of /dev/console from the
# initqueue's service competes with systemd for the console); without, cryptsetup's own prompt on the console.
# cryptsetup reads the passphrase from the pipe up to its newline.
ask_recovery() {
    if [ -d /run/systemd/system ] && command -v systemd-ask-password > /dev/null 2>&1; then
        n=0
        while [ "$n" -lt 3 ]; do
            systemd-ask-password --timeout=0 --id="ade-linux:$data" "Recovery passphrase for $data:" |
                cryptsetup open --header "$hdr" "$data" "$NAME" > /dev/null 2>&1 && return 0
            say "that is not the recovery passphrase of $data"
            n=$((n + 1))
        done
        return 1
    fi
    cryptsetup open --header "$hdr" --tries 3 "$data" "$NAME" < /dev/console > /dev/console 2>&1
}

# Protector 3, the last resort: the recovery passphrase, typed at the serial console (Azure's serial console).
# cryptsetup prompts on the console with echo off and reads up to three tries; nothing is tried unattended.
if [ -z "$opened" ] && [ -n "$ADE_RECOVERY_SECRET" ]; then
    if [ "$(luks2_slots "$hdr")" -ge 2 ]; then
        say "every protector failed ($ADE_TRIED): each one's reason is on its line above"
        say "type the recovery passphrase at the prompt (Key Vault secret $ADE_RECOVERY_SECRET; with a KEK, unwrap it first). 3 tries."
        if ask_recovery; then opened="recovery passphrase"
        else protector_failed "recovery passphrase" "not accepted"; fi
    else protector_failed "recovery passphrase" "not in the header yet (it is added when the encryption has finished)"; fi
fi

umount "$W/boot"
[ -n "$opened" ] || fail "every protector failed ($ADE_TRIED): each one's reason is on its line above"
say "opened $data as /dev/mapper/$NAME with the $opened"
# the initqueue's "finished" test is [ -e /dev/mapper/$NAME ]: let udev make the node before the next round
udevadm settle --timeout=30 > /dev/null 2>&1
exit 0
