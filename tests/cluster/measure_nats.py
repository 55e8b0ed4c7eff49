"""Measures what a 3-node NATS cluster forwards over MQTT on this machine (docs/scaling.md).

Not a test (speed is never asserted): a rate ladder like bench/live's broker_limit, with the
same load generator (nw-mqtt-load: raw-socket MQTT 3.1.1, one TCP connection per device) and
counting subscriber, against the NATS cluster of natscluster.py. Publishers connect to node 1,
the subscriber to node 2, so every message crosses a route; QoS 1 also goes through the
replicated JetStream stream (R3) and the subscriber's consumer.

  export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
  cmake -S . -B build/bench-rel -DCMAKE_BUILD_TYPE=Release -DNEEDLEWATCH_BUILD_TESTS=OFF \
    -DNEEDLEWATCH_BUILD_BENCH=ON && cmake --build build/bench-rel --target nw-mqtt-load
  NW_LOAD_BIN=$PWD/build/bench-rel/bench/live/nw-mqtt-load \
    /usr/bin/python3 tests/cluster/measure_nats.py [--devices 1000] [--duration 6] [--qos 0 1] \
    [--broker nats|mosquitto]

Prints a Markdown table per QoS and the highest zero-loss rate.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "live"))

import benchlib  # noqa: E402  (bench/live: load generator, ladder, CPU meter)
import natscluster  # noqa: E402
import nwtest  # noqa: E402

RATES = {0: [5000, 10000, 20000, 30000, 40000, 60000, 80000],
         1: [2000, 5000, 10000, 15000, 20000, 30000, 40000]}


def broker_limit(pids, pub_port, sub_port, qos, devices, duration):
    step_no = [0]

    def step(rate):
        step_no[0] += 1
        sub = subprocess.Popen(
            benchlib.LOAD + ["sub", "--port", str(sub_port), "--qos", str(qos),
                             "--idle", "5"], stdout=subprocess.PIPE, text=True)
        try:
            if sub.stdout.readline().strip() != "ready":
                raise RuntimeError("counting subscriber did not get its SUBACK")
            meter = []
            load = benchlib.run_load(pub_port, devices, rate, qos, duration,
                                     f"n{step_no[0]}q{qos}d",
                                     on_connected=lambda: meter.append(benchlib.CpuMeter(*pids)))
            cpu = meter[0].stop()
            got = json.loads(sub.communicate(timeout=300)[0].strip().splitlines()[-1])
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        row = {"target": rate, "achieved": load["rate"], "sent": load["sent"],
               "received": got["received"], "lost": load["sent"] - got["received"],
               "broker_cpu": round(sum(cpu), 1), "node_cpu": cpu}
        benchlib.log(f"  qos{qos} {rate}/s -> {row}")
        return row
    return benchlib.ladder(step, RATES[qos])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--qos", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--broker", choices=["nats", "mosquitto"], default="nats",
                    help="mosquitto: the same ladder on one mosquitto (bench/live's settings), "
                         "for a comparison under the same machine load")
    args = ap.parse_args()
    wd = nwtest.Workdir("nw-measure-nats-")
    if args.broker == "nats":
        broker = natscluster.NatsCluster(wd)
    else:
        broker = nwtest.Mosquitto(wd, extra=benchlib.BROKER_EXTRA, nofile=20000)
    try:
        broker.start()
        if args.broker == "nats":
            pids = [n.child.pid for n in broker.nodes]
            pub_port, sub_port = broker.mqtt_port(0), broker.mqtt_port(1)
            version = subprocess.run(["nats-server", "--version"], capture_output=True,
                                     text=True).stdout.strip()
            where = f"{version}, 3 nodes; devices on node 1, counting subscriber on node 2"
        else:
            pids, pub_port, sub_port = [broker.child.pid], broker.port, broker.port
            where = "mosquitto 2.0.11 alone (bench/live settings)"
        print(f"Machine: {benchlib.machine()}; {where}; {args.devices} devices.\n")
        for qos in args.qos:
            best, rows, why = broker_limit(pids, pub_port, sub_port, qos, args.devices,
                                           args.duration)
            head = f"{best['achieved']:.0f} msg/s" if best else "none"
            print(f"### QoS {qos}: {head} ({why})\n")
            print("| target msg/s | achieved msg/s | sent | received | lost | broker CPU % "
                  "(sum; per node) |")
            print("|---|---|---|---|---|---|")
            for r in rows:
                per_node = ", ".join(str(c) for c in r["node_cpu"])
                print(f"| {r['target']} | {r['achieved']:.1f} | {r['sent']} | {r['received']} | "
                      f"{r['lost']} | {r['broker_cpu']} ({per_node}) |")
            print()
    finally:
        broker.stop()
        wd.remove()


if __name__ == "__main__":
    main()
