#include "daemon/dispatch.h"

#include "daemon/describe.h"

namespace ikecluster::daemon {

void OutputDispatcher::dispatch(std::vector<ike::Output> outputs) {
    // The data plane may batch what installs and removals change (routes);
    // it is flushed before the next datagram, so the IKE_AUTH response never
    // leaves before the SA's route exists, and at the end, so nothing waits
    // past this call. A takeover's thousands of installs come with no
    // datagram in between (Daemon::pump holds those back) and go as one
    // flush.
    bool unflushed = false;
    for (auto& o : outputs) {
        if (auto* d = std::get_if<ike::SendDatagram>(&o)) {
            if (unflushed) {
                dp_.flush();
                unflushed = false;
            }
            ++stats_.datagrams;
            // A failed send is not fatal: the engine retransmits requests,
            // and a lost response is re-requested by the peer.
            if (auto st = net_.send(d->local, d->remote, d->data); !st) {
                ++stats_.send_errors;
                log_.warn(Subsystem::NET, "{}", st.error().what);
            }
        } else if (auto* in = std::get_if<ike::InstallChildSa>(&o)) {
            ++stats_.installs;
            dp_.install(*in);
            unflushed = true;
        } else if (auto* rm = std::get_if<ike::RemoveChildSa>(&o)) {
            ++stats_.removals;
            dp_.remove(*rm);
            unflushed = true;
        } else if (auto* adj = std::get_if<ike::AdjustChildCounters>(&o)) {
            dp_.adjust(*adj);
        } else if (auto* ev = std::get_if<ike::Event>(&o)) {
            ++stats_.events;
            if (auto line = event_line(*ev)) {
                log_.info(Subsystem::IKE, "{}", *line);
            } else {
                log_.log(Subsystem::IKE, Level::TRACE, "message IDs advanced");
            }
            if (observer_) observer_(*ev);
        }
    }
    if (unflushed) dp_.flush();
}

}  // namespace ikecluster::daemon
