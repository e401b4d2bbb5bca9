// libFuzzer target: the IKE message decoder on untrusted datagrams (before
// authentication). Any crash, sanitizer report, or disagreement between a
// decode and the decode of its re-encoding aborts.
#include <cstdint>
#include <cstdlib>

#include "wire/esp.h"
#include "wire/message.h"
#include "wire/notify.h"

using namespace ikecluster;
using namespace ikecluster::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    BytesView in(data, size);

    // Port 4500 demultiplexing first, as the daemon does.
    if (auto c = classify_udp_encap(in); c && c->kind == UdpEncapKind::ESP) {
        (void)parse_esp_header(c->payload);
        (void)parse_esp_trailer(c->payload);
    }

    auto m = decode_message(in);
    if (m) {
        Bytes again = encode_message(*m);
        auto m2 = decode_message(again);
        if (!m2 || !(*m2 == *m)) std::abort();  // encode/decode must agree
        (void)m->unsupported_critical();
        (void)encrypted_body_offset(again);
        for (const Payload& p : m->payloads) {
            if (auto* n = p.as<NotifyPayload>()) {
                (void)parse_message_id_sync(*n);
                (void)parse_redirect(*n);
                (void)parse_replay_counter_sync(*n);
                (void)parse_ticket_lt_opaque(*n);
                (void)parse_signature_hashes(*n);
            }
        }
    }

    // The same bytes as the decrypted inside of an SK payload.
    if (size > 1) {
        auto inner = decode_payloads(data[0], in.subspan(1));
        if (inner) {
            Bytes out;
            std::uint8_t first = encode_payloads(*inner, out);
            auto back = decode_payloads(first, out);
            if (!back || !(*back == *inner)) std::abort();
        }
    }
    return 0;
}
