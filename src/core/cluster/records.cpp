#include "cluster/records.h"

#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "base/buffer.h"

namespace ikecluster::cluster {
namespace {

// ---- time -------------------------------------------------------------------

enum TimeTag : std::uint8_t { kTimeUnset = 0, kTimeNever = 1, kTimeRelative = 2 };

// ---- encoding ---------------------------------------------------------------

class Enc {
  public:
    Enc(Bytes& out, Time now) : w_(out), now_(now) {}

    void u8(std::uint8_t v) { w_.u8(v); }
    void u16(std::uint16_t v) { w_.u16(v); }
    void u32(std::uint32_t v) { w_.u32(v); }
    void u64(std::uint64_t v) { w_.u64(v); }
    void boolean(bool v) { w_.u8(v ? 1 : 0); }

    // Too long for its limit: a length of all ones and nothing else, which
    // the decoder rejects (see the header).
    void blob(BytesView v, std::size_t limit) {
        if (v.size() > limit) {
            w_.u16(0xFFFF);
            return;
        }
        w_.u16(static_cast<std::uint16_t>(v.size()));
        w_.bytes(v);
    }
    void str(const std::string& s) { blob(as_view(s), kMaxName); }
    // Counts are one octet; 0xFF exceeds every count limit.
    bool count(std::size_t n, std::size_t limit) {
        if (n > limit) {
            w_.u8(0xFF);
            return false;
        }
        w_.u8(static_cast<std::uint8_t>(n));
        return true;
    }

    void time(Time t) {
        if (t == Time{}) {
            w_.u8(kTimeUnset);
            return;
        }
        if (t == Time::max()) {
            w_.u8(kTimeNever);
            return;
        }
        std::int64_t rel = 0;
        if (__builtin_sub_overflow(t.since_epoch.count(), now_.since_epoch.count(), &rel)) {
            // Only possible with a negative `now`; a time further ahead than
            // the clock can express is "never", one further back saturates.
            if (t > now_) {
                w_.u8(kTimeNever);
                return;
            }
            rel = std::numeric_limits<std::int64_t>::min();
        }
        w_.u8(kTimeRelative);
        w_.u64(static_cast<std::uint64_t>(rel));
    }

    void addr(const IpAddress& a) {
        w_.u8(a.is_v6() ? 6 : 4);
        w_.bytes(a.bytes());
    }
    void endpoint(const Endpoint& e) {
        addr(e.addr);
        w_.u16(e.port);
    }
    void ts_list(const ike::TsList& l) {
        if (!count(l.size(), kMaxTrafficSelectors)) return;
        for (const auto& ts : l) {
            w_.u8(ts.ip_proto);
            w_.u16(ts.start_port);
            w_.u16(ts.end_port);
            addr(ts.start);
            addr(ts.end);
        }
    }
    void identity(const ike::Identity& id) {
        w_.u8(static_cast<std::uint8_t>(id.type));
        blob(id.data, kMaxIdentity);
    }
    void spis(const ike::IkeSpis& s) {
        w_.u64(s.spi_i);
        w_.u64(s.spi_r);
    }
    void msgids(const ike::MessageIds& m) {
        w_.u32(m.next_request_out);
        w_.u32(m.next_request_in);
        w_.u32(m.last_response_id);
        if (!count(m.last_response.size(), kMaxFragments)) return;
        for (const Bytes& d : m.last_response)
            blob(d, kMaxDatagram);
    }
    void encr(const ike::EncrAlg& e) {
        w_.u16(static_cast<std::uint16_t>(e.id));
        w_.u16(e.key_bits);
    }
    void child(const ike::ChildSaState& c) {
        str(c.config_name);
        w_.u32(c.unique_id);
        w_.u32(c.spi_in);
        w_.u32(c.spi_out);
        w_.u8(static_cast<std::uint8_t>(c.protocol));
        w_.u8(static_cast<std::uint8_t>(c.mode));
        encr(c.encr);
        w_.u16(static_cast<std::uint16_t>(c.integ));
        boolean(c.esn);
        blob(c.keys.encr_in, kMaxKey);
        blob(c.keys.integ_in, kMaxKey);
        blob(c.keys.encr_out, kMaxKey);
        blob(c.keys.integ_out, kMaxKey);
        ts_list(c.ts_local);
        ts_list(c.ts_remote);
        time(c.established);
        time(c.rekey_at);
        time(c.expire_at);
    }
    void sa(const ike::IkeSaState& s) {
        spis(s.spis);
        boolean(s.initiator);
        str(s.config_name);
        encr(s.suite.encr);
        w_.u16(static_cast<std::uint16_t>(s.suite.integ));
        w_.u16(static_cast<std::uint16_t>(s.suite.prf));
        w_.u16(static_cast<std::uint16_t>(s.suite.dh));
        for (const Bytes* k : {&s.keys.sk_d, &s.keys.sk_ai, &s.keys.sk_ar, &s.keys.sk_ei,
                               &s.keys.sk_er, &s.keys.sk_pi, &s.keys.sk_pr}) {
            blob(*k, kMaxKey);
        }
        identity(s.local_id);
        identity(s.remote_id);
        endpoint(s.local);
        endpoint(s.remote);
        w_.u8(static_cast<std::uint8_t>(s.nat));
        boolean(s.encap);
        w_.u8(static_cast<std::uint8_t>((s.peer.msgid_sync ? 1 : 0) | (s.peer.replay_sync ? 2 : 0) |
                                        (s.peer.redirect ? 4 : 0) | (s.peer.fragmentation ? 8 : 0) |
                                        (s.peer.mobike ? 16 : 0)));
        msgids(s.msgids);
        time(s.established);
        time(s.rekey_at);
        time(s.expire_at);
        if (!count(s.children.size(), kMaxChildren)) return;
        for (const auto& c : s.children)
            child(c);
    }
    void secret(const std::optional<ike::CookieSecret>& s) {
        boolean(s.has_value());
        if (!s) return;
        w_.u32(s->version);
        blob(s->secret, kMaxKey);
        time(s->created);
    }

    void body(const ike::IkeSaEstablished& r) { sa(r.sa); }
    void body(const ike::IkeMessageIdsAdvanced& r) {
        spis(r.spis);
        msgids(r.msgids);
    }
    void body(const ike::ChildSaAdded& r) {
        spis(r.ike);
        child(r.child);
    }
    void body(const ike::ChildSaRekeyed& r) {
        spis(r.ike);
        w_.u32(r.old_spi_in);
        child(r.child);
    }
    void body(const ike::ChildSaDeleted& r) {
        spis(r.ike);
        w_.u32(r.spi_in);
    }
    void body(const ike::IkeSaRekeyed& r) {
        spis(r.old_spis);
        sa(r.sa);
    }
    void body(const ike::IkeSaDeleted& r) {
        spis(r.spis);
        w_.u8(static_cast<std::uint8_t>(r.reason));
    }
    void body(const Checkpoints& r) {
        if (!count(r.items.size(), kMaxCheckpoints)) return;
        for (const auto& c : r.items) {
            spis(c.ike);
            w_.u32(c.spi_in);
            w_.u64(c.out_next_seq);
            w_.u64(c.in_highest);
        }
    }
    void body(const CookieSecretsRecord& r) {
        secret(r.secrets.current);
        secret(r.secrets.previous);
    }
    void body(const BulkBegin& r) {
        w_.u64(r.epoch);
        w_.u64(r.bulk_id);
    }
    void body(const BulkEnd& r) {
        w_.u64(r.bulk_id);
        w_.u64(r.ike_sa_count);
    }

  private:
    Writer w_;
    Time now_;
};

// ---- decoding ---------------------------------------------------------------

// Enumerations: only values the rest of the core knows how to handle.
bool valid_encr(std::uint16_t v) {
    switch (EncrId(v)) {
        case EncrId::AES_CBC:
        case EncrId::AES_GCM_16:
        case EncrId::CHACHA20_POLY1305:
            return true;
    }
    return false;
}
bool valid_integ(std::uint16_t v) {
    switch (IntegId(v)) {
        case IntegId::NONE:
        case IntegId::HMAC_SHA2_256_128:
        case IntegId::HMAC_SHA2_384_192:
        case IntegId::HMAC_SHA2_512_256:
            return true;
    }
    return false;
}
bool valid_prf(std::uint16_t v) {
    switch (PrfId(v)) {
        case PrfId::HMAC_SHA2_256:
        case PrfId::HMAC_SHA2_384:
        case PrfId::HMAC_SHA2_512:
            return true;
    }
    return false;
}
bool valid_dh(std::uint16_t v) {
    switch (DhId(v)) {
        case DhId::NONE:
        case DhId::MODP_2048:
        case DhId::ECP_256:
        case DhId::ECP_384:
        case DhId::CURVE25519:
            return true;
    }
    return false;
}
bool valid_id_type(std::uint8_t v) {
    switch (ike::IdType(v)) {
        case ike::IdType::IPV4_ADDR:
        case ike::IdType::FQDN:
        case ike::IdType::RFC822_ADDR:
        case ike::IdType::IPV6_ADDR:
        case ike::IdType::DER_ASN1_DN:
        case ike::IdType::DER_ASN1_GN:
        case ike::IdType::KEY_ID:
            return true;
    }
    return false;
}
// A Child SA is ESP or AH (RFC 7296 §3.3.1); IKE and NONE are not.
bool valid_child_protocol(std::uint8_t v) {
    return v == std::uint8_t(ProtocolId::ESP) || v == std::uint8_t(ProtocolId::AH);
}
constexpr std::uint8_t kMaxMode = std::uint8_t(ike::IpsecMode::TRANSPORT);
constexpr std::uint8_t kMaxNat = std::uint8_t(ike::NatState::BOTH);
constexpr std::uint8_t kMaxReason = std::uint8_t(ike::DeleteReason::REPLACED);
constexpr std::uint8_t kPeerBits = 0x1F;

// Reads fields and remembers the first failure as an Error naming the field
// (with the child or item index where there is one) and its offset.
class Dec {
  public:
    Dec(BytesView b, Time now) : r_(b), now_(now) {}

    Reader& reader() { return r_; }
    Error take_error() { return std::move(err_); }

    // Field names inside a list carry the list and index
    // ("sa.children[2].spi_in"), those in a nested struct its name.
    void enter(const char* list, std::size_t index = kNoIndex) {
        list_ = list;
        index_ = index;
    }
    void leave() { list_ = nullptr; }

    bool fail(std::size_t at, const char* field, const std::string& problem) {
        err_ = make_error(at, name(field) + ": " + problem);
        return false;
    }
    bool truncated(std::size_t n, const char* field) {
        return fail(r_.offset(), field,
                    "truncated: need " + std::to_string(n) + " bytes, have " +
                        std::to_string(r_.remaining()));
    }

    bool u8(std::uint8_t& v, const char* f) { return r_.u8(v) || truncated(1, f); }
    bool u16(std::uint16_t& v, const char* f) { return r_.u16(v) || truncated(2, f); }
    bool u32(std::uint32_t& v, const char* f) { return r_.u32(v) || truncated(4, f); }
    bool u64(std::uint64_t& v, const char* f) { return r_.u64(v) || truncated(8, f); }

    bool boolean(bool& v, const char* f) {
        std::size_t at = r_.offset();
        std::uint8_t b = 0;
        if (!u8(b, f)) return false;
        if (b > 1) return fail(at, f, "not a boolean: " + std::to_string(b));
        v = b == 1;
        return true;
    }
    // An enumeration of one octet with values 0..max.
    template <typename E>
    bool enum8(E& v, std::uint8_t max, const char* f) {
        std::size_t at = r_.offset();
        std::uint8_t b = 0;
        if (!u8(b, f)) return false;
        if (b > max) return fail(at, f, "unknown value " + std::to_string(b));
        v = E(b);
        return true;
    }
    // A two-octet IANA number that `valid` must accept.
    template <typename E>
    bool enum16(E& v, bool (*valid)(std::uint16_t), const char* f) {
        std::size_t at = r_.offset();
        std::uint16_t x = 0;
        if (!u16(x, f)) return false;
        if (!valid(x)) return fail(at, f, "unknown value " + std::to_string(x));
        v = E(x);
        return true;
    }
    bool count(std::size_t& n, std::size_t limit, const char* f) {
        std::size_t at = r_.offset();
        std::uint8_t b = 0;
        if (!u8(b, f)) return false;
        if (b > limit) {
            return fail(at, f, "count " + std::to_string(b) + " exceeds " + std::to_string(limit));
        }
        n = b;
        return true;
    }
    // Nothing is allocated before the reader has confirmed the bytes exist.
    bool view(BytesView& v, std::size_t limit, const char* f) {
        std::size_t at = r_.offset();
        std::uint16_t len = 0;
        if (!u16(len, f)) return false;
        if (len > limit) {
            return fail(at, f,
                        "length " + std::to_string(len) + " exceeds " + std::to_string(limit));
        }
        return r_.bytes(len, v) || truncated(len, f);
    }
    bool blob(Bytes& out, std::size_t limit, const char* f) {
        BytesView v;
        if (!view(v, limit, f)) return false;
        out.assign(v.begin(), v.end());
        return true;
    }
    bool str(std::string& out, const char* f) {
        BytesView v;
        if (!view(v, kMaxName, f)) return false;
        out.assign(v.begin(), v.end());
        return true;
    }

    bool time(Time& t, const char* f) {
        std::size_t at = r_.offset();
        std::uint8_t tag = 0;
        if (!u8(tag, f)) return false;
        switch (tag) {
            case kTimeUnset:
                t = Time{};
                return true;
            case kTimeNever:
                t = Time::max();
                return true;
            case kTimeRelative:
                break;
            default:
                return fail(at, f, "unknown time tag " + std::to_string(tag));
        }
        std::uint64_t raw = 0;
        if (!u64(raw, f)) return false;
        auto rel = static_cast<std::int64_t>(raw);
        std::int64_t abs = 0;
        if (__builtin_add_overflow(now_.since_epoch.count(), rel, &abs)) {
            // Beyond what this host's clock can express: never, or as far
            // back as it goes.
            t = rel > 0 ? Time::max() : Time{Duration::min()};
        } else {
            t = Time{Duration(abs)};
        }
        return true;
    }

    bool addr(IpAddress& a, const char* f) {
        std::size_t at = r_.offset();
        std::uint8_t fam = 0;
        if (!u8(fam, f)) return false;
        if (fam != 4 && fam != 6) {
            return fail(at, f, "unknown address family " + std::to_string(fam));
        }
        BytesView v;
        std::size_t n = fam == 4 ? 4 : 16;
        if (!r_.bytes(n, v)) return truncated(n, f);
        a = *IpAddress::from_bytes(v);
        return true;
    }
    bool endpoint(Endpoint& e, const char* addr_f, const char* port_f) {
        return addr(e.addr, addr_f) && u16(e.port, port_f);
    }
    bool ts_list(ike::TsList& l, const char* f) {
        std::size_t n = 0;
        if (!count(n, kMaxTrafficSelectors, f)) return false;
        l.resize(n);
        for (auto& ts : l) {
            if (!u8(ts.ip_proto, f) || !u16(ts.start_port, f) || !u16(ts.end_port, f) ||
                !addr(ts.start, f) || !addr(ts.end, f)) {
                return false;
            }
        }
        return true;
    }
    bool identity(ike::Identity& id, const char* type_f, const char* data_f) {
        std::size_t at = r_.offset();
        std::uint8_t t = 0;
        if (!u8(t, type_f)) return false;
        if (!valid_id_type(t)) return fail(at, type_f, "unknown ID type " + std::to_string(t));
        id.type = ike::IdType(t);
        return blob(id.data, kMaxIdentity, data_f);
    }
    bool spis(ike::IkeSpis& s, const char* f) { return u64(s.spi_i, f) && u64(s.spi_r, f); }
    bool msgids(ike::MessageIds& m) {
        std::size_t n = 0;
        if (!u32(m.next_request_out, "msgids.next_request_out") ||
            !u32(m.next_request_in, "msgids.next_request_in") ||
            !u32(m.last_response_id, "msgids.last_response_id") ||
            !count(n, kMaxFragments, "msgids.last_response")) {
            return false;
        }
        m.last_response.resize(n);
        for (Bytes& d : m.last_response) {
            if (!blob(d, kMaxDatagram, "msgids.last_response")) return false;
        }
        return true;
    }
    bool encr(ike::EncrAlg& e, const char* id_f, const char* bits_f) {
        return enum16(e.id, valid_encr, id_f) && u16(e.key_bits, bits_f);
    }
    // Field names are relative to a scope set by the caller ("child" or
    // "sa.children[i]").
    bool child(ike::ChildSaState& c) {
        return str(c.config_name, "config_name") && u32(c.unique_id, "unique_id") &&
               u32(c.spi_in, "spi_in") && u32(c.spi_out, "spi_out") && child_protocol(c.protocol) &&
               enum8(c.mode, kMaxMode, "mode") && encr(c.encr, "encr", "key_bits") &&
               enum16(c.integ, valid_integ, "integ") && boolean(c.esn, "esn") &&
               blob(c.keys.encr_in, kMaxKey, "keys.encr_in") &&
               blob(c.keys.integ_in, kMaxKey, "keys.integ_in") &&
               blob(c.keys.encr_out, kMaxKey, "keys.encr_out") &&
               blob(c.keys.integ_out, kMaxKey, "keys.integ_out") &&
               ts_list(c.ts_local, "ts_local") && ts_list(c.ts_remote, "ts_remote") &&
               time(c.established, "established") && time(c.rekey_at, "rekey_at") &&
               time(c.expire_at, "expire_at");
    }
    bool child_protocol(ProtocolId& p) {
        std::size_t at = r_.offset();
        std::uint8_t v = 0;
        if (!u8(v, "protocol")) return false;
        if (!valid_child_protocol(v)) {
            return fail(at, "protocol", "not ESP or AH: " + std::to_string(v));
        }
        p = ProtocolId(v);
        return true;
    }
    bool sa(ike::IkeSaState& s) {
        std::uint8_t peer = 0;
        std::size_t peer_at = 0;
        auto& k = s.keys;
        bool ok =
            spis(s.spis, "sa.spis") && boolean(s.initiator, "sa.initiator") &&
            str(s.config_name, "sa.config_name") &&
            encr(s.suite.encr, "sa.suite.encr", "sa.suite.key_bits") &&
            enum16(s.suite.integ, valid_integ, "sa.suite.integ") &&
            enum16(s.suite.prf, valid_prf, "sa.suite.prf") &&
            enum16(s.suite.dh, valid_dh, "sa.suite.dh") && blob(k.sk_d, kMaxKey, "sa.keys.sk_d") &&
            blob(k.sk_ai, kMaxKey, "sa.keys.sk_ai") && blob(k.sk_ar, kMaxKey, "sa.keys.sk_ar") &&
            blob(k.sk_ei, kMaxKey, "sa.keys.sk_ei") && blob(k.sk_er, kMaxKey, "sa.keys.sk_er") &&
            blob(k.sk_pi, kMaxKey, "sa.keys.sk_pi") && blob(k.sk_pr, kMaxKey, "sa.keys.sk_pr") &&
            identity(s.local_id, "sa.local_id.type", "sa.local_id.data") &&
            identity(s.remote_id, "sa.remote_id.type", "sa.remote_id.data") &&
            endpoint(s.local, "sa.local.addr", "sa.local.port") &&
            endpoint(s.remote, "sa.remote.addr", "sa.remote.port") &&
            enum8(s.nat, kMaxNat, "sa.nat") && boolean(s.encap, "sa.encap") &&
            (peer_at = r_.offset(), u8(peer, "sa.peer"));
        if (!ok) return false;
        if (peer & ~kPeerBits) return fail(peer_at, "sa.peer", "reserved capability bits set");
        s.peer.msgid_sync = peer & 1;
        s.peer.replay_sync = peer & 2;
        s.peer.redirect = peer & 4;
        s.peer.fragmentation = peer & 8;
        s.peer.mobike = peer & 16;
        std::size_t n = 0;
        if (!msgids(s.msgids) || !time(s.established, "sa.established") ||
            !time(s.rekey_at, "sa.rekey_at") || !time(s.expire_at, "sa.expire_at") ||
            !count(n, kMaxChildren, "sa.children")) {
            return false;
        }
        s.children.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            enter("sa.children", i);
            if (!child(s.children[i])) return false;
        }
        leave();
        return true;
    }
    bool secret(std::optional<ike::CookieSecret>& s, const char* f) {
        bool present = false;
        if (!boolean(present, f)) return false;
        if (!present) {
            s.reset();
            return true;
        }
        s.emplace();
        return u32(s->version, f) && blob(s->secret, kMaxKey, f) && time(s->created, f);
    }

    bool body(ike::IkeSaEstablished& r) { return sa(r.sa); }
    bool body(ike::IkeMessageIdsAdvanced& r) { return spis(r.spis, "spis") && msgids(r.msgids); }
    bool body(ike::ChildSaAdded& r) {
        if (!spis(r.ike, "ike")) return false;
        enter("child");
        return child(r.child);
    }
    bool body(ike::ChildSaRekeyed& r) {
        if (!spis(r.ike, "ike") || !u32(r.old_spi_in, "old_spi_in")) return false;
        enter("child");
        return child(r.child);
    }
    bool body(ike::ChildSaDeleted& r) { return spis(r.ike, "ike") && u32(r.spi_in, "spi_in"); }
    bool body(ike::IkeSaRekeyed& r) { return spis(r.old_spis, "old_spis") && sa(r.sa); }
    bool body(ike::IkeSaDeleted& r) {
        return spis(r.spis, "spis") && enum8(r.reason, kMaxReason, "reason");
    }
    bool body(Checkpoints& r) {
        std::size_t n = 0;
        if (!count(n, kMaxCheckpoints, "items")) return false;
        r.items.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            enter("items", i);
            auto& c = r.items[i];
            std::size_t at = 0;
            if (!spis(c.ike, "ike") || !u32(c.spi_in, "spi_in") ||
                !(at = r_.offset(), u64(c.out_next_seq, "out_next_seq")) ||
                !u64(c.in_highest, "in_highest")) {
                return false;
            }
            // RFC 4303 §3.3.3: the first packet sent carries 1, so the next
            // one to send is never 0.
            if (c.out_next_seq == 0) return fail(at, "out_next_seq", "0 is impossible");
        }
        leave();
        return true;
    }
    bool body(CookieSecretsRecord& r) {
        return secret(r.secrets.current, "current") && secret(r.secrets.previous, "previous");
    }
    bool body(BulkBegin& r) { return u64(r.epoch, "epoch") && u64(r.bulk_id, "bulk_id"); }
    bool body(BulkEnd& r) {
        return u64(r.bulk_id, "bulk_id") && u64(r.ike_sa_count, "ike_sa_count");
    }

  private:
    static constexpr std::size_t kNoIndex = std::numeric_limits<std::size_t>::max();

    std::string name(const char* field) const {
        if (!list_) return field;
        if (index_ == kNoIndex) return std::string(list_) + "." + field;
        return std::string(list_) + "[" + std::to_string(index_) + "]." + field;
    }

    Reader r_;
    Time now_;
    Error err_;
    const char* list_ = nullptr;
    std::size_t index_ = 0;
};

constexpr const char* kNames[] = {
    "IkeSaEstablished",
    "IkeMessageIdsAdvanced",
    "ChildSaAdded",
    "ChildSaRekeyed",
    "ChildSaDeleted",
    "IkeSaRekeyed",
    "IkeSaDeleted",
    "Checkpoints",
    "CookieSecretsRecord",
    "BulkBegin",
    "BulkEnd",
};
static_assert(std::size(kNames) == std::variant_size_v<Record>);

// Default-constructs the alternative with index `i` (i < variant size).
template <std::size_t... I>
Record make_alternative(std::size_t i, std::index_sequence<I...>) {
    Record r;
    (void)((i == I ? (r.emplace<I>(), true) : false) || ...);
    return r;
}

}  // namespace

Record to_record(ike::Event e) {
    return std::visit([](auto&& ev) -> Record { return Record(std::move(ev)); }, std::move(e));
}

Bytes encode(const Record& r, Time now) {
    Bytes out;
    out.reserve(64);
    Enc e(out, now);
    e.u8(kRecordVersion);
    e.u8(static_cast<std::uint8_t>(r.index() + 1));
    std::visit([&e](const auto& x) { e.body(x); }, r);
    return out;
}

Result<Record> decode(BytesView b, Time now) {
    Dec d(b, now);
    std::uint8_t version = 0, type = 0;
    if (!d.u8(version, "version")) return d.take_error();
    if (version != kRecordVersion) {
        return make_error(0, "unsupported record version " + std::to_string(version));
    }
    if (!d.u8(type, "type")) return d.take_error();
    if (type == 0 || type > std::variant_size_v<Record>) {
        return make_error(1, "unknown record type " + std::to_string(type));
    }
    Record r = make_alternative(type - 1, std::make_index_sequence<std::variant_size_v<Record>>{});
    bool ok = std::visit([&d](auto& x) { return d.body(x); }, r);
    if (!ok) {
        Error err = d.take_error();
        err.what = std::string(kNames[type - 1]) + ": " + err.what;
        return err;
    }
    if (!d.reader().empty()) {
        return make_error(d.reader().offset(), std::string(kNames[type - 1]) + ": " +
                                                   std::to_string(d.reader().remaining()) +
                                                   " trailing bytes");
    }
    return r;
}

const char* record_name(const Record& r) {
    return kNames[r.index()];
}

std::vector<Checkpoints> batch_checkpoints(const std::vector<CounterCheckpoint>& all) {
    std::vector<Checkpoints> out;
    out.reserve((all.size() + kMaxCheckpoints - 1) / kMaxCheckpoints);
    for (std::size_t i = 0; i < all.size(); i += kMaxCheckpoints) {
        std::size_t end = std::min(all.size(), i + kMaxCheckpoints);
        out.push_back(
            Checkpoints{{all.begin() + std::ptrdiff_t(i), all.begin() + std::ptrdiff_t(end)}});
    }
    return out;
}

namespace {

bool same(const ike::IkeSaEstablished& a, const ike::IkeSaEstablished& b) {
    return a.sa == b.sa;
}
bool same(const ike::IkeMessageIdsAdvanced& a, const ike::IkeMessageIdsAdvanced& b) {
    return a.spis == b.spis && a.msgids == b.msgids;
}
bool same(const ike::ChildSaAdded& a, const ike::ChildSaAdded& b) {
    return a.ike == b.ike && a.child == b.child;
}
bool same(const ike::ChildSaRekeyed& a, const ike::ChildSaRekeyed& b) {
    return a.ike == b.ike && a.old_spi_in == b.old_spi_in && a.child == b.child;
}
bool same(const ike::ChildSaDeleted& a, const ike::ChildSaDeleted& b) {
    return a.ike == b.ike && a.spi_in == b.spi_in;
}
bool same(const ike::IkeSaRekeyed& a, const ike::IkeSaRekeyed& b) {
    return a.old_spis == b.old_spis && a.sa == b.sa;
}
bool same(const ike::IkeSaDeleted& a, const ike::IkeSaDeleted& b) {
    return a.spis == b.spis && a.reason == b.reason;
}
template <typename T>
bool same(const T& a, const T& b) {
    return a == b;
}

}  // namespace

bool same_record(const Record& a, const Record& b) {
    if (a.index() != b.index()) return false;
    return std::visit(
        [&b](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            return same(x, std::get<T>(b));
        },
        a);
}

}  // namespace ikecluster::cluster
