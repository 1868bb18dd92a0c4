#!/bin/sh
# Prints the greeting shipped by the hello-data fragment and the configured name.
name=$(sed -n 's/^name: *//p' /etc/app/config.yaml 2>/dev/null)
printf '%s (%s)\n' "$(cat /usr/share/hello/greeting.txt)" "${name:-unconfigured}"
