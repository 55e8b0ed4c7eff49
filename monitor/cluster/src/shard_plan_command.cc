#include "needlewatch/cluster/shard_plan_command.h"

#include <fstream>
#include <iostream>
#include <span>
#include <string_view>
#include <vector>

#include "needlewatch/cluster/shard.h"
#include "needlewatch/protocol/json_writer.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::cluster {
namespace {

constexpr std::size_t kMaxReportedErrors = 20;
constexpr std::string_view kHashName = "xxh64-rendezvous";

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// The clinic list, or nullopt after naming every problem on `err`.
std::optional<std::vector<std::string>> ReadClinics(const std::string& name, std::istream& in,
                                                    std::ostream& err) {
  std::vector<std::string> clinics;
  std::size_t errors = 0;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    const std::string_view id = Trim(line);
    if (id.empty() || id.front() == '#') continue;
    if (!protocol::IsValidId(id)) {
      if (++errors <= kMaxReportedErrors) {
        std::string quoted;
        protocol::AppendJsonString(quoted, id);
        err << name << ":" << n << ": clinic ID: expected [A-Za-z0-9_.-]{1,64}, got " << quoted
            << "\n";
      }
      continue;
    }
    clinics.emplace_back(id);
  }
  if (in.bad()) {
    err << name << ": read error\n";
    return std::nullopt;
  }
  if (errors > kMaxReportedErrors) {
    err << name << ": " << errors - kMaxReportedErrors << " more invalid clinic IDs\n";
  }
  if (errors > 0) return std::nullopt;
  if (clinics.empty()) {
    err << name << ": no clinic IDs (one per line expected)\n";
    return std::nullopt;
  }
  return clinics;
}

bool ValidTopicRoot(std::string_view r) {
  return !r.empty() && r.front() != '/' && r.back() != '/' &&
         r.find_first_of("+#") == std::string_view::npos &&
         r.find('\0') == std::string_view::npos;
}

std::string Quoted(std::string_view s) {  // a JSON string is a YAML double-quoted scalar
  std::string q;
  protocol::AppendJsonString(q, s);
  return q;
}

struct Plan {
  bool admission = false;  // no clinic list: wildcard filters, the daemon admits its share
  std::size_t clinic_count = 0;
  std::uint32_t count = 0;
  std::vector<ShardAssignment> shards;  // only the requested ones
};

void PrintText(const Plan& p, std::ostream& out) {
  out << "# " << p.count << " shards, ";
  if (p.admission) {
    out << "no clinic list: each shard subscribes to every clinic and admits only its own\n"
           "# (cluster.shard_index/shard_count; the rest are refused as not_assigned)\n";
  } else {
    out << p.clinic_count << " clinics, rendezvous hashing (XXH64, seed = shard index)\n";
  }
  for (const auto& s : p.shards) {
    out << "shard " << s.index;
    if (!p.admission) out << ": " << s.clinics.size() << " clinics";
    out << "\n";
    if (!p.admission) {
      out << "  clinics:";
      for (const auto& c : s.clinics) out << " " << c;
      out << "\n";
    }
    out << "  filters:\n";
    for (const auto& f : s.filters) out << "    " << f << "\n";
  }
}

void PrintYamlSubscriptions(const ShardAssignment& s, std::string_view indent, std::ostream& out) {
  out << indent << "mqtt:\n" << indent << "  subscriptions:";
  if (s.filters.empty()) {
    // No clinic hashes to this shard: an empty list would mean the default (every clinic),
    // so subscribe to a topic no device uses instead.
    out << " [\"needlewatch/no-clinic-assigned\"]\n";
    return;
  }
  out << "\n";
  for (const auto& f : s.filters) out << indent << "    - " << Quoted(f) << "\n";
}

void PrintYaml(const Plan& p, bool fragment, std::ostream& out) {
  if (fragment) {
    const auto& s = p.shards.front();
    out << "# needlewatch shard-plan: shard " << s.index << " of " << p.count;
    if (p.admission) {
      out << ", every clinic subscribed; the daemon admits only its own\n";
    } else {
      out << ", " << s.clinics.size() << " of " << p.clinic_count << " clinics\n";
    }
    out << "# cluster: {shard_index: " << s.index << ", shard_count: " << p.count
        << "}   (docs/cluster.md)\n";
    PrintYamlSubscriptions(s, "", out);
    return;
  }
  out << "# needlewatch shard-plan (docs/cluster.md)\n"
      << "shard_count: " << p.count << "\n"
      << "hash: " << kHashName << "\n"
      << "mode: " << (p.admission ? "admission" : "filters") << "\n"
      << "shards:\n";
  for (const auto& s : p.shards) {
    out << "  - index: " << s.index << "\n";
    if (!p.admission) {
      out << "    clinics: [";
      for (std::size_t i = 0; i < s.clinics.size(); ++i) {
        out << (i ? ", " : "") << Quoted(s.clinics[i]);
      }
      out << "]\n";
    }
    out << "    config:\n";
    PrintYamlSubscriptions(s, "      ", out);
  }
}

void PrintJson(const Plan& p, const std::string& root, std::ostream& out) {
  std::string s;
  protocol::JsonWriter w(s);
  w.BeginObject()
      .Field("shard_count", p.count)
      .Field("hash", kHashName)
      .Field("mode", p.admission ? "admission" : "filters")
      .Field("topic_root", root)
      .Field("clinics", static_cast<std::uint64_t>(p.clinic_count));
  w.Key("shards").BeginArray();
  for (const auto& sh : p.shards) {
    w.BeginObject().Field("index", sh.index);
    w.Key("clinics").BeginArray();
    for (const auto& c : sh.clinics) w.String(c);
    w.EndArray();
    w.Key("filters").BeginArray();
    for (const auto& f : sh.filters) w.String(f);
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  out << s << "\n";
}

}  // namespace

int RunShardPlan(const ShardPlanOptions& o, std::ostream& out, std::ostream& err) {
  if (o.shards < 1 || o.shards > kMaxShards) {
    err << "shard-plan: --shards: expected 1 to " << kMaxShards << ", got " << o.shards << "\n";
    return 1;
  }
  if (o.shard && *o.shard >= o.shards) {
    err << "shard-plan: --shard: expected 0 to " << o.shards - 1 << ", got " << *o.shard << "\n";
    return 1;
  }
  if (!ValidTopicRoot(o.topic_root)) {
    err << "shard-plan: --topic-root: expected a topic prefix without wildcards or outer "
           "slashes, got "
        << Quoted(o.topic_root) << "\n";
    return 1;
  }
  if (o.format != "text" && o.format != "yaml" && o.format != "json") {
    err << "shard-plan: --format: expected text, yaml or json, got " << Quoted(o.format) << "\n";
    return 1;
  }

  Plan plan;
  plan.count = o.shards;
  if (o.clinics_file) {
    std::optional<std::vector<std::string>> clinics;
    if (*o.clinics_file == "-") {
      clinics = ReadClinics("<stdin>", o.in ? *o.in : std::cin, err);
    } else {
      std::ifstream f(*o.clinics_file);
      if (!f) {
        err << *o.clinics_file << ": cannot open\n";
        return 1;
      }
      clinics = ReadClinics(*o.clinics_file, f, err);
    }
    if (!clinics) return 1;
    std::size_t dotted = 0;
    for (const auto& c : *clinics) dotted += c.find('.') != std::string::npos;
    if (dotted > 0) {
      err << "shard-plan: warning: " << dotted << " clinic IDs contain '.', which NATS server "
          << "2.9 refuses in MQTT topics (docs/cluster.md, \"Topic characters\")\n";
    }
    plan.shards = PlanShards(*clinics, o.shards, o.topic_root);
    for (const auto& s : plan.shards) plan.clinic_count += s.clinics.size();
  } else {
    plan.admission = true;
    plan.shards.resize(o.shards);
    for (std::uint32_t i = 0; i < o.shards; ++i) {
      plan.shards[i].index = i;
      plan.shards[i].filters = {WildcardFilter(o.topic_root)};
    }
  }
  if (o.shard) {
    ShardAssignment only = std::move(plan.shards[*o.shard]);
    plan.shards.assign(1, std::move(only));
  }

  if (o.format == "json") {
    PrintJson(plan, o.topic_root, out);
  } else if (o.format == "yaml") {
    PrintYaml(plan, o.shard.has_value(), out);
  } else {
    PrintText(plan, out);
  }
  return out.good() ? 0 : 1;
}

}  // namespace needlewatch::cluster
