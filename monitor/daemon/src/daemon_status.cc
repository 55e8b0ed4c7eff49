#include "daemon_status.h"

namespace needlewatch::daemon {

DaemonStatus CollectStatus(const StatusSources& from) {
  DaemonStatus s;
  DaemonStats& st = s.stats;
  if (const MqttClient* mqtt = from.mqtt) {
    s.ready = mqtt->ready();
    s.not_ready = mqtt->not_ready_reason();
    st.mqtt_connected = mqtt->connected();
    st.queue_depth = mqtt->queue_depth();
    st.mqtt_reconnects = mqtt->reconnects();
    st.mqtt_connection_lost = mqtt->connection_lost();
    st.ingest_dropped = mqtt->inbox_dropped();
    st.ingest_blocked = mqtt->inbox_throttled();
  } else {
    s.not_ready = "starting";
  }
  if (const LiveMonitor* m = from.monitor) {
    st.config_reloads_success = m->reloads_ok();
    st.config_reloads_failure = m->reloads_failed();
    st.alarm_topic_corrections = m->alarm_topic_corrections();
    st.halts_expired = m->halts_expired();
    st.state_lost = m->state_lost();
    st.state_journal_write_errors = m->journal_write_errors();
  }
  if (from.audit != nullptr) st.audit_write_errors = from.audit->write_errors();
  if (from.http != nullptr) {
    const StreamStats streams = from.http->stream_stats();
    st.event_streams_open = streams.open;
    st.event_streams_opened = streams.opened;
    st.event_streams_dropped_slow = streams.dropped_slow;
    st.event_streams_refused = streams.refused;
  }
  if (const record::Recorder* r = from.recorder) {
    st.recorder_messages = r->written();
    st.recorder_bytes = r->bytes();
    st.recorder_dropped = r->dropped();
  }
  st.start_time_seconds = from.start_time_seconds;
  st.version = from.version;
  return s;
}

}  // namespace needlewatch::daemon
