#include "net/netlink.h"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ikecluster::net {

namespace {

Error sys_error(const char* what, int err) {
    return Error{0, std::string(what) + ": " + std::strerror(err)};
}

int family_of(const IpAddress& a) {
    return a.is_v6() ? AF_INET6 : AF_INET;
}

}  // namespace

Netlink::Netlink(mnl_socket* s) : sock_(s), portid_(mnl_socket_get_portid(s)) {}

Netlink::Netlink(Netlink&& o) noexcept : sock_(o.sock_), portid_(o.portid_), seq_(o.seq_) {
    o.sock_ = nullptr;
}

Netlink& Netlink::operator=(Netlink&& o) noexcept {
    if (this != &o) {
        if (sock_) mnl_socket_close(sock_);
        sock_ = o.sock_;
        portid_ = o.portid_;
        seq_ = o.seq_;
        o.sock_ = nullptr;
    }
    return *this;
}

Netlink::~Netlink() {
    if (sock_) mnl_socket_close(sock_);
}

Result<Netlink> Netlink::open() {
    mnl_socket* s = mnl_socket_open(NETLINK_ROUTE);
    if (!s) return sys_error("netlink socket", errno);
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close(s);
        return sys_error("netlink bind", e);
    }
    return Netlink(s);
}

Result<int> Netlink::ifindex(const std::string& name) {
    unsigned idx = if_nametoindex(name.c_str());
    if (idx == 0) return sys_error(("interface " + name).c_str(), errno);
    return int(idx);
}

// Sends one request with NLM_F_ACK and reads until the kernel's answer to
// it; a negative error in the ACK becomes the Status.
Status Netlink::request(void* buf) {
    auto* nlh = static_cast<nlmsghdr*>(buf);
    nlh->nlmsg_seq = seq_++;
    nlh->nlmsg_flags |= NLM_F_ACK;
    last_errno_ = 0;
    auto failed = [this](const char* what, int err) {
        last_errno_ = err;
        return sys_error(what, err);
    };
    if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return failed("netlink send", errno);
    std::vector<char> rx(MNL_SOCKET_BUFFER_SIZE);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(sock_, rx.data(), rx.size());
        if (n < 0) return failed("netlink receive", errno);
        int r = mnl_cb_run(rx.data(), std::size_t(n), nlh->nlmsg_seq, portid_, nullptr, nullptr);
        if (r == MNL_CB_ERROR) return failed("netlink", errno);
        if (r == MNL_CB_STOP) return Ok{};
        // MNL_CB_OK without the ACK yet: keep reading.
    }
}

Status Netlink::link_up(int ifindex, std::uint32_t mtu) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = ifindex;
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = IFF_UP;
    if (mtu) mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    return request(nlh);
}

namespace {

void put_route(nlmsghdr* nlh, const Prefix& dst, int ifindex, const IpAddress* src,
               std::uint32_t table, std::uint32_t metric) {
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = std::uint8_t(family_of(dst.addr));
    rtm->rtm_dst_len = dst.len;
    rtm->rtm_table = table < 256 ? std::uint8_t(table) : std::uint8_t(RT_TABLE_UNSPEC);
    rtm->rtm_protocol = RTPROT_STATIC;
    rtm->rtm_scope = RT_SCOPE_LINK;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put(nlh, RTA_DST, dst.addr.bytes().size(), dst.addr.bytes().data());
    mnl_attr_put_u32(nlh, RTA_OIF, std::uint32_t(ifindex));
    if (table >= 256) mnl_attr_put_u32(nlh, RTA_TABLE, table);
    if (metric) mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
    if (src && src->is_v6() == dst.addr.is_v6())
        mnl_attr_put(nlh, RTA_PREFSRC, src->bytes().size(), src->bytes().data());
}

void put_addr(nlmsghdr* nlh, int ifindex, const Prefix& a, std::uint32_t flags = 0) {
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = std::uint8_t(family_of(a.addr));
    ifa->ifa_prefixlen = a.len;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = std::uint32_t(ifindex);
    // The 8-bit field for old kernels, IFA_FLAGS for the full set.
    ifa->ifa_flags = std::uint8_t(flags);
    mnl_attr_put(nlh, IFA_LOCAL, a.addr.bytes().size(), a.addr.bytes().data());
    mnl_attr_put(nlh, IFA_ADDRESS, a.addr.bytes().size(), a.addr.bytes().data());
    if (flags) mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
}

}  // namespace

Status Netlink::add_route(const Prefix& dst, int ifindex, const IpAddress* src, std::uint32_t table,
                          std::uint32_t metric) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
    put_route(nlh, dst, ifindex, src, table, metric);
    return request(nlh);
}

Status Netlink::del_route(const Prefix& dst, int ifindex, std::uint32_t table,
                          std::uint32_t metric) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_DELROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    put_route(nlh, dst, ifindex, nullptr, table, metric);
    return request(nlh);
}

Status Netlink::add_address(int ifindex, const Prefix& a, std::uint32_t flags) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
    put_addr(nlh, ifindex, a, flags);
    return request(nlh);
}

Status Netlink::del_address(int ifindex, const Prefix& a) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_DELADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    put_addr(nlh, ifindex, a);
    return request(nlh);
}

namespace {

void put_rule(nlmsghdr* nlh, const Netlink::Rule& r) {
    // struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
    auto* h = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
    h->family = r.v6 ? AF_INET6 : AF_INET;
    h->action = FR_ACT_TO_TBL;
    h->table = r.table < 256 ? std::uint8_t(r.table) : std::uint8_t(RT_TABLE_UNSPEC);
    if (r.invert) h->flags |= FIB_RULE_INVERT;
    mnl_attr_put_u32(nlh, FRA_PRIORITY, r.priority);
    mnl_attr_put_u32(nlh, FRA_TABLE, r.table);
    if (r.fwmark || r.fwmask) {
        mnl_attr_put_u32(nlh, FRA_FWMARK, r.fwmark);
        mnl_attr_put_u32(nlh, FRA_FWMASK, r.fwmask);
    }
    if (r.ip_proto) mnl_attr_put_u8(nlh, FRA_IP_PROTO, r.ip_proto);
    if (r.sport) {
        fib_rule_port_range pr{r.sport, r.sport};
        mnl_attr_put(nlh, FRA_SPORT_RANGE, sizeof pr, &pr);
    }
}

}  // namespace

Status Netlink::add_rule(const Rule& r) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_NEWRULE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    put_rule(nlh, r);
    return request(nlh);
}

Status Netlink::del_rule(const Rule& r) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_DELRULE;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    put_rule(nlh, r);
    return request(nlh);
}

}  // namespace ikecluster::net
