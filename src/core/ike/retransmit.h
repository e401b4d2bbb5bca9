// Retransmission of our outstanding request (RFC 7296 §2.1, §2.4): the
// initiator of an exchange retransmits until it gets a response, backing off
// exponentially, and gives up on the IKE SA after a bounded number of tries.
// Only the request is ever retransmitted; responders resend a cached response
// only when the request arrives again.
#pragma once

#include <cstdint>
#include <vector>

#include "base/bytes.h"
#include "base/time.h"
#include "ike/config.h"

namespace ikecluster::ike {

class Retransmitter {
  public:
    explicit Retransmitter(const RetransmitConfig& cfg) : cfg_(&cfg) {}

    // Remembers the request (one datagram, or several fragments) sent at `now`.
    void start(Time now, std::uint32_t message_id, std::vector<Bytes> datagrams);
    void stop();
    bool active() const { return active_; }
    std::uint32_t message_id() const { return message_id_; }
    const std::vector<Bytes>& datagrams() const { return datagrams_; }
    int retransmissions() const { return sent_ - 1; }

    Time deadline() const { return active_ ? deadline_ : Time::max(); }

    enum class Action { NONE, RESEND, GIVE_UP };
    // Called when the deadline passes: RESEND (the caller sends datagrams()
    // again; the next deadline is already set) or GIVE_UP after `tries`
    // retransmissions went unanswered for one more timeout.
    Action on_timer(Time now);

    // Timeout before retransmission n (0 = the first wait): timeout * base^n,
    // capped at max_timeout.
    Duration timeout_for(int n) const;

    // A hint that the peer may have lost the SA (an unprotected
    // INVALID_IKE_SPI, RFC 7296 §2.21.4): at most `more` retransmissions
    // remain, `timeout` apart, so an SA whose peer really forgot it goes
    // within about (more + 1) * timeout, while a peer that is alive still
    // answers one of them. Never lengthens the schedule.
    void hurry(Time now, int more, Duration timeout);

  private:
    const RetransmitConfig* cfg_;
    bool active_ = false;
    std::uint32_t message_id_ = 0;
    std::vector<Bytes> datagrams_;
    int sent_ = 0;
    Time deadline_ = Time::max();
    Duration hurried_{0};  // fixed timeout after hurry(); 0 = the normal schedule
};

}  // namespace ikecluster::ike
