// The in-house Prometheus writer, checked with the strict parser in tests/support.
#include "metrics/gateway_metrics.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/json.h"

#include "support/prometheus_parser.h"

namespace warden::testing {
namespace {

using metrics::Type;

// Sample values keyed "name,label=value,…" (labels in name order), from a page that must parse.
std::map<std::string, double> Values(const std::string& text) {
  PromParse p = ParsePrometheus(text);
  for (const auto& problem : p.problems) ADD_FAILURE() << problem << "\n" << text;
  std::map<std::string, double> values;
  for (const auto& s : p.samples) {
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "," + k + "=" + v;
    values[key] = s.value;
  }
  return values;
}

TEST(MetricsTest, RendersValidExpositionWithEscapedLabels) {
  metrics::Registry r;
  auto& c = r.Add("x_requests_total", "Requests.\nSecond line \\ here", Type::kCounter, {"model", "class"});
  auto& g = r.Add("x_state", "A gauge.", Type::kGauge, {"deployment"});
  auto& h = r.Add("x_seconds", "A histogram.", Type::kHistogram, {"endpoint"}, {0.1, 1});
  c.counter({"a\"b\\c\nd", "2xx"}).Add();
  c.counter({"plain", "5xx"}).Add(2.5);
  g.Set({"p/m"}, 2);
  for (double v : {0.05, 0.5, 0.5, 3.0}) h.histogram({"chat"}).Observe(v);
  std::map<std::string, double> values = Values(r.Render());
  EXPECT_EQ(values["x_requests_total,class=2xx,model=a\"b\\c\nd"], 1);
  EXPECT_EQ(values["x_requests_total,class=5xx,model=plain"], 2.5);
  EXPECT_EQ(values["x_state,deployment=p/m"], 2);
  EXPECT_EQ(values["x_seconds_bucket,endpoint=chat,le=0.1"], 1);
  EXPECT_EQ(values["x_seconds_bucket,endpoint=chat,le=1"], 3);
  EXPECT_EQ(values["x_seconds_bucket,endpoint=chat,le=+Inf"], 4);
  EXPECT_EQ(values["x_seconds_count,endpoint=chat"], 4);
  EXPECT_DOUBLE_EQ(values["x_seconds_sum,endpoint=chat"], 4.05);
}

TEST(MetricsTest, TheParserRejectsWhatPrometheusWould) {
  for (const char* bad : {"x 1\n",                                        // no TYPE
                          "# TYPE x counter\nx{a=\"1} 1\n",               // unterminated value
                          "# TYPE x counter\nx{a=\"\\q\"} 1\n",           // bad escape
                          "# TYPE x counter\nx -1\n",                     // negative counter
                          "# TYPE x counter\nx 1\nx 2\n",                 // duplicate series
                          "# TYPE x histogram\nx_bucket{le=\"1\"} 2\nx_bucket{le=\"+Inf\"} 1\nx_count 1\n",
                          "# TYPE 1x counter\n1x 1\n",                    // bad name
                          "# TYPE x counter\nx one\n"}) {
    EXPECT_FALSE(ParsePrometheus(bad).problems.empty()) << bad;
  }
}

TEST(MetricsTest, ConcurrentUpdatesAreCounted) {
  metrics::GatewayMetrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      metrics::RequestSample s;
      s.endpoint = "chat.completions";
      s.model = "chat";
      s.provider = "p";
      s.status = 200;
      s.upstream = true;
      s.prompt_tokens = 3;
      s.tries = {{"p/a", "http_503"}, {"p/a", "upstream_unreachable"}, {"p/b", ""}};
      for (int i = 0; i < 1000; ++i) m.Record(s);
    });
  for (auto& th : threads) th.join();
  std::map<std::string, double> v = Values(m.registry().Render());
  EXPECT_EQ(v["warden_requests_total,endpoint=chat.completions,model=chat,provider=p,status_class=2xx"], 8000);
  EXPECT_EQ(v["warden_tokens_total,model=chat,provider=p,type=prompt"], 24000);
  EXPECT_EQ(v["warden_upstream_retries_total,deployment=p/a,reason=http_503"], 8000);
  EXPECT_EQ(v["warden_failovers_total,deployment=p/a,reason=upstream_unreachable"], 8000);
  EXPECT_EQ(v["warden_audit_failures_total"], 0);  // present from the start
}

TEST(MetricsTest, ReasonsAndRefusalCodesAreFromFixedSets) {
  using metrics::GatewayMetrics;
  EXPECT_EQ(GatewayMetrics::Reason(503, "upstream_error"), "http_503");
  EXPECT_EQ(GatewayMetrics::Reason(0, "upstream_unreachable"), "upstream_unreachable");
  EXPECT_EQ(GatewayMetrics::Reason(200, "upstream_stream_cut"), "upstream_stream_cut");
  EXPECT_EQ(GatewayMetrics::Reason(400, "context_length_exceeded"), "http_400");  // a provider's own code
  EXPECT_EQ(GatewayMetrics::Reason(0, "anything a provider said"), "other");
  EXPECT_TRUE(GatewayMetrics::IsRefusalCode("budget_exceeded"));
  EXPECT_FALSE(GatewayMetrics::IsRefusalCode("context_length_exceeded"));
}

// deploy/grafana/warden.json reads only series this gateway exports, with labels they have.
TEST(MetricsTest, TheGrafanaDashboardQueriesExistingSeriesAndLabels) {
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) + "/deploy/grafana/warden.json");
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto dash = ParseJson(ss.str());
  ASSERT_TRUE(dash && dash->is_object());
  metrics::GatewayMetrics m;
  metrics::RequestSample s;
  s.endpoint = "chat.completions";
  s.model = "chat";
  s.provider = "p";
  s.status = 500;
  s.upstream = true;
  s.first_byte_s = 0.1;
  s.prompt_tokens = s.completion_tokens = 1;
  s.cost = 1'000'000'000'000;  // $1 in pico-dollars
  s.refusal = "budget_exceeded";
  s.tries = {{"p/a", "http_503"}, {"p/a", "http_503"}, {"p/b", ""}};
  s.redactions = {{"EMAIL", 1}};
  m.Record(s);
  m.SetBreakerState("p/a", 2);
  PromParse page = ParsePrometheus(m.registry().Render());
  std::map<std::string, std::set<std::string>> labels;  // series name → label names
  for (const auto& sample : page.samples)
    for (const auto& [k, v] : sample.labels) labels[sample.name].insert(k);
  for (const auto& sample : page.samples) labels[sample.name];
  int queries = 0;
  for (const Json& panel : (*dash)["panels"]) {
    for (const Json& target : panel["targets"]) {
      const std::string expr = target["expr"].get<std::string>();
      ++queries;
      std::set<std::string> series;
      for (size_t pos = 0; (pos = expr.find("warden_", pos)) != std::string::npos;) {
        size_t end = pos;
        while (end < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[end])) || expr[end] == '_')) ++end;
        series.insert(expr.substr(pos, end - pos));
        pos = end;
      }
      ASSERT_FALSE(series.empty()) << expr;
      for (const auto& name : series) {
        ASSERT_TRUE(labels.count(name)) << "the dashboard queries " << name << ", which is not exported";
        // Every label it groups by (`by (a, b)`) exists on that series.
        for (size_t by = 0; (by = expr.find("by (", by)) != std::string::npos; by += 4) {
          std::string list = expr.substr(by + 4, expr.find(')', by) - by - 4);
          std::stringstream names(list);
          for (std::string label; std::getline(names, label, ',');) {
            label.erase(0, label.find_first_not_of(' '));
            if (label == "le" && name.ends_with("_bucket")) continue;
            if (expr.find(name + "_bucket") != std::string::npos) continue;  // checked as the _bucket series
            EXPECT_TRUE(labels[name].count(label)) << expr << ": " << name << " has no label " << label;
          }
        }
      }
    }
  }
  EXPECT_GE(queries, 12);
}

}  // namespace
}  // namespace warden::testing
