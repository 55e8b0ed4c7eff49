// `needlewatch replay --publish`: republish a recording or capture to an MQTT broker on its
// recorded timing scaled by a speed factor (or as fast as the broker takes it), to reproduce an
// incident against a staging monitor. See ../../../README.md for usage and timing semantics.
//
// The input is any time-ordered stream of record::RawMessage (the replay command plugs its
// merged capture/recording reader in); this library does not read files itself.
//
// Paho stays in the .cc: this header pulls in only the standard library and raw_message.h.
// Thread-compatible: Republish() blocks the calling thread; the only cross-thread input is the
// optional `stop` flag (and SIGINT/SIGTERM when stop_on_signals is set).
#ifndef NEEDLEWATCH_REPUBLISH_REPUBLISH_H_
#define NEEDLEWATCH_REPUBLISH_REPUBLISH_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "needlewatch/record/raw_message.h"

namespace needlewatch::republish {

struct RepublishOptions {
  // mqtt://host[:port] (1883) or mqtts://host[:port] (8883); Paho's tcp:// and ssl:// also
  // work. Credentials in the URL are refused (they would end up in shell history).
  std::string url;
  double speed = 1.0;  // recorded time / wall time; 0 = as fast as possible ("max")
  bool loop = false;   // at the end of the input call `rewind` and start again, until stopped
  int qos_override = -1;    // -1 keeps each record's QoS; 0, 1 or 2 forces one for all
  bool keep_retain = true;  // false clears the retain flag on every message
  int mqtt_version = 4;     // 4 = MQTT 3.1.1, 5 = MQTT 5
  // Publishes not yet completed by Paho (QoS 0: written; 1: PUBACK; 2: PUBCOMP), 1 to 65535.
  // 32 to 64 measured fastest against a local mosquitto; larger is slower (Paho scans its queue).
  std::size_t max_in_flight = 64;
  std::string client_id;            // "" = "needlewatch-republish-<pid>"
  // mqtts:// only: CA bundle for the broker's certificate. "" = $NEEDLEWATCH_MQTT_CA_FILE, or
  // else the system's default trust store. The broker's certificate and host name are verified.
  std::string ca_file;
  // "" = $NEEDLEWATCH_MQTT_USERNAME / $NEEDLEWATCH_MQTT_PASSWORD (as the daemon does).
  std::string username;
  std::string password;
  std::chrono::seconds connect_timeout{10};
  // How long to wait for one outstanding delivery (window full, or the final drain) before
  // giving up on the broker.
  std::chrono::seconds ack_timeout{30};
  // Stop cleanly (drain, summary, exit 0) when this becomes true. Checked between messages and
  // at least every 100 ms while waiting for a message's due time. May be null.
  const std::atomic<bool>* stop = nullptr;
  // Also stop cleanly on SIGINT / SIGTERM while Republish runs (the previous handlers are put
  // back on return). For the command line, where --loop only ends by Ctrl-C.
  bool stop_on_signals = false;
};

struct RepublishStats {
  std::uint64_t records = 0;         // read from `next`, all passes
  std::uint64_t published = 0;       // handed to the broker and confirmed (QoS 0: written)
  std::uint64_t payload_bytes = 0;   // payload bytes of `published`
  std::uint64_t skipped_internal = 0;  // $needlewatch/… records (operator acks): never published
  std::uint64_t skipped_invalid = 0;   // not publishable: bad topic, QoS above 2
  std::uint64_t failed = 0;          // refused by Paho or the broker, or never confirmed
  std::uint64_t passes = 0;          // completed or started passes over the input
  std::int64_t elapsed_ns = 0;       // connect done → last delivery confirmed
  std::int64_t max_lag_ns = 0;       // worst lateness of a publish against its due time
};

// Republishes every record `next` yields, pacing each to its due time (see Schedule). With
// options.loop, calls `rewind` at the end of the input (false from it ends with an error) and
// goes on until `stop` or a signal; a pass that yields no message ends the loop. Records on
// `$needlewatch/…` topics are skipped and counted; so are records that cannot be published
// (empty topic, wildcards, NUL, over 65535 bytes, not UTF-8, QoS above 2), each reported on
// `err` (the first ten; the rest only counted). A QoS 2 message is fully acknowledged before
// the next one is published: brokers such as mosquitto forward QoS 2 only on PUBREL, so
// anything sent right after it would overtake it.
//
// Prints one line when connected and a summary (messages, bytes, skips, duration, achieved
// rate, worst lag) to `out`; errors to `err` as "republish: …". Returns the exit code: 0 when
// every publishable record was delivered; 1 on a bad option or URL, an unreachable broker, a
// lost connection, a failed rewind, or any failed delivery. `stats`, when given, is filled in
// either way.
int Republish(const RepublishOptions& options,
              const std::function<bool(record::RawMessage&)>& next,
              const std::function<bool()>& rewind, std::ostream& out, std::ostream& err,
              RepublishStats* stats = nullptr);

// --speed as the user writes it: "max" → 0; a positive finite number ("1", "2", "0.5") → that.
// nullopt for anything else ("0", "-1", "fast", "inf").
std::optional<double> ParseSpeed(std::string_view text);

// Why `topic` cannot be the topic of a PUBLISH, or "" when it can: empty, contains '+' or '#'
// or NUL, or longer than 65535 bytes. (Invalid UTF-8 is caught by Paho at publish time and
// counted the same way.)
std::string_view TopicProblem(std::string_view topic);

// True for the recorder's own topics ($needlewatch/ack, and any other $needlewatch/…): they
// exist only in recordings and are never published.
bool IsInternalTopic(std::string_view topic);

// Due times. A pass is anchored at its first record: that record is due at the moment the pass
// starts (the first call to Due after construction or NewPass), and record i at
//   anchor_wall + (receive_ns_i − receive_ns_first) / speed.
// Deadlines are absolute, so sleeping and publishing costs never accumulate as drift; a
// record whose time is earlier than its predecessor's is due at once (its deadline has
// passed), it is not reordered. Speed 0 makes every record due at once. Pure.
class Schedule {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Schedule(double speed) : speed_(speed) {}
  // When the record received at `receive_ns` is due; `now` anchors a pass's first record.
  Clock::time_point Due(std::int64_t receive_ns, Clock::time_point now);
  void NewPass() { anchored_ = false; }

 private:
  double speed_;
  bool anchored_ = false;
  std::int64_t first_ns_ = 0;
  Clock::time_point anchor_;
};

}  // namespace needlewatch::republish

#endif  // NEEDLEWATCH_REPUBLISH_REPUBLISH_H_
