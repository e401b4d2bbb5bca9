// libFuzzer target: the sync record decoder (cluster::decode) and the
// standby's Replica, both on bytes as a compromised or buggy peer member
// could send them.
//
// The input is used twice:
//   1. as one record: if it decodes, its re-encoding must decode to an equal
//      record (at the same clock reading), and it is applied to a replica;
//   2. as a stream of <len:2><record> frames applied in order to one
//      replica, so the fuzzer can build up state and then tear at it.
// After every apply the replica must keep its invariants: a rejected record
// leaves it unchanged, every child has counters and nothing else does, and
// its snapshot rebuilds an equal replica on an empty one.
#include <cstdint>
#include <cstdlib>

#include "base/buffer.h"
#include "cluster/records.h"
#include "cluster/replica.h"

using namespace ikecluster;
using namespace ikecluster::cluster;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

const Time kNow = Time::from_ms(1'000'000);

void check_invariants(const Replica& rep) {
    std::size_t children = 0;
    rep.for_each([&](const ike::IkeSaState& sa) {
        check(rep.find(sa.spis) == &sa);
        for (const auto& c : sa.children)
            check(rep.counters(c.spi_in).has_value());
        children += sa.children.size();
    });
    check(children == rep.child_sa_count());

    Replica copy;
    for (const Record& r : rep.snapshot(1, 1)) {
        auto d = decode(encode(r, kNow), kNow);
        check(d.ok());
        check(copy.apply(*d).ok());
    }
    check(copy == rep);
}

void apply_checked(Replica& rep, const Record& r) {
    Replica before = rep;
    Status s = rep.apply(r);
    // BulkEnd with a wrong count is the one rejection that changes state
    // (it ends the bulk, keeping what arrived).
    if (!s.ok() && !std::holds_alternative<BulkEnd>(r)) check(rep == before);
    check_invariants(rep);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    BytesView in(data, size);

    auto one = decode(in, kNow);
    if (one.ok()) {
        auto again = decode(encode(*one, kNow), kNow);
        check(again.ok());
        check(same_record(*again, *one));
        (void)record_name(*one);
        Replica rep;
        apply_checked(rep, *one);
    } else {
        check(one.error().offset <= size);
    }

    Replica rep;
    Reader r(in);
    std::uint16_t len = 0;
    BytesView frame;
    while (r.u16(len) && r.bytes(len, frame)) {
        auto d = decode(frame, kNow);
        if (!d.ok()) continue;
        apply_checked(rep, *d);
    }
    return 0;
}
