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
    deadline_ = now + timeout_for(sent_);
    ++sent_;
    return Action::RESEND;
}

}  // namespace ikecluster::ike
