// Complete IKE_SA_INIT + IKE_AUTH handshakes per second between two engines in
// one process (aes256gcm16-prfsha256-x25519, ESP aes256gcm16, PSK). Compare
// with BM_HandshakeCryptoOneSide in crypto_bench (x2 for both sides): the
// ratio is the engine's overhead over the cryptographic floor.
#include <benchmark/benchmark.h>

#include "crypto/random.h"
#include "ike/engine.h"

using namespace ikecluster;
using namespace ikecluster::ike;

namespace {

ConnectionConfig conn(const char* name, const char* local, const char* remote, const char* lid,
                      const char* rid, const char* lts, const char* rts) {
    ConnectionConfig c;
    c.name = name;
    c.local_addrs = {*IpAddress::parse(local)};
    c.remote_addrs = {*IpAddress::parse(remote)};
    c.local_id = *Identity::parse(lid);
    c.remote_id = *Identity::parse(rid);
    c.psk = to_bytes("benchmark pre-shared key");
    c.ike_proposals = *parse_proposals("aes256gcm16-prfsha256-x25519", ProposalKind::IKE);
    ChildConfig ch;
    ch.name = "net";
    ch.local_ts = *parse_ts_list(lts);
    ch.remote_ts = *parse_ts_list(rts);
    ch.esp_proposals = *parse_proposals("aes256gcm16", ProposalKind::ESP);
    c.children.push_back(ch);
    return c;
}

void BM_EngineHandshake(benchmark::State& state) {
    crypto::DeterministicRandom ri(1), rr(2);
    EngineConfig ci, cr;
    ci.connections.push_back(conn("c", "198.51.100.2", "198.51.100.1", "client.example",
                                  "gw.example", "192.0.2.0/24", "203.0.113.0/24"));
    cr.connections.push_back(conn("g", "198.51.100.1", "198.51.100.2", "gw.example",
                                  "client.example", "203.0.113.0/24", "192.0.2.0/24"));
    cr.half_open_per_peer = 1u << 30;
    cr.half_open_limit = 1u << 30;
    Engine init(ci, ri), resp(cr, rr);
    Time now = Time::from_ms(1);
    std::int64_t done = 0;
    for (auto _ : state) {
        (void)init.initiate(now, "c");
        for (int round = 0; round < 4; ++round) {
            for (auto& o : init.take_outputs()) {
                if (auto* d = std::get_if<SendDatagram>(&o))
                    resp.receive(now, d->remote, d->local, d->data);
                if (auto* e = std::get_if<Event>(&o);
                    e && std::holds_alternative<IkeSaEstablished>(*e))
                    ++done;
            }
            for (auto& o : resp.take_outputs()) {
                if (auto* d = std::get_if<SendDatagram>(&o))
                    init.receive(now, d->remote, d->local, d->data);
            }
        }
    }
    state.counters["established"] = double(done);
    state.counters["handshakes/s"] = benchmark::Counter(double(done), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EngineHandshake)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
