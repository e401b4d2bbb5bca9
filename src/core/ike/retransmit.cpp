#include "ike/retransmit.h"

#include <algorithm>
#include <cmath>

namespace ikecluster::ike {

Duration Retransmitter::timeout_for(int n) const {
    double ns = double(cfg_->timeout.count()) * std::pow(cfg_->base, n);
    double cap = double(cfg_->max_timeout.count());
    return Duration(static_cast<Duration::rep>(std::min(ns, cap)));
}

void Retransmitter::start(Time now, std::uint32_t message_id, std::vector<Bytes> datagrams) {
    active_ = true;
    hurried_ = Duration{0};
    message_id_ = message_id;
    datagrams_ = std::move(datagrams);
    sent_ = 1;
    deadline_ = now + timeout_for(0);
}

void Retransmitter::stop() {
    active_ = false;
    datagrams_.clear();
    deadline_ = Time::max();
}

Retransmitter::Action Retransmitter::on_timer(Time now) {
    if (!active_ || now < deadline_) return Action::NONE;
    if (sent_ > cfg_->tries) {
        stop();
        return Action::GIVE_UP;
    }
    deadline_ = now + (hurried_.count() ? hurried_ : timeout_for(sent_));
    ++sent_;
    return Action::RESEND;
}

void Retransmitter::hurry(Time now, int more, Duration timeout) {
    if (!active_) return;
    // sent_ - 1 retransmissions so far; on_timer gives up once sent_ > tries.
    sent_ = std::max(sent_, cfg_->tries + 1 - more);
    if (hurried_.count() == 0 || timeout < hurried_) hurried_ = timeout;
    deadline_ = std::min(deadline_, now + hurried_);
}

}  // namespace ikecluster::ike
