#!/bin/sh
# lab-mark TEXT: writes TEXT on its own line to the serial console, where the host can wait for it
# (e.g. to cut the power at that moment).
printf '\n%s\n' "$*" > /dev/ttyS0
