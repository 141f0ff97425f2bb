#!/usr/bin/busybox sh
# /init of the lab's minimal guest (busybox + Debian's cryptsetup/e2fsprogs/xfsprogs/dosfstools/util-linux).
# No udev: devtmpfs gives /dev/vd* and /dev/dm-*, libdevmapper makes /dev/mapper/* itself.
/usr/bin/busybox --install -s /usr/libexec/bb
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/usr/libexec/bb HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /dev/mapper
mount -t devpts devpts /dev/pts
mount -t tmpfs run /run
mkdir -p /run/cryptsetup /run/lock /var/lock
ln -sf /proc/self/fd /dev/fd 2>/dev/null
ln -sf /proc/mounts /etc/mtab
echo "LAB_INIT $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
echo /usr/sbin/modprobe > /proc/sys/kernel/modprobe
while read -r m; do insmod "$m" 2>/dev/null; done < /etc/modules.boot
hostname lab-minimal
ip link set lo up 2>/dev/null
echo "LAB_MODULES $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
# lab-ctl serves the host's commands until it is told to power off; if it dies, power off (the host sees qemu exit)
lab-ctl
echo "lab-ctl exited ($?): powering off" > /dev/ttyS0
sync
poweroff -f
