// What the engine is configured with. The daemon fills this from TOML (a later
// layer); tests build it directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/net.h"
#include "base/time.h"
#include "ike/identity.h"
#include "ike/proposal.h"
#include "ike/traffic_selector.h"

namespace ikecluster::ike {

using namespace std::chrono_literals;

enum class IpsecMode : std::uint8_t { TUNNEL, TRANSPORT };

// What the daemon does with a child when the config is loaded: nothing (wait
// for the peer or a command) or initiate it.
enum class StartAction : std::uint8_t { NONE, START };

struct Lifetimes {
    Duration rekey = 1h;     // soft: start a rekey
    Duration life = 70min;   // hard: delete if still not rekeyed
    Duration jitter = 5min;  // subtracted at random from `rekey`, so SAs don't rekey in step
};

struct ChildConfig {
    std::string name;
    TsList local_ts;
    TsList remote_ts;
    std::vector<ProposalSpec> esp_proposals;
    IpsecMode mode = IpsecMode::TUNNEL;
    StartAction start_action = StartAction::NONE;
    Lifetimes lifetimes{1h, 70min, 5min};
};

struct ConnectionConfig {
    std::string name;
    // Empty = any address (responder side). The initiator uses the first of each.
    std::vector<IpAddress> local_addrs;
    std::vector<IpAddress> remote_addrs;
    std::uint16_t remote_port = 500;
    Identity local_id;
    std::optional<Identity> remote_id;  // nullopt: accept any identity that authenticates
    Bytes psk;
    std::vector<ProposalSpec> ike_proposals;
    std::vector<ChildConfig> children;
    Lifetimes ike_lifetimes{4h, 4h + 20min, 20min};
    Duration dpd_delay = 30s;  // liveness check after this much inbound silence; 0 = off
    bool force_encap = false;  // always use UDP 4500 encapsulation (fake NAT-D)
    bool send_initial_contact = true;
};

struct RetransmitConfig {
    Duration timeout = 4s;  // first retransmission
    double base = 1.8;      // backoff factor
    int tries = 5;          // retransmissions before giving up
    Duration max_timeout = 60s;
};

struct EngineConfig {
    std::vector<ConnectionConfig> connections;
    RetransmitConfig retransmit;
    // Half-open (IKE_SA_INIT answered, no IKE_AUTH yet) responder SAs:
    std::size_t cookie_threshold = 100;   // require COOKIE above this many (§2.6)
    std::size_t half_open_limit = 10000;  // hard limit: drop new IKE_SA_INIT above this
    std::size_t half_open_per_peer = 20;  // per remote address
    Duration half_open_timeout = 30s;
    Duration cookie_secret_lifetime = 5min;
    std::size_t max_ike_sas = 1000000;
    // RFC 6311: announce support in IKE_AUTH.
    bool announce_msgid_sync = true;
    bool announce_replay_sync = true;
    // RFC 6311 as the cluster: skip the message-ID sync of an IKE SA with an
    // AEAD suite once the peer has answered a request of ours on it. A peer
    // that derives its IKE IVs from the message ID (strongSwan: two rising
    // sequences, one for its requests and one for its answers) has then
    // used up the sequence the sync's answer (Message ID 0) needs; it fails
    // to encrypt it and destroys the IKE SA. Without the sync the SA goes
    // on from the replica, which the held-until-acked IKE datagrams keep
    // current. Off for peers known to draw IVs at random (the simulator's).
    bool msgid_sync_guard_sequential_ivs = true;
    std::size_t max_message_size = 65535;
};

}  // namespace ikecluster::ike
