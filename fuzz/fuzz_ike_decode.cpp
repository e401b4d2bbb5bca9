// libFuzzer target: the IKE message decoder on untrusted datagrams (before
// authentication), the decoder of decrypted SK contents, the typed notify
// parsers and the UDP/4500 + ESP framing. Any crash, sanitizer report, or
// disagreement between a decode and the decode of its re-encoding aborts.
#include <cstdint>
#include <cstdlib>

#include "wire/esp.h"
#include "wire/message.h"
#include "wire/notify.h"

using namespace ikecluster;
using namespace ikecluster::wire;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// Every typed parser on every notify: results are not checked, only that
// nothing crashes or reads out of bounds.
void parse_notifies(const std::vector<Payload>& payloads) {
    for (const Payload& p : payloads) {
        const NotifyPayload* n = p.as<NotifyPayload>();
        if (!n) continue;
        (void)parse_invalid_ke(*n);
        (void)parse_nat_detection(*n);
        (void)parse_cookie(*n);
        (void)parse_child_spi(*n);
        (void)parse_child_sa_ref(*n);
        (void)parse_invalid_spi(*n);
        (void)parse_unsupported_critical(*n);
        (void)parse_signature_hashes(*n);
        (void)parse_message_id_sync(*n);
        (void)parse_replay_counter_sync(*n);
        (void)parse_redirect(*n);
        (void)parse_ticket_lt_opaque(*n);
        (void)parse_ticket_opaque(*n);
    }
}

void fuzz_message(BytesView in) {
    DecodeFailure why = DecodeFailure::MALFORMED;
    auto m = decode_message(in, &why);
    auto h = decode_header(in);
    if (!m) {
        // A failed full decode never leaves a version problem unreported.
        if (h && h->major_version != 2) check(why == DecodeFailure::UNSUPPORTED_VERSION);
        check(m.error().offset <= in.size());
        return;
    }
    check(h.ok() && h->major_version == 2 && h->length == in.size());
    Bytes again = encode_message(*m);
    auto m2 = decode_message(again);
    check(m2.ok() && *m2 == *m);
    check(encode_message(*m2) == again);  // encoding is a fixed point
    (void)m->unsupported_critical();
    // The AAD split agrees with the decoded SK/SKF body.
    auto off = encrypted_body_offset(again);
    if (!m->payloads.empty()) {
        const Payload& last = m->payloads.back();
        if (auto* sk = last.as<SkPayload>()) {
            check(off && *off + sk->body.size() == again.size());
        } else if (auto* skf = last.as<SkfPayload>()) {
            check(off && *off + skf->body.size() == again.size());
        } else {
            check(!off);
        }
    }
    parse_notifies(m->payloads);
}

// The input as "first payload type | decrypted SK contents".
void fuzz_inner(BytesView in) {
    if (in.empty()) return;
    auto inner = decode_payloads(in[0], in.subspan(1), 32);
    if (!inner) {
        check(inner.error().offset >= 32 && inner.error().offset <= 32 + in.size());
        return;
    }
    EncodedChain c = encode_payloads(*inner);
    auto back = decode_payloads(c.first, c.bytes);
    check(back.ok() && *back == *inner);
    parse_notifies(*inner);
}

// The input as a UDP/4500 datagram, then as decrypted ESP.
void fuzz_esp(BytesView in) {
    auto c = classify_udp_encap(in);
    if (c) {
        if (c->kind == UdpEncapKind::IKE) fuzz_message(c->payload);
        if (c->kind == UdpEncapKind::ESP) {
            auto h = parse_esp_header(c->payload);
            check(h.ok() || h.error().code == EspError::RESERVED_SPI);
        }
    } else {
        (void)c.error().to_error();
    }
    auto t = parse_esp_trailer(in);
    if (t) {
        check(t->payload_len + t->pad_length + 2 == in.size());
        // A trailer for the same payload length, 4-octet aligned: 2..5 octets.
        std::uint8_t buf[258];
        auto n = write_esp_trailer(buf, t->payload_len, 1, t->next_header);
        check(n.ok() && *n >= 2 && *n <= 5);
    } else {
        (void)t.error().to_error();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    BytesView in(data, size);
    fuzz_message(in);
    fuzz_inner(in);
    fuzz_esp(in);
    return 0;
}
