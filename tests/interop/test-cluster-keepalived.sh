#!/usr/bin/env bash
# The failover test with keepalived (VRRP) as the role controller: the
# packaged keepalived.conf and notify script drive `ikeclusterctl cluster
# set-role` (docs/ha.md, role_control = "external").
exec env ROLE_CONTROL=external "$(dirname "$0")/test-cluster-failover.sh" "$@"
