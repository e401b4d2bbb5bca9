#include "ike/identity.h"

#include "base/net.h"

namespace ikecluster::ike {

Result<Identity> Identity::parse(std::string_view text) {
    auto strip = [&](std::string_view prefix) {
        if (text.substr(0, prefix.size()) != prefix) return false;
        text.remove_prefix(prefix.size());
        return true;
    };
    auto bad = [&](const std::string& why) {
        return Error{0, "identity '" + std::string(text) + "': " + why};
    };
    if (strip("keyid:") || strip("@#")) {
        auto b = from_hex(text.substr(0, 2) == "0x" ? text.substr(2) : text);
        if (!b || b->empty()) return bad("KEY_ID needs hex digits");
        return Identity{IdType::KEY_ID, *b};
    }
    if (strip("ipv4:")) {
        auto a = IpAddress::parse(text);
        if (!a || !a->is_v4()) return bad("not an IPv4 address");
        return Identity{IdType::IPV4_ADDR, to_bytes(a->bytes())};
    }
    if (strip("ipv6:")) {
        auto a = IpAddress::parse(text);
        if (!a || !a->is_v6()) return bad("not an IPv6 address");
        return Identity{IdType::IPV6_ADDR, to_bytes(a->bytes())};
    }
    if (strip("fqdn:") || strip("@")) {
        if (text.empty()) return bad("empty FQDN");
        return Identity{IdType::FQDN, to_bytes(text)};
    }
    if (strip("email:") || strip("rfc822:")) {
        if (text.empty()) return bad("empty RFC822 address");
        return Identity{IdType::RFC822_ADDR, to_bytes(text)};
    }
    if (text.empty()) return bad("empty identity");
    if (auto a = IpAddress::parse(text)) {
        return Identity{a->is_v4() ? IdType::IPV4_ADDR : IdType::IPV6_ADDR, to_bytes(a->bytes())};
    }
    if (text.find('@') != std::string_view::npos)
        return Identity{IdType::RFC822_ADDR, to_bytes(text)};
    return Identity{IdType::FQDN, to_bytes(text)};
}

std::string Identity::to_string() const {
    switch (type) {
        case IdType::IPV4_ADDR:
        case IdType::IPV6_ADDR:
            if (auto a = IpAddress::from_bytes(data)) return a->to_string();
            return "ip:" + to_hex(data);
        case IdType::FQDN:
        case IdType::RFC822_ADDR:
            return std::string(data.begin(), data.end());
        case IdType::KEY_ID:
            return "keyid:" + to_hex(data);
        case IdType::DER_ASN1_DN:
            return "dn:" + to_hex(data);
        case IdType::DER_ASN1_GN:
            return "gn:" + to_hex(data);
    }
    return "id" + std::to_string(int(type)) + ":" + to_hex(data);
}

}  // namespace ikecluster::ike
