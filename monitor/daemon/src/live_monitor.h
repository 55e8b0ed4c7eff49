// The live monitor: the engine plus everything the daemon does around it on each input —
// stamping it with the monitor's clock, recording it, publishing the alarm topics and the
// `halt` interlock, writing the audit log, counting metrics, and the monitor's own alarms.
// It is what a restart restores. No sockets, no threads, no clock of its own: time comes from a
// Clock and effects go to Outputs, so tests drive it with a hand-set clock and collect what it
// publishes, audits and records (tests/daemon/live_monitor_test.cc).
//
// Each input becomes a record (monitor/control/records.h) that is recorded and applied to the
// engine through control::ApplyRecord, exactly as replay applies it from the recording.
//
// Not thread-safe: owned and used by the daemon's event-loop thread.
#ifndef NEEDLEWATCH_DAEMON_LIVE_MONITOR_H_
#define NEEDLEWATCH_DAEMON_LIVE_MONITOR_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alarm_output.h"
#include "api.h"
#include "floor_model.h"
#include "metrics.h"
#include "monitor_alarm.h"
#include "needlewatch/config/config.h"
#include "needlewatch/control/apply.h"
#include "needlewatch/engine/engine.h"
#include "needlewatch/protocol/reject.h"
#include "needlewatch/record/raw_message.h"
#include "needlewatch/state/state_dir.h"

namespace needlewatch::daemon {

// The monitor's clock: the system clock in the daemon, hand-set in tests. Now() may step back
// (an NTP step); the monitor never lets its own time go backwards.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual engine::TimeNs Now() = 0;
};

// Where the live monitor's effects go; called synchronously on the loop thread.
class Outputs {
 public:
  virtual ~Outputs() = default;
  // Sends one MQTT message (retained alarm topics, `halt`, the monitor's own alarms). A message
  // without expiry is always taken (buffered while disconnected); one with an expiry is taken
  // only while connected: false means "not sent, keep it yourself".
  virtual bool Publish(const Publication& p) = 0;
  // Appends one audit line; false when the write failed (counted by the implementation).
  virtual bool Audit(std::string_view line) = 0;
  // Makes the audit lines appended so far durable (one fsync for a batch); false on failure.
  virtual bool SyncAudit() { return true; }
  // Hands one record to the recorder (no-op when recording is off).
  virtual void Record(record::RawMessage&& m) = 0;
  // Durable state on: makes the journal frames (state/journal.h) of the records applied since
  // the last call durable, before the publications they caused go out (one write and one
  // fdatasync per batch). False when the write failed (counted by the monitor).
  virtual bool Journal(std::string_view frames) {
    (void)frames;
    return true;
  }
};

// The result of an acknowledgement.
struct AckOutcome {
  engine::AckResult result = engine::AckResult::kNotFound;
  engine::TimeNs at = 0;
};

class LiveMonitor : private engine::Sink {
 public:
  // `config_path` is the file `cfg` came from ("" = built-in defaults), as recorded and audited.
  LiveMonitor(const config::Config& cfg, std::string config_path, Clock& clock, Outputs& out);
  LiveMonitor(const LiveMonitor&) = delete;
  LiveMonitor& operator=(const LiveMonitor&) = delete;

  // Applies and records the limits in force at start (a replay starts with them too).
  void Start();

  // Durable state (monitor/state/README.md); before Start(). Continues from `loaded`: the
  // snapshot restored into the engine (with the limits it was saved with), the journal
  // replayed through control::ApplyRecord with every effect held back (no publication, audit
  // line, log line or metric: they happened in the earlier life), then catch-up begun
  // ("restore"). State that was there but cannot be used starts fresh and raises the monitor
  // alarm `state_lost` (high). From here on every applied record is journaled.
  struct RestoreOutcome {
    bool restored = false;
    std::size_t journal_records = 0;
    std::string lost;  // why state was lost ("" = nothing lost)
  };
  RestoreOutcome RestoreState(state::Loaded loaded);
  // Everything needed to continue (the caller sets journal_generation). The journal frames not
  // yet written are dropped: the snapshot holds their effect (call Flush() first to keep them
  // in the current journal until the snapshot is safely written).
  state::Snapshot SaveState();

  // Catch-up on a backlog the broker kept (engine.h): recorded, journaled and applied like any
  // control record. The daemon begins it on restore, on a lost connection and on a reconnect
  // (unless it is catching up already), and publishes
  // SyncPublication() once subscribed: when that message comes back on sync_topic() the
  // backlog before it has been delivered and catch-up ends ("synced"); 10 s after the sync was
  // sent it ends anyway ("timeout").
  void BeginCatchUp(std::string_view reason);
  void EndCatchUp(std::string_view reason);
  bool catching_up() const { return engine_.catching_up(); }
  Publication SyncPublication();
  const std::string& sync_topic() const { return sync_topic_; }
  static constexpr engine::TimeNs kCatchUpTimeout = 10 * engine::kNsPerSec;
  // `state_lost` stays active this long (persisted across restarts meanwhile).
  static constexpr engine::TimeNs kStateLostHold = 3600 * engine::kNsPerSec;
  bool state_lost() const { return state_lost_since_.has_value(); }
  std::uint64_t journal_write_errors() const { return journal_write_errors_; }

  // One message as received from the broker. The views need live only during the call. A
  // message on one of the monitor's own alarm topics is not for the engine: it shows what the
  // broker holds there, and one that disagrees with the monitor — a forged or stale retained
  // state — is overwritten with the monitor's (a topic of an alarm it does not hold shows
  // `cleared`).
  void HandleMessage(std::string_view topic, std::string_view payload, int qos, bool retain);

  // An operator's acknowledgement (protocol/README.md, Alarms): applied, audited with `user` (may be empty)
  // and `remote`, recorded. Not-found acknowledgements change nothing and leave no trace.
  AckOutcome Acknowledge(const AckRequest& req, std::string_view user, std::string_view remote);

  // SIGHUP: `loaded` is the configuration file read again. Success applies its limits from now
  // (recorded, audited); failure keeps the limits in force (audited with the errors).
  bool Reload(const config::LoadResult& loaded);

  // The broker connection came up (true) or went down (false). On connect every alarm the
  // monitor holds is published again (the broker may have lost its retained store), and held
  // `halt`s still within their expiry are sent; older ones are dropped and audited as expired.
  // On a loss catch-up begins ("disconnect"): what the broker keeps for us arrives late.
  void SetConnected(bool connected);

  // Publishes the alarm topics whose state changed since the last call, each once with its
  // latest state (a storm of transitions on one topic in one batch is one message; the audit
  // log still has every transition). The daemon calls it after each batch of messages; the
  // other entry points (Tick, Acknowledge, Reload, SetConnected) flush by themselves.
  void Flush();

  // Paired monitors (docs/cluster.md, "Paired monitors"): only the writer publishes the
  // retained alarm topics, corrects them and sends `halt`s; a follower keeps the same state
  // silently. Becoming the writer publishes every alarm it holds and sends the halts of the last
  // halt expiry that the old writer was not seen to send. Default (no pair): the writer.
  void SetWriter(bool writer);
  bool writer() const { return writer_; }

  // Fires every deadline due by now (the daemon's timer).
  void Tick();
  // When Tick() next has something to do, if anything.
  std::optional<engine::TimeNs> NextDeadline() const { return engine_.NextDeadline(); }

  // The recorder's running count of dropped messages; raises `recorder_dropping` while it grows
  // and clears it after 30 s without a drop.
  void NoteRecorderDropped(std::uint64_t dropped);
  // The MQTT inbox's running counts of QoS 0 messages dropped and of reads held back because it
  // was full; raises `ingest_overload` (high: alarms may be late or missed) while either grows,
  // clears it after 30 s without.
  void NoteIngest(std::uint64_t dropped, std::uint64_t throttled);

  // The monitor's time for what happens now: the clock, never earlier than the last stamp. The
  // same value goes to the engine, the recorder and the audit log.
  engine::TimeNs Stamp();

  const engine::Engine& engine() const { return engine_; }
  // The clinic floor page's model (devices, alarm history, event stream), fed by this monitor.
  FloorModel& floor() { return floor_; }
  const Metrics& metrics() const { return metrics_; }
  const config::Config& config() const { return cfg_; }
  std::uint64_t reloads_ok() const { return reloads_ok_; }
  std::uint64_t reloads_failed() const { return reloads_failed_; }
  std::uint64_t audit_write_errors() const { return audit_write_errors_; }
  std::uint64_t halts_expired() const { return halts_expired_; }
  std::uint64_t alarm_topic_corrections() const { return alarm_topic_corrections_; }
  std::size_t halts_held() const { return held_halts_.size(); }

 private:
  // engine::Sink
  void OnAccepted(const engine::AcceptedInfo& m) override;
  void OnAlarm(const engine::AlarmEvent& e) override;
  void OnSession(const engine::SessionEvent& e) override;
  void OnReject(const engine::RejectInfo& r) override;
  void OnSeqGap(const engine::SeqGapInfo& g) override;

  // A `halt` and what asked for it, kept while it cannot be sent.
  struct HeldHalt {
    Publication publication;
    std::string clinic, device, session, alarm, severity;
    engine::TimeNs made_at = 0;
    engine::TimeNs expiry = 0;
  };
  static constexpr std::size_t kMaxHeldHalts = 10000;
  void SendHalt(HeldHalt h);
  // A message on one of this monitor's alarm topics (its subscription to them shows what the
  // broker holds): one that disagrees with the monitor is set right (see HandleMessage).
  void CheckAlarmTopic(std::string_view topic, std::string_view payload);
  void Audit(const std::string& line);
  void SyncAudit();
  // Appends a journal frame for an applied record (durable state on).
  void Journal(engine::TimeNs at, std::string_view topic, std::string_view payload);
  // Applies, journals and records one control record the monitor made.
  control::Applied ApplyOwn(record::RawMessage&& record);
  // One journal record of an earlier life, effects held back.
  void ReplayRecord(const state::JournalRecord& r);
  void SetStateLost(std::optional<engine::TimeNs> since);
  void PublishStateLost();
  void SetMonitorAlarm(MonitorAlarm& alarm, bool active, std::optional<double> value);
  void PublishMonitorAlarm(const MonitorAlarm& alarm, std::optional<Publication> change);

  config::Config cfg_;
  std::string config_path_;
  Clock& clock_;
  Outputs& out_;
  engine::Engine engine_;
  Metrics metrics_;
  FloorModel floor_;
  std::string acknowledging_user_;  // while an acknowledgement is applied
  protocol::Reject last_reject_ = protocol::Reject::kNone;  // of the message being handled
  engine::TimeNs last_stamp_ = 0;

  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  std::uint64_t audit_write_errors_ = 0;
  std::uint64_t rejects_since_warn_ = 0;
  engine::TimeNs last_reject_warn_ = 0;

  // Retained alarm topics: the state of each alarm the monitor holds (active or latched), and
  // what is still to be published (conflated: the latest state per topic).
  std::unordered_map<std::string, std::string> held_topics_;
  std::unordered_map<std::string, std::string> to_publish_;
  std::uint64_t alarm_topic_corrections_ = 0;

  // Durable state.
  bool journal_on_ = false;
  bool replaying_ = false;         // journal replay: effects held back
  std::string journal_batch_;      // frames not yet handed to Outputs::Journal
  std::uint64_t journal_write_errors_ = 0;
  engine::TimeNs last_journal_error_log_ = 0;
  std::string limits_yaml_;        // the configuration document of the limits in force
  std::string limits_source_;
  std::optional<engine::TimeNs> state_lost_since_;
  std::string sync_topic_;
  std::string sync_nonce_;         // the sync message in flight ("" = none)
  engine::TimeNs catch_up_deadline_ = 0;

  std::deque<HeldHalt> held_halts_;  // oldest first
  // A follower's halts (it would have sent them as the writer), oldest first, and when a halt
  // was last seen on each pen's command topic (the writer's): kept for one halt expiry.
  bool writer_ = true;
  std::deque<HeldHalt> standby_halts_;
  std::unordered_map<std::string, engine::TimeNs> halts_seen_;
  void NoteCommand(std::string_view topic, engine::TimeNs now);
  void PruneStandby(engine::TimeNs now);
  std::uint64_t halts_expired_ = 0;

  MonitorAlarm audit_failing_{"audit_log_failing", engine::Severity::kHigh};
  CountAlarm recorder_dropping_{"recorder_dropping", engine::Severity::kMedium,
                                30 * engine::kNsPerSec};
  CountAlarm ingest_overload_{"ingest_overload", engine::Severity::kHigh, 30 * engine::kNsPerSec};
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_LIVE_MONITOR_H_
