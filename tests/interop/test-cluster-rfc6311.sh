#!/usr/bin/env bash
# RFC 6311 against an unmodified strongSwan client: the failover test with
# the members' test-only fault switch test_withhold_msgids, so every
# takeover starts from stale message IDs and must resynchronise with the
# peer (IKEV2_MESSAGE_ID_SYNC); strongSwan's IKE SA must keep working.
exec env RFC6311=1 "$(dirname "$0")/test-cluster-failover.sh" "$@"
