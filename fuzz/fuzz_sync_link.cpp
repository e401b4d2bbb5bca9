// libFuzzer target: cluster::SyncLink::receive on an established link pair.
//
// Input: a list of <op:1><len:2><bytes> items. For each item, by op % 4:
//   0: <bytes> go to member 2 as a raw datagram (header checks, ICV);
//   1: member 1 sends <bytes> as a record, and its datagrams reach member 2
//      with the byte at position len % size flipped (auth failures after a
//      valid header, and then the real datagram, so state moves on);
//   2: <bytes> is sealed as a DATA plaintext from member 1 to member 2 with
//      the real keys (derived here the way sync_link.h documents them), so
//      the frame parser, ACK handling and reassembly see arbitrary frames;
//   3: the same as a HELLO plaintext (handshake state machine).
// Time advances 1 ms per item and timers run, so retransmissions and ACKs
// happen too. Nothing persists between inputs.
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "base/buffer.h"
#include "cluster/sync_link.h"
#include "crypto/aead.h"
#include "crypto/prf.h"

using namespace ikecluster;
using namespace ikecluster::cluster;

namespace {

const Bytes kSecret(32, 0x42);

SyncLinkConfig config(std::uint16_t self, std::uint16_t peer) {
    SyncLinkConfig c;
    c.self = self;
    c.peer = peer;
    c.keys = {ClusterKey{7, kSecret}};
    return c;
}

// The key schedule from sync_link.h, restated independently.
std::unique_ptr<crypto::Aead> key(const char* label, std::uint16_t from, std::uint16_t to,
                                  std::uint64_t from_session,
                                  std::optional<std::uint64_t> to_session) {
    crypto::Prf prf(PrfId::HMAC_SHA2_256);
    Bytes prk = prf.prf(as_view("ikecluster sync v1"), kSecret);
    Bytes info = to_bytes(label);
    Writer w(info);
    w.u8(7);
    w.u16(from);
    w.u16(to);
    w.u64(from_session);
    if (to_session) w.u64(*to_session);
    const std::uint8_t one = 1, two = 2;
    Bytes t1 = prf.prf(prk, {info, BytesView(&one, 1)});
    Bytes t2 = prf.prf(prk, {t1, info, BytesView(&two, 1)});
    Bytes km = concat(t1, t2);
    km.resize(36);
    return std::move(crypto::Aead::create(EncrId::AES_GCM_16, 256, km).value());
}

Bytes seal(crypto::Aead& aead, std::uint8_t type, std::uint64_t from_session,
           std::uint64_t to_session, std::uint64_t pn, BytesView pt) {
    Bytes d;
    Writer w(d);
    w.u8(1);
    w.u8(type);
    w.u8(7);
    w.u8(0);
    w.u16(1);
    w.u16(2);
    w.u64(from_session);
    w.u64(to_session);
    w.u64(pn);
    std::uint8_t iv[8];
    store_be64(iv, pn);
    Bytes ct = aead.seal(crypto::Aead::Iv(iv, 8), d, pt);
    d.insert(d.end(), ct.begin(), ct.end());
    return d;
}

void shuttle(SyncLink& a, SyncLink& b, Time now) {
    for (int round = 0; round < 8; ++round) {
        for (const Bytes& d : a.take_datagrams())
            b.receive(now, d);
        for (const Bytes& d : b.take_datagrams())
            a.receive(now, d);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    crypto::DeterministicRandom ra(1), rb(2);
    Time now = Time::from_ms(1000);
    auto a = std::move(SyncLink::create(config(1, 2), ra, now).value());
    auto b = std::move(SyncLink::create(config(2, 1), rb, now).value());
    a.on_timer(now);
    shuttle(a, b, now);
    if (!a.established() || !b.established()) __builtin_trap();
    auto data_key = key("data", 1, 2, a.session(), b.session());
    auto hello_key = key("hello", 1, 2, a.session(), std::nullopt);
    // Above what member 1 has sent so far; where the two meet later, one of
    // them is dropped as a replay, which is a path worth reaching too.
    std::uint64_t pn = 1000;

    Reader r(BytesView(data, size));
    for (;;) {
        std::uint8_t op = 0;
        std::uint16_t len = 0;
        BytesView item;
        if (!r.u8(op) || !r.u16(len)) break;
        if (!r.bytes(std::min<std::size_t>(len, r.remaining()), item)) break;
        now = now + std::chrono::milliseconds(1);
        switch (op % 4) {
            case 0:
                b.receive(now, item);
                break;
            case 1: {
                (void)a.send(to_bytes(item));
                a.flush(now);
                for (Bytes& d : a.take_datagrams()) {
                    Bytes bad = d;
                    bad[len % bad.size()] ^= 0x01;
                    b.receive(now, bad);
                    b.receive(now, d);
                }
                break;
            }
            case 2:
                b.receive(now, seal(*data_key, 2, a.session(), b.session(), pn++, item));
                break;
            default:
                b.receive(now,
                          seal(*hello_key, 1, a.session(), op & 4 ? b.session() : 0, pn++, item));
                break;
        }
        if (a.next_deadline() <= now) a.on_timer(now);
        if (b.next_deadline() <= now) b.on_timer(now);
        // Member 2's answers reach member 1 (ACKs of forged frames included).
        for (const Bytes& d : b.take_datagrams())
            a.receive(now, d);
        (void)a.take_datagrams();
        (void)b.take_delivered();
        (void)a.take_peer_reset();
        (void)b.take_peer_reset();
    }
    return 0;
}
