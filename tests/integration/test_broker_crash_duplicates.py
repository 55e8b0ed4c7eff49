"""The broker crash of test_broker_restart, counted for duplicates (issue 12 items 3 and 5).

A mosquitto SIGKILL makes some QoS 1 messages arrive twice: the restarted broker resends what
its last database save held as in flight to the daemon (the daemon may have handled those
since), and a pen resends what it published but saw no PUBACK for (the killed broker may have
passed it on already). The engine must recognise such a redelivery (same device, session and
seq) and change nothing: it is rejected with reason `duplicate`, counted in
needlewatch_messages_rejected_total{reason="duplicate"}, and is not a sequence gap.

How many the crash produces depends on timing (a handful with a Release daemon that keeps up,
hundreds with a slower one), so at the end every pen also publishes its last seq once more, as a
pen does that saw no PUBACK: at least 20 redeliveries in every run.

Every repeat of a (device, seq) in the daemon's recording must be counted as a duplicate,
exactly, and nothing may count as a gap (the crash loses nothing, test_broker_restart).
Needs the engine's duplicate detection; on a daemon without it, this fails saying so.
"""

import sys
import unittest

import nwtest
from test_broker_restart import CLINIC, report, run_broker_crash

FEATURE = ("duplicate detection in the engine, counted as "
           "needlewatch_messages_rejected_total{reason=\"duplicate\"} (issue 12 item 3)")


class BrokerCrashDuplicatesTest(nwtest.NwTestCase):
    def test_redeliveries_after_broker_sigkill_are_counted_as_duplicates(self):
        nwtest.needs_feature(self, nwtest.daemon_exposes(
            self.workdir, "needlewatch_messages_rejected_total", reason="duplicate"), FEATURE)
        run = run_broker_crash(self, resend_last=True)
        print(f"\n{report(run)}", file=sys.stderr)
        repeats = sum(len(s) - len(set(s)) for s in run.processed.values())
        self.assertGreaterEqual(repeats, len(run.acked), "fewer repeats than the pens' own "
                                "resends: some redelivery never reached the engine")
        m = run.metrics
        counted = nwtest.metric_value(m, "needlewatch_messages_rejected_total",
                                      reason="duplicate")
        self.assertEqual(counted, repeats,
                         "each redelivery in the recording counted once as a duplicate")
        # The restarted broker may send its saved queue after newer messages (#253, then
        # #203-#252): those were never handled, so they are accepted as reordered, not lost
        # as duplicates. A gap is counted where the engine saw a jump forward, filled or not.
        jumps = nwtest.forward_jumps(run.records)
        self.assertEqual(nwtest.metric_value(m, "needlewatch_sequence_gaps_total",
                                             clinic=CLINIC) or 0, jumps,
                         "gaps counted = jumps forward in the order the engine handled")
        accepted = nwtest.metric_value(m, "needlewatch_messages_accepted_total")
        unique = sum(len(set(s)) for s in run.processed.values())
        self.assertEqual(accepted, unique, "accepted = distinct (device, seq) handled")
        missing = {dev: nwtest.seq_ranges(set(acked) - set(run.processed.get(dev, ())))
                   for dev, acked in run.acked.items()}
        missing = {d: r for d, r in missing.items() if r}
        self.assertFalse(missing, "acknowledged messages never accepted")


if __name__ == "__main__":
    unittest.main()
