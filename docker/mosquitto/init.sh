#!/bin/sh
# mosquitto-init (docker/compose.yaml): the broker's accounts for the demo, without any password
# in the repository. On first start it makes a random password per account; every start it
# rebuilds the password file and the ACL. Runs as uid 1883 in eclipse-mosquitto, with the volume
# mqtt-auth at /mosquitto/config (so that docker gives the new volume to uid 1883).
set -eu
out=/mosquitto/config
cd "$out"
umask 027
for user in needlewatch simulator viewer; do
  if [ ! -s "$user.password" ]; then
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$user.password"
  fi
  printf '%s' "$user" > "$user.username"
  chmod 0444 "$user.password" "$user.username"  # read by the needlewatch and simulator containers
done
rm -f passwd.new
mosquitto_passwd -c -b passwd.new needlewatch "$(cat needlewatch.password)"
mosquitto_passwd -b passwd.new simulator "$(cat simulator.password)"
mosquitto_passwd -b passwd.new viewer "$(cat viewer.password)"
chmod 0600 passwd.new && mv passwd.new passwd
cat /init/acl /init/acl-demo > acl.new && chmod 0600 acl.new && mv acl.new acl
echo "mosquitto-init: accounts needlewatch, simulator, viewer ready (passwords in volume mqtt-auth)"
