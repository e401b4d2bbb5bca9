// libFuzzer target: ESP decapsulation (esp::InboundSa::open) for every suite,
// with and without ESN.
//
// Input: byte 0 picks the suite (bits 0-1), ESN (bit 2) and the mode
// (bit 3); the rest is
//   mode 0: a raw ESP packet, opened as it is (almost always an ICV failure,
//           which exercises the length, SPI and replay checks before it);
//   mode 1: a list of <seq:4><len:1><inner bytes> records, each sealed by
//           the matching OutboundSa (so the ICV is valid) with the sequence
//           number moved to <seq> first, then opened: this reaches the
//           replay window, decryption, trailer and padding checks with
//           authentic packets, in the order and with the gaps the fuzzer
//           chooses.
// The keys are fixed; nothing persists between inputs.
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "esp/esp_sa.h"

using namespace ikecluster;

namespace {

ike::ChildSaState make_child(int suite, bool esn) {
    ike::ChildSaState c;
    c.spi_in = c.spi_out = 0x01020304;
    c.esn = esn;
    switch (suite) {
        case 0:
            c.encr = {EncrId::AES_GCM_16, 256};
            c.keys.encr_in = c.keys.encr_out = Bytes(36, 0x11);
            break;
        case 1:
            c.encr = {EncrId::AES_GCM_16, 128};
            c.keys.encr_in = c.keys.encr_out = Bytes(20, 0x22);
            break;
        case 2:
            c.encr = {EncrId::CHACHA20_POLY1305, 256};
            c.keys.encr_in = c.keys.encr_out = Bytes(36, 0x33);
            break;
        default:
            c.encr = {EncrId::AES_CBC, 128};
            c.integ = IntegId::HMAC_SHA2_256_128;
            c.keys.encr_in = c.keys.encr_out = Bytes(16, 0x44);
            c.keys.integ_in = c.keys.integ_out = Bytes(32, 0x55);
            break;
    }
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const int suite = data[0] & 3;
    const bool esn = data[0] & 4;
    const bool sealed = data[0] & 8;
    ++data;
    --size;
    ike::ChildSaState child = make_child(suite, esn);
    esp::SaOptions opts;
    opts.replay_window = 128;
    auto in = esp::InboundSa::create(child, opts);
    if (!in) __builtin_trap();  // the fixed keys are valid: a failure here is a bug
    static std::array<std::uint8_t, 70000> buf;
    if (!sealed) {
        std::memcpy(buf.data(), data, size);
        (void)in->open(std::span<std::uint8_t>(buf.data(), size));
        return 0;
    }
    auto out = esp::OutboundSa::create(child, opts);
    if (!out) __builtin_trap();
    while (size >= 5) {
        std::uint32_t seq = std::uint32_t(data[0]) << 24 | std::uint32_t(data[1]) << 16 |
                            std::uint32_t(data[2]) << 8 | data[3];
        std::size_t len = std::min<std::size_t>(data[4], size - 5);
        const std::uint8_t* inner = data + 5;
        data += 5 + len;
        size -= 5 + len;
        if (seq >= out->next_seq()) (void)out->set_next_seq(seq == 0 ? 1 : seq);
        std::memcpy(buf.data() + esp::kHeadroom, inner, len);
        auto s = out->seal(
            std::span<std::uint8_t>(buf.data(), esp::kHeadroom + len + esp::kTailroom), len, 4);
        if (!s) continue;
        const std::uint64_t sent = out->next_seq() - 1;
        const std::uint64_t highest = in->window().highest();
        auto o = in->open(*s);
        // An authentic packet must open unless the replay window refuses it,
        // or (ESN) it jumped so far ahead that RFC 4303 Appendix A's
        // inference places it in the previous 2^32 epoch -- senders never
        // jump that far, and the ICV then rightly fails.
        const bool beyond_inference = esn && sent > highest && sent - highest >= (1ull << 32) - 128;
        if (!o && o.error().code != esp::SaError::DUPLICATE &&
            o.error().code != esp::SaError::TOO_OLD && !beyond_inference)
            __builtin_trap();
        if (o && (o->payload.size() != len || std::memcmp(o->payload.data(), inner, len) != 0))
            __builtin_trap();
    }
    return 0;
}
