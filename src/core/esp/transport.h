// Transport mode framing (RFC 4303 §3.1.1): ESP sits between the IP header
// and the upper-layer protocol, and Next Header names that protocol (6 TCP,
// 17 UDP, 1 ICMP, 58 ICMPv6, ...).
//
// The data plane reads whole IP packets from the local stack (TUN) and sends
// ESP through sockets whose kernel writes the outer IP header, so on the way
// out the original IP header is taken off (transport_strip) and only the
// upper-layer payload is sealed; on the way in the IP header is written again
// in front of the decrypted payload (transport_rebuild) from the SA's
// addresses, and the result goes to the local stack.
//
// What the header carries that ESP does not: IPv4 options, the IPv4
// fragment fields and IPv6 extension headers. Fragments cannot go through a
// transport-mode SA this way (RFC 4301 §7 wants them reassembled first; the
// rebuilt header could not say where a fragment belongs), and neither can
// IPv6 extension headers (they would have to be placed around ESP, RFC 4303
// §3.1.1): transport_strip refuses both with a clear error, and the data
// plane counts them as dropped. TCP uses path MTU discovery and never sends
// fragments; the TUN MTU keeps everything else below the fragment size.
//
// Sans-IO, no allocation; bad input gets an error, never an out-of-bounds read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.h"
#include "base/net.h"

namespace ikecluster::esp {

enum class TransportError : std::uint8_t {
    TRUNCATED,       // shorter than its IP header or than the header's length field
    NOT_IP,          // version nibble neither 4 nor 6
    BAD_HEADER,      // IPv4 IHL below 5
    FRAGMENT,        // IPv4 MF set or fragment offset nonzero, or an IPv6 fragment header
    EXTENSION,       // an IPv6 extension header before the upper layer
    TOO_LARGE,       // rebuilt packet would not fit the IP length field
    NO_ROOM,         // not enough headroom in front of the payload to rebuild
    FAMILY_MISMATCH  // source and destination of different families
};
const char* to_string(TransportError e);

// An outbound IP packet split for transport-mode ESP.
struct TransportStrip {
    std::size_t header_len = 0;    // octets of IP header (options included) to drop
    std::size_t payload_len = 0;   // the upper-layer octets after it (IP length field)
    std::uint8_t next_header = 0;  // the upper-layer protocol: ESP's Next Header
    IpAddress src, dst;
};
struct TransportStripResult {
    bool ok = false;
    TransportError error = TransportError::TRUNCATED;
    TransportStrip value;
};
// Splits an IPv4 or IPv6 packet into header and upper-layer payload; octets
// past the IP length field (link padding) are ignored.
TransportStripResult transport_strip(BytesView packet);

// Writes a 20-octet IPv4 or 40-octet IPv6 header from `src` to `dst` with
// protocol/Next Header `next_header` directly in front of
// region[payload_offset, payload_offset + payload_len). TTL/Hop Limit 64,
// DSCP/ECN 0, IPv4 ID 0 with DF (the packet is never forwarded: it goes to
// the local stack). Returns the whole packet, a subspan of `region`;
// errors NO_ROOM, TOO_LARGE, FAMILY_MISMATCH.
struct TransportRebuildResult {
    bool ok = false;
    TransportError error = TransportError::NO_ROOM;
    std::span<std::uint8_t> packet;
};
TransportRebuildResult transport_rebuild(std::span<std::uint8_t> region, std::size_t payload_offset,
                                         std::size_t payload_len, const IpAddress& src,
                                         const IpAddress& dst, std::uint8_t next_header);

// Recomputes the TCP, UDP or ICMPv6 checksum of an IPv4/IPv6 packet without
// options or extension headers (as transport_rebuild writes them) over the
// pseudo-header of its current addresses. RFC 3948 §3.1.2: after ESP-in-UDP
// through a NAT the peer's checksum covers addresses that are no longer in
// the header; ESP's ICV already authenticated the payload, so recomputing is
// safe. An IPv4 UDP checksum of 0 (none, RFC 768) stays 0. Other protocols
// and packets too short for their transport header are left alone; returns
// whether a checksum was written.
bool transport_fix_checksum(std::span<std::uint8_t> packet);

}  // namespace ikecluster::esp
