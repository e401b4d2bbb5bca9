#!/usr/bin/env python3
"""Plots the failover timelines bench/failover-at-scale.sh wrote.

    plot-failover.py OUT_DIR PNG

OUT_DIR holds results.jsonl and one <system>-<N>.csv per run (t_ms from the
kill, tunnels_with_reply, replies, probes, ike_sa_init per bucket). For the
largest N each system ran, the plot shows the share of the probes sent in each
bucket that were answered (capped at 100 %: an answer can land in the bucket
after its probe's) and the IKE_SA_INIT requests the clients sent. Probes, not
tunnels: the recovery sweep probes the tunnels not back yet more often than
the round does.
"""
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    out, png = sys.argv[1], sys.argv[2]
    runs = [json.loads(l) for l in open(os.path.join(out, "results.jsonl")) if l.strip()]
    largest = {}
    for r in runs:
        if r.get("tunnels", 0) > 0 and r["n"] >= largest.get(r["system"], {"n": -1})["n"]:
            largest[r["system"]] = r
    if not largest:
        print("no runs to plot")
        return 1
    names = {"ikecluster": "ikecluster hot standby (2 members)",
             "keepalived": "keepalived + 2 strongSwan 5.9.8 (cold standby)"}
    fig, axes = plt.subplots(len(largest), 1, figsize=(9, 3.2 * len(largest)), squeeze=False)
    for ax, (system, r) in zip(axes[:, 0], sorted(largest.items())):
        rows = list(csv.DictReader(open(os.path.join(out, f"{system}-{r['n']}.csv"))))
        t = [float(x["t_ms"]) / 1000 for x in rows]
        if len(t) < 2:
            continue
        bucket_ms = (t[1] - t[0]) * 1000
        share = [min(100.0, 100 * int(x["replies"]) / int(x["probes"])) if int(x["probes"]) else 0
                 for x in rows]
        inits = [int(x["ike_sa_init"]) for x in rows]
        ax.plot(t, share, drawstyle="steps-post", color="tab:blue", lw=1)
        ax.set_ylabel("probes answered, %", color="tab:blue")
        ax.set_ylim(0, 110)
        ax.axvline(0, color="red", lw=1, ls="--")
        ax.text(0, 102, " kill -9", color="red", va="bottom", fontsize=8)
        back = r.get("all_back_sent_ms", r["all_back_ms"])
        lower = r.get("all_back_lower_ms")
        if back < 0:
            when = "not within the run"
        elif lower is not None:
            when = f"between {lower / 1000:.2f} and {back / 1000:.2f} s"
        else:
            when = f"by {back / 1000:.2f} s"
        title = (f"{names.get(system, system)}: {r['n']} tunnels, every one back {when};\n"
                 f"{r['ike_sa_init_after_mark']} IKE_SA_INIT after the kill, "
                 f"{r['esp_lost']} probes lost")
        ax.set_title(title, fontsize=9)
        ax2 = ax.twinx()
        ax2.bar(t, inits, width=bucket_ms / 1000, align="edge", color="tab:orange", alpha=0.5)
        ax2.set_ylabel("IKE_SA_INIT sent / bucket", color="tab:orange")
        lo = max(min(t), -3)
        hi = min(max(t), max(3, back / 1000 + 3 if back >= 0 else max(t)))
        ax.set_xlim(lo, hi)
        ax.set_xlabel(f"seconds from the kill ({bucket_ms:.0f} ms buckets, "
                      f"each tunnel probed every {r['probe_interval_ms']:.0f} ms)")
    cores = os.cpu_count() or 0
    fig.suptitle("Failover at scale: ICMP echo through every tunnel across kill -9 "
                 f"of the active gateway ({cores} cores, one machine)", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
