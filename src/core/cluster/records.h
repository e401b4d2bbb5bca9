// What the cluster replicates, as bytes: the IKE engine's state events
// (ike/state.h) plus the few things only the cluster layer knows (ESP counter
// checkpoints from the data plane, cookie secrets, bulk-transfer framing).
//
// The active member encodes each record and sends it over the sync channel;
// a standby decodes it and applies it to its Replica (cluster/replica.h).
//
// Time. `Time` is a per-host monotonic clock, meaningless on another host, so
// every Time field travels relative to the sender's `now` and is rebuilt
// relative to the receiver's: a rekey due in 30 s on the sender is due in 30 s
// on the receiver (less the transit time). Time{} ("not set") and Time::max()
// ("never") travel as themselves.
//
// Binary format (version 1). Integers are big-endian; every length and count
// is checked against the limits below before anything is read or allocated.
//
//   record    = version:1 (=1) type:1 body          type = Record index + 1
//   bool      = 0 | 1
//   time      = 0                                   Time{}
//             | 1                                   Time::max()
//             | 2 rel:8                             t - now, signed nanoseconds
//   blob      = len:2 octets                        len <= the field's limit
//   addr      = 4 a:4 | 6 a:16
//   endpoint  = addr port:2
//   ts        = ip_proto:1 start_port:2 end_port:2 start:addr end:addr
//   ts_list   = n:1 ts*n                            n <= kMaxTrafficSelectors
//   identity  = type:1 data:blob                    RFC 7296 §3.5 ID Type
//   spis      = spi_i:8 spi_r:8
//   msgids    = next_request_out:4 next_request_in:4 last_response_id:4
//               n:1 blob*n                          n <= kMaxFragments
//   child     = config_name:blob unique_id:4 spi_in:4 spi_out:4 protocol:1
//               mode:1 encr_id:2 key_bits:2 integ:2 esn:bool
//               encr_in integ_in encr_out integ_out (blobs)
//               ts_local:ts_list ts_remote:ts_list
//               established:time rekey_at:time expire_at:time
//   sa        = spis initiator:bool config_name:blob
//               encr_id:2 key_bits:2 integ:2 prf:2 dh:2
//               sk_d sk_ai sk_ar sk_ei sk_er sk_pi sk_pr (blobs)
//               local_id:identity remote_id:identity local:endpoint
//               remote:endpoint nat:1 encap:bool peer:1 (bit 0 msgid_sync,
//               1 replay_sync, 2 redirect, 3 fragmentation, 4 mobike; others 0)
//               msgids established:time rekey_at:time expire_at:time
//               n:1 child*n                         n <= kMaxChildren
//   secret    = 0 | 1 version:4 secret:blob created:time
//
//   body  1 IkeSaEstablished       sa
//         2 IkeMessageIdsAdvanced  spis msgids
//         3 ChildSaAdded           spis child
//         4 ChildSaRekeyed         spis old_spi_in:4 child
//         5 ChildSaDeleted         spis spi_in:4
//         6 IkeSaRekeyed           old:spis sa
//         7 IkeSaDeleted           spis reason:1
//         8 Checkpoints            n:1 (spis spi_in:4 out_next_seq:8 in_highest:8)*n
//                                  n <= kMaxCheckpoints, out_next_seq >= 1
//         9 CookieSecretsRecord    current:secret previous:secret
//        10 BulkBegin              epoch:8 bulk_id:8
//        11 BulkEnd                bulk_id:8 ike_sa_count:8
//
// Enumerations must hold one of their defined values, booleans 0 or 1, and a
// record must end exactly where its body does. encode() expects states within
// the limits (the engine never makes larger ones); should one be exceeded it
// writes a length or count of all ones, which every decoder rejects, rather
// than a record that would decode to something else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/time.h"
#include "ike/cookie.h"
#include "ike/state.h"

namespace ikecluster::cluster {

inline constexpr std::uint8_t kRecordVersion = 1;

// Decoder limits: generous for anything the engine produces, small enough
// that a hostile record cannot make a standby allocate much more than the
// record's own size.
inline constexpr std::size_t kMaxChildren = 64;          // per IKE SA in one record
inline constexpr std::size_t kMaxCheckpoints = 64;       // per Checkpoints record
inline constexpr std::size_t kMaxTrafficSelectors = 64;  // per TS list
inline constexpr std::size_t kMaxFragments = 200;        // RFC 7383 fragments of one response
inline constexpr std::size_t kMaxKey = 16 * 1024;        // any key or secret
inline constexpr std::size_t kMaxName = 1024;            // config names
inline constexpr std::size_t kMaxIdentity = 4096;        // ID payload data
inline constexpr std::size_t kMaxDatagram = 65535 - 28;  // one cached response datagram

// ESP sequence counters of one Child SA, as the data plane last reported them.
struct CounterCheckpoint {
    ike::IkeSpis ike;
    std::uint32_t spi_in = 0;
    std::uint64_t out_next_seq = 1;  // the next sequence number we send with
    std::uint64_t in_highest = 0;    // highest sequence number accepted inbound
    friend bool operator==(const CounterCheckpoint&, const CounterCheckpoint&) = default;
};
struct Checkpoints {
    std::vector<CounterCheckpoint> items;  // at most kMaxCheckpoints
    friend bool operator==(const Checkpoints&, const Checkpoints&) = default;
};
struct CookieSecretsRecord {
    ike::CookieSecrets secrets;
    friend bool operator==(const CookieSecretsRecord&, const CookieSecretsRecord&) = default;
};
// A complete copy of the active member's state follows (Replica::snapshot).
struct BulkBegin {
    std::uint64_t epoch = 0;
    std::uint64_t bulk_id = 0;
    friend bool operator==(const BulkBegin&, const BulkBegin&) = default;
};
struct BulkEnd {
    std::uint64_t bulk_id = 0;
    std::uint64_t ike_sa_count = 0;
    friend bool operator==(const BulkEnd&, const BulkEnd&) = default;
};

using Record =
    std::variant<ike::IkeSaEstablished, ike::IkeMessageIdsAdvanced, ike::ChildSaAdded,
                 ike::ChildSaRekeyed, ike::ChildSaDeleted, ike::IkeSaRekeyed, ike::IkeSaDeleted,
                 Checkpoints, CookieSecretsRecord, BulkBegin, BulkEnd>;

// The record for an engine event (same alternative).
Record to_record(ike::Event e);

// Encodes `r` with its times relative to `now` (the sender's clock).
Bytes encode(const Record& r, Time now);

// Decodes one record, rebuilding its times relative to `now` (the
// receiver's clock). Strict: any deviation from the format above is an Error
// naming the field, with the offset where it was found.
Result<Record> decode(BytesView b, Time now);

// "IkeSaEstablished", "Checkpoints", ... for logs.
const char* record_name(const Record& r);

// Splits counters into records of at most kMaxCheckpoints each.
std::vector<Checkpoints> batch_checkpoints(const std::vector<CounterCheckpoint>& all);

// Whether two records are equal, field by field. (The engine's event structs
// define no operator==, and defining one for types of another namespace here
// could clash with one the engine adds later.)
bool same_record(const Record& a, const Record& b);

}  // namespace ikecluster::cluster
