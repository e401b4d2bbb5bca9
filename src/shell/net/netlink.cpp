#include "net/netlink.h"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
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
    const int fd = mnl_socket_get_fd(s);
    // NETLINK_CAP_ACK (Linux 4.3+): an error ACK carries the header of the
    // request but not all of it, so a batch's error ACKs stay small. Older
    // kernels copy the whole request back; the batch still works.
    int one = 1;
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    Netlink nl(s);
    // Each ACK is a datagram of its own and is charged to the receive
    // buffer at its skb size (well over its 36 bytes, about 1 KiB); a batch
    // of kBatchMessages must not overflow the default 208 KiB.
    (void)nl.set_receive_buffer(1 << 20);
    return nl;
}

Status Netlink::set_receive_buffer(int bytes) {
    // FORCE needs CAP_NET_ADMIN (which route changes need anyway); plain
    // SO_RCVBUF is capped at net.core.rmem_max.
    const int fd = mnl_socket_get_fd(sock_);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0)
        return sys_error("netlink SO_RCVBUF", errno);
    return Ok{};
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

Status BatchResult::status(std::size_t i) const {
    if (i >= err.size()) return Error{0, "netlink batch: no such request"};
    if (err[i] == 0) return Ok{};
    if (err[i] == nlbatch::kPending) return Error{0, "netlink: no answer from the kernel"};
    return sys_error("netlink", err[i]);
}

namespace nlbatch {

void put_route_request(std::vector<std::uint8_t>& buf, const RouteRequest& r, std::uint32_t seq) {
    // Room for the largest route message (about 100 bytes: header, rtmsg,
    // two 16-byte addresses and three u32 attributes), trimmed below.
    constexpr std::size_t kRoom = 256;
    const std::size_t at = buf.size();
    buf.resize(at + kRoom);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data() + at);
    nlh->nlmsg_type = r.add ? RTM_NEWROUTE : RTM_DELROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    if (r.add) nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;
    nlh->nlmsg_seq = seq;
    put_route(nlh, r.dst, r.ifindex, r.add && r.src ? &*r.src : nullptr, r.table, r.metric);
    // mnl keeps nlmsg_len aligned, so the next message starts right here.
    buf.resize(at + nlh->nlmsg_len);
}

std::size_t match_acks(std::span<const std::uint8_t> d, std::uint32_t portid,
                       std::uint32_t first_seq, std::span<int> errs) {
    std::size_t set = 0, off = 0;
    while (d.size() - off >= sizeof(nlmsghdr)) {
        nlmsghdr h;
        std::memcpy(&h, d.data() + off, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > d.size() - off) break;
        // The kernel answers NLM_F_ACK with NLMSG_ERROR: error 0 is the
        // acknowledgment, a negative errno the failure.
        const bool ours = h.nlmsg_pid == 0 || portid == 0 || h.nlmsg_pid == portid;
        if (h.nlmsg_type == NLMSG_ERROR && ours && h.nlmsg_len >= sizeof h + sizeof(std::int32_t)) {
            std::int32_t e;
            std::memcpy(&e, d.data() + off + sizeof h, sizeof e);
            const std::uint32_t idx = h.nlmsg_seq - first_seq;  // wraps like the numbers do
            if (idx < errs.size() && errs[idx] == kPending) {
                errs[idx] = e == 0 ? 0 : (e < 0 && e > -4096 ? -e : EPROTO);
                ++set;
            }
        }
        const std::size_t step = NLMSG_ALIGN(h.nlmsg_len);
        if (step > d.size() - off) break;
        off += step;
    }
    return set;
}

}  // namespace nlbatch

BatchResult Netlink::route_batch(std::span<const RouteRequest> reqs) {
    BatchResult res;
    res.err.assign(reqs.size(), nlbatch::kPending);
    std::vector<std::uint8_t> wire;
    wire.reserve(kBatchBytes + 256);
    for (std::size_t i = 0; i < reqs.size();) {
        wire.clear();
        const std::uint32_t first = seq_;
        std::size_t j = i;
        while (j < reqs.size() && j - i < kBatchMessages && wire.size() < kBatchBytes)
            nlbatch::put_route_request(wire, reqs[j++], seq_++);
        send_batch(reqs.subspan(i, j - i), wire, first, std::span<int>(res.err).subspan(i, j - i));
        i = j;
    }
    for (int e : res.err)
        res.failed += e != 0;
    last_errno_ = 0;
    return res;
}

// One send of many requests, then their ACKs. The kernel handles the
// messages of one send in order, in the sender's context, and queues an
// ACK for each to this socket.
void Netlink::send_batch(std::span<const RouteRequest> reqs, std::span<const std::uint8_t> wire,
                         std::uint32_t first_seq, std::span<int> errs) {
    if (mnl_socket_sendto(sock_, wire.data(), wire.size()) < 0) {
        const int e = errno;
        for (int& x : errs)
            x = e;
        return;
    }
    const int fd = mnl_socket_get_fd(sock_);
    constexpr std::size_t kVlen = 64, kSlot = 512;  // an ACK is 36 bytes (more without CAP_ACK)
    std::vector<std::uint8_t> rx(kVlen * kSlot);
    std::array<iovec, kVlen> iov;
    std::array<mmsghdr, kVlen> msgs;
    std::size_t outstanding = errs.size();
    bool overrun = false;
    while (outstanding > 0) {
        for (std::size_t k = 0; k < kVlen; ++k) {
            iov[k] = {rx.data() + k * kSlot, kSlot};
            msgs[k] = {};
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        // Blocks for the first ACK only; after an overrun, nothing more is
        // coming for the lost ones, so take what is queued and stop.
        const int flags = MSG_WAITFORONE | (overrun ? MSG_DONTWAIT : 0);
        const int n = recvmmsg(fd, msgs.data(), kVlen, flags, nullptr);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {
                overrun = true;
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                const int e = errno;
                for (int& x : errs) {
                    if (x == nlbatch::kPending) x = e;
                }
                return;
            }
            break;  // drained after an overrun
        }
        for (int k = 0; k < n; ++k) {
            const std::size_t len = std::min<std::size_t>(msgs[k].msg_len, kSlot);
            outstanding -= nlbatch::match_acks(
                std::span<const std::uint8_t>(rx.data() + std::size_t(k) * kSlot, len), portid_,
                first_seq, errs);
        }
    }
    // ACKs the overrun dropped: those requests again, one by one. The
    // kernel did carry them out, so an add simply replaces its route, and a
    // delete that now finds nothing (ESRCH) has done what it was asked.
    for (std::size_t k = 0; k < errs.size(); ++k) {
        if (errs[k] != nlbatch::kPending) continue;
        std::vector<std::uint8_t> one;
        nlbatch::put_route_request(one, reqs[k], 0);
        const bool ok = request(one.data()).ok();
        const bool gone = !reqs[k].add && (last_errno_ == ESRCH || last_errno_ == ENOENT);
        errs[k] = ok || gone ? 0 : (last_errno_ ? last_errno_ : EPROTO);
    }
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
