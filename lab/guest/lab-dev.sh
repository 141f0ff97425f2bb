#!/bin/sh
# lab-dev NAME: prints the guest device of the lab disk named NAME (the virtio serial the host gave it).
for d in /sys/block/vd*; do
  [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; exit 0; }
done
echo "lab-dev: no disk named $1" >&2
exit 1
