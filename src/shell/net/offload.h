// TUN offloads (IFF_VNET_HDR): with TSO enabled on the TUN device the local
// TCP stack hands us one large segment (up to 64 KiB) plus a virtio-net
// header instead of ~45 MTU-sized packets, which saves it most of its
// per-packet work and saves us most of the read() calls. We cut the large
// segment into MTU-sized TCP segments ourselves (what the kernel's GSO would
// have done) before each goes into ESP, and complete checksums the stack left
// to "hardware" (VIRTIO_NET_HDR_F_NEEDS_CSUM).
//
// Pure functions over buffers; no allocation. Bad headers (the kernel's, so
// only a bug would produce them) get an error, never an out-of-bounds access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "base/bytes.h"
#include "base/result.h"

namespace ikecluster::net {

// struct virtio_net_hdr (10 octets), in the host's byte order: TUN's vnet
// header is little-endian on little-endian hosts (TUNSETVNETLE not needed).
struct VnetHdr {
    static constexpr std::size_t kSize = 10;
    static constexpr std::uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
    static constexpr std::uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
    static constexpr std::uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
    static constexpr std::uint8_t kGsoTcpv4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
    static constexpr std::uint8_t kGsoTcpv6 = 4;   // VIRTIO_NET_HDR_GSO_TCPV6
    static constexpr std::uint8_t kGsoEcn = 0x80;  // VIRTIO_NET_HDR_GSO_ECN
    std::uint8_t flags = 0;
    std::uint8_t gso_type = kGsoNone;
    std::uint16_t hdr_len = 0;
    std::uint16_t gso_size = 0;
    std::uint16_t csum_start = 0;
    std::uint16_t csum_offset = 0;

    static VnetHdr load(const std::uint8_t* p);
    void store(std::uint8_t* p) const;
};

// A large TCP segment and how it splits.
struct GsoPlan {
    bool v6 = false;
    std::size_t ip_len = 0;    // IP header octets (IPv6: 40, no extension headers)
    std::size_t hdr_len = 0;   // IP + TCP header octets, copied into every segment
    std::size_t mss = 0;       // payload octets per segment (the last may be shorter)
    std::size_t payload = 0;   // TCP payload octets in all
    std::size_t segments = 0;  // ceil(payload / mss), at least 1
    // Largest segment: hdr_len + mss.
    std::size_t max_segment() const { return hdr_len + mss; }
};

// Checks the packet against its vnet header and plans the split. For
// gso_type NONE the plan has one segment: the packet as it is.
Result<GsoPlan> gso_plan(const VnetHdr& h, BytesView packet);

// Writes segment `i` (< plan.segments) of `packet` into `out` (at least
// plan.max_segment() octets) with its IP length, IPv4 ID and header
// checksum, TCP sequence number, flags (FIN/PSH only on the last, CWR only
// on the first) and TCP checksum set. Returns its length.
std::size_t gso_segment(const GsoPlan& plan, BytesView packet, std::size_t i,
                        std::span<std::uint8_t> out);

// VIRTIO_NET_HDR_F_NEEDS_CSUM on a packet that is not split: the 16-bit
// field at csum_start + csum_offset holds the pseudo-header sum; fold the
// rest of the packet from csum_start into it. False if out of bounds.
bool complete_checksum(std::span<std::uint8_t> packet, std::size_t csum_start,
                       std::size_t csum_offset);

// ---- receive side: coalescing (GRO) ----------------------------------------------
//
// Decrypted TCP segments of one stream, written to TUN one by one, cost the
// local stack one trip each. Consecutive segments of one flow are merged
// into one large segment written with a GSO vnet header, as a NIC's GRO
// would (the stack cuts it again if it forwards it). Only the plain case
// merges: IPv4 without fragmentation or IPv6 without extension headers, TCP
// with ACK (PSH allowed on the last), identical IP and TCP headers apart
// from lengths, IPv4 ID/checksum, sequence number and checksum, each
// segment's checksum verified first (the stack will not see them again),
// and every segment but the last exactly `mss` long.

struct TcpSegment {
    bool v6 = false;
    std::size_t ip_len = 0, hdr_len = 0, payload = 0;
    std::uint32_t seq = 0;
    bool psh = false;
};
// A segment that may be merged, or nullopt (not TCP, other flags, options
// we do not merge across, a bad checksum, ...): written as it is.
std::optional<TcpSegment> gro_candidate(BytesView packet);
// Whether `next` continues the run that starts with `first` and ends with
// `last` (`run_payload` octets so far) and may be appended to it.
bool gro_continues(BytesView first, const TcpSegment& f, const TcpSegment& last, BytesView next,
                   const TcpSegment& n, std::size_t run_payload);
// Writes the vnet header and the merged packet for `segs` (a run accepted
// by gro_continues; the first one's headers, every payload) into `out`,
// which needs VnetHdr::kSize + headers + the payloads. Returns the octets
// written. One segment: a zero vnet header and the packet unchanged.
std::size_t gro_merge(std::span<const BytesView> segs, const TcpSegment& first,
                      std::span<std::uint8_t> out);

}  // namespace ikecluster::net
