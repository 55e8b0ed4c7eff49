// The clinic floor page's model: what GET /api/v1/devices, GET /api/v1/alarms/history,
// GET /api/v1/whoami and the Server-Sent Events stream GET /api/v1/events answer. The JSON is
// documented in ../README.md ("Floor page and its API").
//
// Fed on the daemon's loop by the engine sink (OnAccepted, OnSession, OnAlarm with the
// acknowledging user) and queried with the engine for the views. It keeps only what the engine
// does not: a one-minute sparkline per pen with an open session, the alarm instances of the
// recent past (raise, clear, acknowledgement with its user, end), and a ring of serialised
// alarm events so that a reconnecting client resumes from its Last-Event-ID without missing a
// transition. Pen readings are coalesced: FlushDevices() (the daemon calls it every
// kFrameInterval) turns the pens that changed since the last frame into one `devices` event.
// Every event is serialised once; all connections share the same string.
//
// How the daemon drives it (all on the loop):
//   FloorModel floor({.first_event_id = start time in µs});  floor.set_listener(write to every
//     open stream);
//   Sink::OnAccepted/OnSession -> floor.OnAccepted/OnSession; Sink::OnAlarm -> floor.OnAlarm(e,
//     user), the user being the acknowledging one while engine.Acknowledge runs, else empty;
//   a SIGHUP reload -> floor.OnLimitsChanged();
//   every kFrameInterval: if (floor.has_pending_devices()) floor.FlushDevices(engine, now);
//   every kPingInterval: PingFrame(now) to every open stream;
//   a new stream: StreamPreamble(), then ResumeFrom(...).frames, then the live frames.
//
// Pure: no I/O, no threads, no clock (time is passed in). Not thread-safe: used only on the
// daemon's io_context thread, like the engine it reads.
#ifndef NEEDLEWATCH_DAEMON_FLOOR_MODEL_H_
#define NEEDLEWATCH_DAEMON_FLOOR_MODEL_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/events.h"

namespace needlewatch::daemon {

// The longest interval between two `devices` events while pens change (the daemon's timer).
inline constexpr std::chrono::milliseconds kFrameInterval{250};
// How often the daemon should write a `ping` event to each open stream (PingFrame): the page
// shows "connection lost" and reconnects when it hears nothing for 2.5 times this.
inline constexpr std::chrono::seconds kPingInterval{15};
// Seconds of sparkline kept per pen (one bucket per second).
inline constexpr int kSparklineSeconds = 60;

struct FloorOptions {
  // Alarm instances kept for GET /api/v1/alarms/history; the oldest is dropped first (still
  // open or not: the engine's /api/v1/alarms always lists what is active or latched).
  std::size_t history_capacity = 10'000;
  // Serialised `alarm` events kept for resuming streams. A client whose Last-Event-ID is older
  // than the oldest kept gets a `reset` (and refetches). About 0.7 KB each.
  std::size_t alarm_ring_capacity = 4096;
  // The id of the first event. Make it grow across restarts (the daemon passes its start time
  // in microseconds), so that an id from an earlier process is always older than this one's
  // ring and the client gets a `reset` instead of a wrong resume.
  std::uint64_t first_event_id = 1;
};

// Where to start a stream, from the Last-Event-ID header or the `last_event_id` query
// parameter (the page's first connection, which a browser cannot give the header).
struct ResumePoint {
  std::optional<std::uint64_t> last_event_id;  // none: live events only
};

class FloorModel {
 public:
  // One serialised SSE event ("id: …\nevent: …\ndata: …\n\n"), shared by every connection.
  using Frame = std::shared_ptr<const std::string>;
  // Called with every new shared event (alarm transitions as they happen, devices frames from
  // FlushDevices). It must not call back into the model or the engine; queue the write.
  using FrameListener = std::function<void(const Frame&)>;

  explicit FloorModel(FloorOptions options = {});
  ~FloorModel();
  FloorModel(const FloorModel&) = delete;
  FloorModel& operator=(const FloorModel&) = delete;

  void set_listener(FrameListener listener) { listener_ = std::move(listener); }

  // --- Feed: call from the daemon's engine::Sink, in the order the engine reports.
  // Telemetry updates the pen's reading and sparkline; every accepted message marks the pen
  // changed (status: online/offline; event: session start or end).
  void OnAccepted(const engine::AcceptedInfo& m);
  // Keeps the session's start zone, operator and start time; an ended session drops the pen's
  // sparkline.
  void OnSession(const engine::SessionEvent& e);
  // Records the transition in the alarm history and emits one `alarm` event. `user`: who
  // acknowledged, for kAcknowledged / kAckCleared (empty: unknown, written as null).
  void OnAlarm(const engine::AlarmEvent& e, std::string_view user = {});
  // After a limits reload: every pen with an open session goes into the next frame whole
  // (its limits may have changed).
  void OnLimitsChanged();

  // --- The frame timer.
  // True when some pen changed since the last frame.
  bool has_pending_devices() const { return !dirty_.empty(); }
  // Emits one `devices` event with every pen changed since the last call and returns it; none
  // when nothing changed. Call at most every kFrameInterval.
  std::optional<Frame> FlushDevices(const engine::Engine& engine, engine::TimeNs now);

  // --- Bodies.
  // GET /api/v1/devices: {"event_id","now","devices":[…]}, every known pen sorted by clinic,
  // device, each with its sparkline of the last kSparklineSeconds before `now`.
  std::string DevicesJson(const engine::Engine& engine, engine::TimeNs now);
  // GET /api/v1/alarms/history: {"event_id","since","since_ns","truncated","alarms":[…]}, the
  // alarm instances that were open at any time at or after `since` (raised since, still open,
  // or ended since), oldest raise first.
  std::string HistoryJson(engine::TimeNs since) const;
  // GET /api/v1/whoami: {"user":…|null,"can_ack":…}.
  static std::string WhoamiJson(std::string_view user, bool can_ack);

  // --- The stream (GET /api/v1/events, Content-Type text/event-stream).
  struct Resume {
    bool reset = false;         // the client must refetch everything (frames holds the reset)
    std::vector<Frame> frames;  // write these first, in order, then the live frames
  };
  // What a new connection gets before the live frames: nothing (no id), the missed alarm events
  // and, when a devices frame was missed, one `devices` event with every pen ("full":true); or
  // a `reset` when the id is older than the ring or unknown. Call on the loop and register the
  // connection for live frames in the same handler, so no event falls in between.
  Resume ResumeFrom(ResumePoint from, const engine::Engine& engine, engine::TimeNs now);
  // The first bytes of every stream: the client's reconnection delay.
  static std::string_view StreamPreamble() { return "retry: 2000\n\n"; }
  // "event: ping\ndata: {\"now\":…}\n\n" (no id: it does not move the client's Last-Event-ID).
  static std::string PingFrame(engine::TimeNs now);

  // The id of the newest event (first_event_id - 1 before any).
  std::uint64_t last_event_id() const { return next_event_id_ - 1; }

  // --- Sizes, for tests, the README's memory figures and metrics.
  std::size_t pen_count() const { return pens_.size(); }
  std::size_t history_size() const { return history_.size(); }
  std::size_t ring_size() const { return ring_.size(); }
  // An estimate of the heap the model holds (pens, history, ring), in bytes.
  std::size_t memory_bytes() const;

 private:
  struct Bucket {
    std::uint32_t sec = 0;  // Unix second; 0 = empty
    float depth_max = 0;
    float speed_min = 0;
    float speed_max = 0;
  };
  struct SessionInfo {
    std::string id;
    std::string zone;  // the zone it started in (its session limits)
    std::string op;    // operator, "" when not given
    engine::TimeNs started_at = 0;
  };
  // A pen the model tracks: one with an open session (sparkline, session info), or one that
  // changed since the last frame. Others are not kept.
  struct Pen {
    std::string clinic;
    std::string device;
    std::optional<SessionInfo> session;
    std::array<Bucket, kSparklineSeconds> spark{};
    std::uint32_t spark_dirty_from = 0;  // first second touched since the last frame; 0: none
    std::uint32_t spark_dirty_to = 0;
    bool dirty = false;
    bool whole = true;  // the next frame sends the whole object (not only the reading)
    // What the last frame said, to tell a reading change from a structural one.
    bool sent_online = false;
    std::string sent_session;
    std::string sent_zone;
  };
  // One alarm instance, from its raise to its end: its latest transition as the engine reported
  // it, and what the engine does not keep.
  struct Instance {
    std::uint64_t id = 0;
    engine::AlarmEvent last;  // the latest transition (state, acknowledged, cleared_at, …)
    bool late = false;
    std::optional<engine::TimeNs> acknowledged_at;
    std::string acknowledged_by;
    std::optional<engine::TimeNs> ended_at;
  };
  struct RingEntry {
    std::uint64_t id = 0;
    Frame frame;
  };

  Pen& PenFor(std::string_view clinic, std::string_view device);
  void MarkDirty(Pen& pen);
  void ErasePen(const Pen& pen);
  // Fills missing session info (sessions that were open before the model saw their start).
  void SyncSessions(const engine::Engine& engine);
  Instance& InstanceFor(const engine::AlarmEvent& e);
  std::uint64_t NextEventId() { return next_event_id_++; }
  void Emit(const Frame& frame);
  Frame DevicesFrame(const engine::Engine& engine, engine::TimeNs now, bool full,
                     std::uint64_t id);

  FloorOptions options_;
  FrameListener listener_;

  /// Pens by "clinic/device" (IDs never contain '/').
  std::unordered_map<std::string, Pen> pens_;
  /// Pens changed since the last frame. (Nodes of pens_ stay put until erased, and pens are
  /// erased only right after a frame, when this list is emptied.)
  std::vector<Pen*> dirty_;
  std::string key_buf_;  // reused for look-ups, so the hot path does not allocate
  /// Sessions open before the model's first frame were read from the engine (once).
  bool sessions_synced_ = false;

  /// Alarm instances, oldest raise first; ids are consecutive, history_.front().id the oldest.
  std::deque<Instance> history_;
  std::uint64_t next_instance_id_ = 1;
  bool history_dropped_ = false;
  /// The open instance of each "clinic/device/alarm".
  std::unordered_map<std::string, std::uint64_t> open_instances_;

  /// Serialised alarm events, oldest first.
  std::deque<RingEntry> ring_;
  std::size_t ring_bytes_ = 0;
  std::uint64_t next_event_id_;
  /// Resuming from an id below this misses an alarm event: reset.
  std::uint64_t resume_floor_;
  /// The id of the newest devices frame (0: none yet).
  std::uint64_t last_devices_id_ = 0;
};

// --- Request helpers (pure).

// An event id: 1 to 20 decimal digits that fit in 64 bits; otherwise none.
std::optional<std::uint64_t> ParseEventId(std::string_view s);
// The value of parameter `name` in a query string ("a=1&since=17…"), undecoded; none if absent.
std::optional<std::string_view> QueryParam(std::string_view query, std::string_view name);
// `since` as seconds since the Unix epoch (integer or fraction, ≥ 0). On failure, none with
// `error` ("since: expected seconds since the Unix epoch, e.g. 1795611133").
std::optional<engine::TimeNs> ParseSince(std::string_view value, std::string* error);
// Midnight of the day that contains `now`, in the process's local time zone (TZ): the default
// `since` of the history. Reads no clock.
engine::TimeNs StartOfLocalDay(engine::TimeNs now);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_FLOOR_MODEL_H_
