#!/bin/sh
# lab-ctl: the lab's command channel inside the guest (both flavours; busybox ash or dash).
# Reads one line per request from the virtio-serial port named "lab.ctl" and answers one line:
#   host:  RUN <id> <base64 of a sh script>      guest: RESULT <id> <exit code> o:<base64 stdout> e:<base64 stderr>
#   host:  PING <id>                              guest: PONG <id>
# On start it mounts the host's 9p share (tag "lab") on /lab, runs /lab/.lab/boot.sh if present, then says
#   READY <boot_id> <uptime>
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/libexec/bb
export PATH HOME=/root
W=/run/lab-ctl
mkdir -p "$W"
find_port() {
  for n in /sys/class/virtio-ports/*/name; do
    [ -f "$n" ] || continue
    if [ "$(cat "$n")" = lab.ctl ]; then d=${n%/name}; echo "/dev/${d##*/}"; return 0; fi
  done
  return 1
}
i=0
until port=$(find_port) && [ -c "$port" ]; do
  i=$((i + 1)); [ "$i" -gt 300 ] && { echo "lab-ctl: no virtio port lab.ctl" > /dev/ttyS0; exit 1; }
  sleep 0.1
done
mkdir -p /lab
if ! grep -q ' /lab 9p ' /proc/mounts; then
  modprobe 9pnet_virtio 2>/dev/null
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none lab /lab 2>/dev/null ||
    echo "lab-ctl: no 9p share" > /dev/ttyS0
fi
[ -f /lab/.lab/boot.sh ] && sh /lab/.lab/boot.sh > "$W/boot.log" 2>&1
BOOT=$(cat /proc/sys/kernel/random/boot_id)
exec 3<>"$port"
printf '\nREADY %s %s\n' "$BOOT" "$(cut -d' ' -f1 /proc/uptime)" >&3
echo "LAB_READY $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
while :; do
  if ! IFS= read -r line <&3; then sleep 0.2; continue; fi
  set -- $line
  case "$1" in
    RUN)
      id=$2
      printf '%s' "$3" | base64 -d > "$W/$id.sh"
      (cd / && exec sh "$W/$id.sh") < /dev/null > "$W/$id.out" 2> "$W/$id.err"
      rc=$?
      { printf 'RESULT %s %s o:' "$id" "$rc"; base64 < "$W/$id.out" | tr -d '\n'
        printf ' e:'; base64 < "$W/$id.err" | tr -d '\n'; printf '\n'; } >&3
      rm -f "$W/$id.sh" "$W/$id.out" "$W/$id.err" ;;
    PING) echo "PONG $2" >&3 ;;
  esac
done
