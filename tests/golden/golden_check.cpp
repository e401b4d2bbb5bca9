#include "golden/golden_check.h"

#include <sstream>

#include "crypto/keys.h"
#include "crypto/sk_cipher.h"
#include "wire/message.h"

namespace ikecluster::golden {
namespace {

using namespace ikecluster::wire;

struct Checker {
    const GoldenExchange& g;
    CheckReport r;

    void ok(const std::string& s) { r.lines.push_back("ok   " + s); }
    void fail(const std::string& s) {
        r.lines.push_back("FAIL " + s);
        r.failures.push_back(g.path + ": " + s);
    }
    void expect(bool cond, const std::string& s) { cond ? ok(s) : fail(s); }

    std::string describe(const std::vector<Payload>& ps) {
        std::string out;
        for (const auto& p : ps) {
            if (!out.empty()) out += ' ';
            if (auto* n = p.as<NotifyPayload>()) {
                const char* name = notify_name(n->type);
                out += std::string("N(") + (name ? name : std::to_string(n->type)) + ")";
            } else {
                out += payload_name(std::uint8_t(p.type));
            }
        }
        return out;
    }

    template <typename T>
    const T* get(const std::vector<Payload>& ps, PayloadType type) {
        for (const auto& p : ps) {
            if (p.type == type) return p.as<T>();
        }
        return nullptr;
    }

    // Decrypts an IKE_AUTH message and returns its inner payloads.
    std::optional<std::vector<Payload>> open(const GoldenMessage& gm, const Message& m,
                                             BytesView ek, BytesView ak,
                                             const crypto::CipherSuite& suite, const char* who) {
        auto off = encrypted_body_offset(gm.data);
        const SkPayload* sk = m.payloads.empty() ? nullptr : m.payloads.back().as<SkPayload>();
        if (!off || !sk) {
            fail(std::string(who) + ": no SK payload");
            return std::nullopt;
        }
        auto c = crypto::SkCipher::create(suite.encr, suite.key_bits, suite.integ, ek, ak);
        if (!c) {
            fail(std::string(who) + ": SkCipher: " + c.error().what);
            return std::nullopt;
        }
        BytesView aad(gm.data.data(), *off);
        auto plain = (*c)->open(aad, sk->body);
        if (!plain) {
            fail(std::string(who) + ": decrypt: " + plain.error().what);
            return std::nullopt;
        }
        ok(std::string(who) + ": SK payload decrypted (" + std::to_string(plain->size()) +
           " bytes of payloads)");
        auto inner = decode_payloads(sk->first_inner, *plain);
        if (!inner) {
            fail(std::string(who) + ": inner payloads: " + inner.error().what);
            return std::nullopt;
        }
        ok(std::string(who) + ": inner payloads [ " + describe(*inner) + " ]");
        Bytes again;
        encode_payloads(*inner, again);
        expect(again == *plain, std::string(who) + ": inner payloads re-encode byte-exactly");
        return std::move(*inner);
    }

    void verify_auth(const std::vector<Payload>& inner, PayloadType id_type, BytesView real_message,
                     BytesView peer_nonce, BytesView sk_p, PrfId prf, const char* who) {
        const Payload* idp = nullptr;
        for (const auto& p : inner) {
            if (p.type == id_type) idp = &p;
        }
        auto* auth = get<AuthPayload>(inner, PayloadType::AUTH);
        if (!idp || !auth) {
            fail(std::string(who) + ": no ID or AUTH payload");
            return;
        }
        Bytes id_body;
        encode_body(*idp, id_body);
        Bytes so = crypto::signed_octets(prf, real_message, peer_nonce, sk_p, id_body);
        Bytes expected = crypto::psk_auth(prf, to_bytes(g.psk), so);
        const IdPayload* id = idp->as<IdPayload>();
        std::string idtext(id->data.begin(), id->data.end());
        expect(
            auth->method == 2 && equal_ct(expected, auth->data),
            std::string(who) + ": AUTH (PSK, method 2) of '" + idtext + "' verified with our prf");
    }

    void run() {
        if (g.messages.size() < 4) {
            fail("fewer than 4 messages");
            return;
        }
        std::vector<Message> msgs;
        for (std::size_t i = 0; i < 4; ++i) {
            const auto& gm = g.messages[i];
            auto m = decode_message(gm.data);
            if (!m) {
                fail("message " + std::to_string(i + 1) + " does not decode: " + m.error().what +
                     " at offset " + std::to_string(m.error().offset));
                return;
            }
            std::ostringstream s;
            s << "message " << i + 1 << " (" << (gm.from_initiator ? "i>r" : "r>i") << ", "
              << gm.data.size() << " bytes, exchange " << int(m->header.exchange) << ", msgid "
              << m->header.message_id << ") [ " << describe(m->payloads) << " ] decodes";
            ok(s.str());
            expect(encode_message(*m) == gm.data,
                   "message " + std::to_string(i + 1) + " re-encodes byte-exactly");
            msgs.push_back(std::move(*m));
        }
        const Message &m1 = msgs[0], &m2 = msgs[1];
        auto* n1 = get<NoncePayload>(m1.payloads, PayloadType::NONCE);
        auto* n2 = get<NoncePayload>(m2.payloads, PayloadType::NONCE);
        auto* sa2 = get<SaPayload>(m2.payloads, PayloadType::SA);
        if (!n1 || !n2 || !sa2 || sa2->proposals.size() != 1) {
            fail("IKE_SA_INIT lacks Nonce or a single chosen proposal");
            return;
        }
        crypto::CipherSuite suite;
        for (const Transform& t : sa2->proposals[0].transforms) {
            switch (t.type) {
                case TransformType::ENCR:
                    suite.encr = EncrId(t.id);
                    suite.key_bits = t.key_length().value_or(0);
                    break;
                case TransformType::PRF:
                    suite.prf = PrfId(t.id);
                    break;
                case TransformType::INTEG:
                    suite.integ = IntegId(t.id);
                    break;
                case TransformType::DH:
                    suite.dh = DhId(t.id);
                    break;
                default:
                    break;
            }
        }
        ok("chosen IKE proposal: encr " + std::to_string(int(suite.encr)) + "/" +
           std::to_string(suite.key_bits) + " integ " + std::to_string(int(suite.integ)) + " prf " +
           std::to_string(int(suite.prf)) + " dh " + std::to_string(int(suite.dh)) + " (" +
           g.suite + ")");
        std::uint64_t spi_i = m2.header.spi_i, spi_r = m2.header.spi_r;
        auto keys = crypto::derive_ike_keys(suite, g.secret("dh_secret"), n1->nonce, n2->nonce,
                                            spi_i, spi_r);
        if (!keys) {
            fail("derive_ike_keys: " + keys.error().what);
            return;
        }
        expect(keys->skeyseed == g.secret("skeyseed"), "SKEYSEED matches charon's");
        const std::pair<const char*, const Bytes*> ks[] = {
            {"sk_d", &keys->sk_d},   {"sk_ai", &keys->sk_ai}, {"sk_ar", &keys->sk_ar},
            {"sk_ei", &keys->sk_ei}, {"sk_er", &keys->sk_er}, {"sk_pi", &keys->sk_pi},
            {"sk_pr", &keys->sk_pr}};
        for (auto [name, value] : ks) {
            expect(*value == g.secret(name), std::string(name) + " matches charon's (" +
                                                 std::to_string(value->size()) + " bytes)");
        }
        auto in3 =
            open(g.messages[2], msgs[2], keys->sk_ei, keys->sk_ai, suite, "IKE_AUTH request");
        auto in4 =
            open(g.messages[3], msgs[3], keys->sk_er, keys->sk_ar, suite, "IKE_AUTH response");
        if (in3) {
            verify_auth(*in3, PayloadType::IDi, g.messages[0].data, n2->nonce, keys->sk_pi,
                        suite.prf, "initiator");
        }
        if (in4) {
            verify_auth(*in4, PayloadType::IDr, g.messages[1].data, n1->nonce, keys->sk_pr,
                        suite.prf, "responder");
        }
    }
};

}  // namespace

CheckReport check_exchange(const GoldenExchange& g) {
    Checker c{g, {}};
    c.run();
    return std::move(c.r);
}

}  // namespace ikecluster::golden
