#!/bin/sh
# Lab image build only: runs once as init= in a new cloud image (direct kernel boot), installs grub for BIOS
# and UEFI the way Debian's grub-cloud-amd64 postinst does on Azure's Debian 12 image, writes grub.cfg with
# update-grub, then powers off. The host reads LAB_GRUB_SETUP done|failed on the console.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /run
modprobe vfat
mount -a -t ext4,vfat
# grub-mkconfig writes root=UUID=... only where /dev/disk/by-uuid has the link: udev makes it
/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 && udevadm trigger && udevadm settle
touch /etc/grub.d/enable_cloud
disk=$(grub-probe -t device /boot/ | sed -Ee 's/[0-9]+$//' -e 's/([0-9])p$/\1/')
ok=failed
grub-install --target=i386-pc "$disk" &&
  grub-install --target=x86_64-efi --no-nvram --uefi-secure-boot --force-extra-removable &&
  update-grub && ok=done
udevadm control --exit
sync
umount /boot/efi /boot 2>/dev/null
mount -o remount,ro /
echo "LAB_GRUB_SETUP $ok" > /dev/ttyS0
echo 1 > /proc/sys/kernel/sysrq
echo o > /proc/sysrq-trigger
sleep 60
