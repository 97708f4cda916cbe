// Renders ReportData as one HTML page (table, bar charts, sweep curve, timelines,
// histograms; all inline SVG and CSS) and as JSON for scripts.
#include "coordinator/report/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/stats.h"
#include "common/task_kind.h"

namespace taskfarm {
namespace {

// Appends printf-style output. Only numbers and escaped text go through here.
__attribute__((format(printf, 2, 3))) void Appendf(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (static_cast<size_t>(n) < sizeof buf) {
    out.append(buf, static_cast<size_t>(n));
    return;
  }
  std::string big(static_cast<size_t>(n) + 1, '\0');
  va_start(ap, fmt);
  std::vsnprintf(big.data(), big.size(), fmt, ap);
  va_end(ap);
  out.append(big.data(), static_cast<size_t>(n));
}

void AppendEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters are not allowed in HTML text; a space keeps the layout.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
}

// Producers may hand us inf/NaN (a speedup over a zero-time baseline); SVG
// coordinates must stay finite or the whole element disappears.
double Finite(double v) { return std::isfinite(v) ? v : 0.0; }

// Non-finite numbers show as "-": the cells are the terminal's too, where
// every character is one byte wide.
std::string Fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Seconds with as many decimals as a reader can use.
std::string Seconds(double s) {
  if (!std::isfinite(s)) return "-";
  if (s < 0.1) return Fixed(s, 3);
  if (s < 100) return Fixed(s, 2);
  return Fixed(s, 1);
}

// "4.93x", as the terminal writes a speedup (one byte a character).
std::string Ratio(double v) { return std::isfinite(v) ? Fixed(v, std::fabs(v) < 10 ? 2 : 1) + "x" : "-"; }

std::string Rate(double v) { return Fixed(v, std::fabs(v) < 100 ? 1 : 0); }

// 0.994 -> "99%", 1.94 -> "194%".
std::string Percent(double fraction) { return std::isfinite(fraction) ? Fixed(100 * fraction, 0) + "%" : "-"; }

// Milliseconds in about three significant digits, for tooltips and captions.
std::string Millis(double ms) {
  if (!std::isfinite(ms)) return "-";
  if (ms >= 100) return Fixed(ms, 0);
  if (ms >= 10) return Fixed(ms, 1);
  if (ms >= 1) return Fixed(ms, 2);
  return Fixed(ms, 3);
}

// 1, 2 or 5 times a power of ten, so axis labels read as round numbers.
double NiceStep(double range, int target_ticks) {
  if (!(range > 0) || !std::isfinite(range)) return 1;
  double raw = range / std::max(1, target_ticks);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * mag;
}

std::string TickLabel(double v, double step) {
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return Fixed(std::fabs(v) < step * 1e-6 ? 0.0 : v, std::clamp(decimals, 0, 6));
}

// Labels for a set of ticks from AxisTicks: as many decimals as the step
// between them needs on a linear axis; 1, 20, 0.5 on a log one.
std::string TickText(double v, const std::vector<double>& ticks, bool log_scale) {
  if (log_scale) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : 1;
  return TickLabel(v, step);
}

// 10^k, exact for the exponents durations have.
double Pow10(int k) { return k >= 0 ? std::pow(10.0, k) : 1 / std::pow(10.0, -k); }

// An axis title, marked so a reader (and the browser check) can find it:
// x under the plot, y turned up along its left side.
void AxisLabel(std::string& out, char axis, double x, double y, std::string_view text) {
  if (axis == 'x') {
    Appendf(out, "<text class=\"ttl axis-label\" data-axis=\"x\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, y);
  } else {
    Appendf(out,
            "<text class=\"ttl axis-label\" data-axis=\"y\" text-anchor=\"middle\" "
            "transform=\"translate(%.1f %.1f) rotate(-90)\">",
            x, y);
  }
  AppendEscaped(out, text);
  out += "</text>\n";
}

// "w2" before "w10": workers are numbered.
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::string_view na(a.data() + i, ie - i), nb(b.data() + j, je - j);
      while (na.size() > 1 && na[0] == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb[0] == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;  // "w01" and "w1" are different workers: keep them apart
}

// Colors: a task kind keeps its color in every chart; red is kept for failure.
constexpr const char* kPalette[] = {"#6366f1", "#ec4899", "#84cc16", "#06b6d4", "#f97316", "#a16207"};

std::string KindColor(const std::string& kind, size_t index) {
  if (const TaskKind* k = FindKind(kind)) return std::string(k->text.color);
  return kPalette[index % std::size(kPalette)];
}

std::string ModeColor(const std::string& mode, size_t index) {
  static const std::map<std::string, std::string, std::less<>> known = {
      {"sequential", "#9ca3af"},  {"session", "#64748b"}, {"threads-5", "#60a5fa"},
      {"threads-100", "#2563eb"}, {"threads", "#3b82f6"}, {"async", "#14b8a6"},
      {"processes", "#f59e0b"},   {"hybrid", "#8b5cf6"},  {"oversubscribed", "#ea580c"}};
  auto it = known.find(mode);
  if (it != known.end()) return it->second;
  if (mode.rfind("threads", 0) == 0) return "#3b82f6";
  return kPalette[index % std::size(kPalette)];
}

std::string VerdictClass(const std::string& verdict) {
  if (verdict.find("I/O") != std::string::npos) return "v-io";
  if (verdict.find("CPU") != std::string::npos) return "v-cpu";
  return "v-mixed";
}

constexpr const char* kStyle = R"css(
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--soft:#f3f4f6;--accent:#2563eb;--fail:#dc2626}
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans","Liberation Sans",Arial,sans-serif;-webkit-font-smoothing:antialiased}
main{max-width:1240px;margin:0 auto;padding:28px 24px 40px}
header{margin-bottom:18px}
h1{font-size:26px;line-height:1.2;margin:0 0 8px;letter-spacing:-.01em}
h2{font-size:18px;margin:0 0 12px}
h3{font-size:14px;margin:0 0 6px;font-weight:600}
.meta{display:flex;flex-wrap:wrap;gap:6px 22px;color:var(--muted);font-size:13px;margin:0}
.meta dt{display:inline;font-weight:600;color:#4b5563}
.meta dt::after{content:":"}
.meta dd{display:inline;margin:0 0 0 4px}
code{font:12.5px/1.4 ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace;background:#eef2f7;border-radius:4px;padding:1px 5px;color:#111827}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px 20px;margin:0 0 18px;box-shadow:0 1px 2px rgba(0,0,0,.04)}
.note{color:var(--muted);font-size:13px;margin:6px 0 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 9px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
thead th{font-size:12px;font-weight:600;color:#4b5563;background:#f9fafb;border-bottom:2px solid var(--line);white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody.grp th.wl{background:#f9fafb;font-weight:600;border-right:1px solid var(--line);min-width:130px;max-width:190px}
tbody.grp tr:last-child td,tbody.grp tr:last-child th{border-bottom:2px solid #d1d5db}
td.mode{font-weight:600;white-space:nowrap}
td.desc{color:#4b5563;min-width:200px}
.rng{color:var(--muted);font-size:12px}
tr.best td.med{font-weight:700;color:#065f46}
tr.best td.med .rng{font-weight:400}
tr.failed td{background:#fef2f2}
tr.failed td.mode{color:var(--fail)}
.badge{display:inline-block;font-size:11px;font-weight:600;border-radius:9px;padding:0 7px;margin-left:6px;background:var(--fail);color:#fff}
.pill{display:inline-block;font-size:12px;font-weight:600;border-radius:10px;padding:1px 9px;white-space:nowrap}
.v-io{background:#dbeafe;color:#1e40af}
.v-cpu{background:#fef3c7;color:#92400e}
.v-mixed{background:#ede9fe;color:#5b21b6}
#conclusions p{margin:0 0 8px;padding:8px 14px;border-left:4px solid var(--accent);background:#f8fafc;border-radius:0 6px 6px 0;font-size:14.5px}
#conclusions p:last-child{margin-bottom:0}
.charts{display:flex;flex-wrap:wrap;gap:18px 28px}
.charts figure{max-width:548px}
figure{margin:0}
figcaption{font-size:12px;color:var(--muted);margin-top:2px}
svg{display:block;max-width:100%;height:auto;overflow:visible}
svg text{font-family:inherit;font-size:11px;fill:#374151}
svg .lbl{font-size:12px;fill:#111827}
svg .val{font-size:11px;fill:#374151;font-variant-numeric:tabular-nums}
svg .ttl{font-size:12px;fill:#4b5563}
.axis{stroke:#9ca3af;stroke-width:1;fill:none}
.grid{stroke:#eef0f3;stroke-width:1;fill:none}
.whisker{stroke:#374151;stroke-width:1.2;fill:none}
.bar.fail{fill:url(#tf-hatch);stroke:var(--fail)}
.sweep-wrap{display:flex;flex-wrap:wrap;gap:18px 32px;align-items:flex-start}
.sweep-wrap table{width:auto;min-width:360px}
.tables{display:flex;flex-wrap:wrap;gap:18px 40px;align-items:flex-start}
table.tt{width:auto;min-width:320px}
table.tt caption{caption-side:top;text-align:left;font-weight:600;font-size:14px;padding:0 0 6px}
.tt-note{white-space:pre-line}
svg .sub{font-size:10.5px;fill:#6b7280}
.scroll{overflow-x:auto}
.line-measured{stroke:#2563eb;stroke-width:2.5;fill:none}
.line-ideal{stroke:#9ca3af;stroke-width:1.5;stroke-dasharray:6 4;fill:none}
.line-amdahl{stroke:#f59e0b;stroke-width:2;stroke-dasharray:2 3;fill:none}
.dot{fill:#2563eb;stroke:#fff;stroke-width:1.5}
.note.lead{margin:0 0 10px}
.tgrid{stroke:#fff;stroke-width:1.5}
.lane0{fill:#f8fafc}.lane1{fill:#f1f5f9}
.task-bar{stroke:#fff;stroke-width:.5}
.s-retry .task-bar{stroke:#111827;stroke-width:1.5}
.s-fail .task-bar{fill:url(#tf-hatch);stroke:var(--fail);stroke-width:1}
.dense .task-bar{stroke:none}
.dense .s-retry .task-bar{stroke:#111827;stroke-width:.75}
.dense .s-fail .task-bar{fill:var(--fail)}
.wall-end{stroke:#111827;stroke-width:1;stroke-dasharray:3 3}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:#4b5563;margin:2px 0 8px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:14px;height:10px;border-radius:2px}
.sw.retry{background:#e5e7eb;outline:1.5px solid #111827;outline-offset:-1.5px}
.sw.fail{background:repeating-linear-gradient(135deg,#fecaca 0 2px,#dc2626 2px 3.5px);outline:1px solid var(--fail);outline-offset:-1px}
.timeline+.timeline{margin-top:22px}
.stats{font-size:12.5px;color:var(--muted);margin:0 0 4px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:8px}
)css";

// ---- a table as the terminal prints it ----------------------------------------

// The cells as they are; the title as caption, the note (lines kept) under it.
void RenderTextTable(std::string& out, const TextTable& t, const char* cls) {
  size_t columns = t.header.size();
  for (const auto& row : t.rows) columns = std::max(columns, row.size());
  auto numeric = [&](size_t i) { return i < t.numeric.size() && t.numeric[i]; };
  out += "<div class=\"tt-wrap\"><div class=\"scroll\"><table class=\"tt ";
  out += cls;
  out += "\">";
  if (!t.title.empty()) {
    out += "<caption>";
    AppendEscaped(out, t.title);
    out += "</caption>";
  }
  if (!t.header.empty()) {
    out += "<thead><tr>";
    for (size_t i = 0; i < columns; ++i) {
      out += numeric(i) ? "<th class=\"num\">" : "<th>";
      if (i < t.header.size()) AppendEscaped(out, t.header[i]);
      out += "</th>";
    }
    out += "</tr></thead>";
  }
  out += "<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (size_t i = 0; i < columns; ++i) {
      out += numeric(i) ? "<td class=\"num\">" : "<td>";
      if (i < row.size()) AppendEscaped(out, row[i]);
      out += "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody></table></div>";
  if (!t.note.empty()) {
    out += "<p class=\"note tt-note\">";
    AppendEscaped(out, t.note);
    out += "</p>";
  }
  out += "</div>\n";
}

// ---- comparison table ------------------------------------------------------

using Group = std::pair<std::string, std::vector<const ModeRow*>>;

std::vector<Group> GroupByWorkload(const std::vector<ModeRow>& rows) {
  std::vector<Group> groups;
  for (const ModeRow& r : rows) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.first == r.workload; });
    if (it == groups.end()) {
      groups.emplace_back(r.workload, std::vector<const ModeRow*>{});
      it = groups.end() - 1;
    }
    it->second.push_back(&r);
  }
  return groups;
}

void RenderTable(std::string& out, const std::vector<Group>& groups) {
  out +=
      "<section id=\"comparison\"><h2>Modes compared</h2>\n<div class=\"scroll\"><table class=\"cmp\"><thead><tr>"
      "<th>workload</th><th>mode</th><th>description</th><th class=\"num\">wall s median [min-max]</th>"
      "<th class=\"num\">tasks/s</th><th class=\"num\">speedup</th><th class=\"num\">efficiency</th>"
      "<th class=\"num\">CPU s</th><th class=\"num\">CPU/wall</th><th>verdict</th></tr></thead>\n";
  for (const auto& [workload, rows] : groups) {
    // The fastest mode that finished everything is the one to read first.
    const ModeRow* best = nullptr;
    for (const ModeRow* r : rows) {
      if (r->ok && std::isfinite(r->median_s) && (!best || r->median_s < best->median_s)) best = r;
    }
    out += "<tbody class=\"grp\">\n";
    bool first = true;
    for (const ModeRow* r : rows) {
      std::string cls;
      if (!r->ok) cls = "failed";
      if (r == best) cls += cls.empty() ? "best" : " best";
      out += cls.empty() ? "<tr>" : "<tr class=\"" + cls + "\">";
      if (first) {
        Appendf(out, "<th class=\"wl\" scope=\"rowgroup\" rowspan=\"%zu\">", rows.size());
        AppendEscaped(out, workload);
        out += "</th>";
        first = false;
      }
      out += "<td class=\"mode\">";
      AppendEscaped(out, r->mode);
      if (!r->ok) out += "<span class=\"badge\">failed</span>";
      out += "</td><td class=\"desc\">";
      AppendEscaped(out, r->description);
      ModeCells c = CellsOf(*r);
      out += "</td><td class=\"num med\">" + c.median_s;
      if (!c.range_s.empty()) out += " <span class=\"rng\">[" + c.range_s + "]</span>";
      out += "</td><td class=\"num\">" + c.tasks_per_s + "</td><td class=\"num\">" + c.speedup +
             "</td><td class=\"num\">" + c.efficiency + "</td><td class=\"num\">" + c.cpu_s +
             "</td><td class=\"num\">" + c.cpu_over_wall + "</td><td>";
      if (!r->verdict.empty()) {
        out += "<span class=\"pill " + VerdictClass(r->verdict) + "\">";
        AppendEscaped(out, r->verdict);
        out += "</span>";
      }
      out += "</td></tr>\n";
    }
    out += "</tbody>\n";
  }
  out +=
      "</table></div>\n<p class=\"note\">Speedup is over <em>sequential</em>; efficiency is speedup divided by what the"
      " mode could overlap at best; CPU s is the CPU time the run's processes used; CPU/wall near 0% means the"
      " tasks mostly waited, 100% per busy core means they computed.</p></section>\n";
}

// ---- bar chart of wall time per mode ----------------------------------------

void RenderBarChart(std::string& out, const Group& group, std::map<std::string, size_t>& mode_index) {
  const auto& rows = group.second;
  const double width = 548, left = 114, right = 104, top = 6, row_h = 28, bar_h = 16, bottom = 42;
  const double plot_w = width - left - right;
  const double height = top + rows.size() * row_h + bottom;
  double xmax = 0;
  size_t runs = 0;
  for (const ModeRow* r : rows) {
    xmax = std::max({xmax, Finite(r->median_s), Finite(r->max_s)});
    runs = std::max(runs, r->wall_s.size());
  }
  double step = NiceStep(xmax > 0 ? xmax : 1, 5);
  double axis_max = std::max(step, std::ceil(xmax / step - 1e-9) * step);
  auto x = [&](double s) { return left + std::clamp(Finite(s), 0.0, axis_max) / axis_max * plot_w; };
  const double axis_y = top + rows.size() * row_h;

  out += "<figure><h3>";
  AppendEscaped(out, group.first);
  out += ": median wall time per mode</h3>";
  Appendf(out, "<svg class=\"bars\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", width,
          height, width, height);
  for (double t = 0; t <= axis_max + step * 1e-6; t += step) {
    Appendf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x(t), top, x(t), axis_y);
    Appendf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x(t), axis_y + 15,
            TickLabel(t, step).c_str());
  }
  Appendf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, axis_y, left + plot_w,
          axis_y);
  Appendf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, top, left, axis_y);
  for (size_t i = 0; i < rows.size(); ++i) {
    const ModeRow& r = *rows[i];
    auto [it, added] = mode_index.emplace(r.mode, mode_index.size());
    double yc = top + i * row_h + row_h / 2;
    out += "<g>";
    Appendf(out, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"central\">",
            left - 8, yc);
    AppendEscaped(out, r.mode);
    out += "</text>";
    Appendf(out, "<rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" fill=\"%s\">",
            r.ok ? "" : " fail", left, yc - bar_h / 2, std::max(1.0, x(r.median_s) - left), bar_h,
            ModeColor(r.mode, it->second).c_str());
    out += "<title>";
    AppendEscaped(out, r.mode);
    out += ": median " + Seconds(r.median_s) + " s</title></rect>";
    double end = x(r.median_s);
    if (r.wall_s.size() > 1 && r.max_s > r.min_s) {
      double x0 = x(r.min_s), x1 = x(r.max_s);
      Appendf(out, "<path class=\"whisker\" d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\"/>", x0, yc, x1, x0,
              yc - 5, yc + 5, x1, yc - 5, yc + 5);
      end = std::max(end, x1);
    }
    std::string value = CellsOf(r).median_s + " s";
    if (r.speedup > 0 && std::isfinite(r.speedup)) value += " · " + Ratio(r.speedup);
    if (!r.ok) value += " · failed";
    Appendf(out, "<text class=\"val\" x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"central\">%s</text></g>\n", end + 6, yc,
            value.c_str());
  }
  std::string axis_title = "median wall time (s)";
  if (runs > 1) axis_title += ", whiskers: min-max of " + std::to_string(runs) + " runs";
  AxisLabel(out, 'x', left + plot_w / 2, axis_y + 34, axis_title);
  AxisLabel(out, 'y', 11, top + rows.size() * row_h / 2, "mode");
  out += "</svg></figure>\n";
}

// ---- sweep ------------------------------------------------------------------

void RenderSweep(std::string& out, const SweepResult& sweep) {
  out += "<div class=\"sweep\"><h3>";
  AppendEscaped(out, sweep.workload);
  out += sweep.workload.empty() ? "Speedup as " : ": speedup as ";
  AppendEscaped(out, sweep.param);
  out += " grows</h3>\n";
  const auto& pts = sweep.points;
  if (!pts.empty()) {
    const double width = 560, height = 330, left = 52, right = 18, top = 14, bottom = 50;
    const double plot_w = width - left - right, plot_h = height - top - bottom;
    int vmin = pts.front().value, vmax = pts.front().value;
    double ymax = 1;
    for (const SweepPoint& p : pts) {
      vmin = std::min(vmin, p.value);
      vmax = std::max(vmax, p.value);
      ymax = std::max({ymax, Finite(p.speedup), Finite(p.ideal), Finite(p.amdahl)});
    }
    // Concurrency sweeps span decades (1, 10, 100): a log axis keeps the low end readable.
    bool log_x = vmin > 0 && vmax >= 10 * vmin;
    double lo = log_x ? std::log(vmin) : 0, hi = log_x ? std::log(vmax) : vmax;
    if (log_x) {
      double pad = (hi - lo) * 0.04;
      lo -= pad;
      hi += pad;
    }
    if (hi <= lo) hi = lo + 1;
    auto x = [&](double v) {
      double t = log_x ? std::log(std::max(v, 1e-9)) : v;
      return left + (t - lo) / (hi - lo) * plot_w;
    };
    double ystep = NiceStep(ymax, 5);
    double ytop = std::ceil(ymax / ystep - 1e-9) * ystep;
    auto y = [&](double v) { return top + plot_h - std::clamp(Finite(v), 0.0, ytop) / ytop * plot_h; };

    out += "<div class=\"sweep-wrap\"><figure>";
    Appendf(out, "<svg class=\"sweep-chart\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n",
            width, height, width, height);
    for (double t = 0; t <= ytop + ystep * 1e-6; t += ystep) {
      Appendf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, y(t), left + plot_w,
              y(t));
      Appendf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"central\">%sx</text>\n",
              left - 6, y(t), TickLabel(t, ystep).c_str());
    }
    std::set<int> ticks;
    for (const SweepPoint& p : pts) ticks.insert(p.value);
    for (int v : ticks) {
      Appendf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x(v), top, x(v),
              top + plot_h);
      Appendf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", x(v), top + plot_h + 15, v);
    }
    Appendf(out, "<path class=\"axis\" d=\"M%.1f %.1fV%.1fH%.1f\"/>\n", left, top, top + plot_h, left + plot_w);
    auto polyline = [&](const char* cls, auto value_of) {
      out += "<polyline class=\"";
      out += cls;
      out += "\" points=\"";
      for (const SweepPoint& p : pts) Appendf(out, "%.1f,%.1f ", x(p.value), y(value_of(p)));
      out += "\"/>\n";
    };
    polyline("line-ideal", [](const SweepPoint& p) { return p.ideal; });
    // Amdahl's curve is smooth: when the points follow S(n) = 1 / (s + (1 - s) n0 / n)
    // from the first value, draw it finely between them instead of as straight segments.
    const double s = sweep.serial_fraction, v0 = pts.front().value;
    bool formula = v0 > 0 && s >= 0 && s <= 1;
    for (const SweepPoint& p : pts) {
      double want = p.value > 0 ? 1 / (s + (1 - s) * v0 / p.value) : 0;
      formula = formula && p.value > 0 && std::fabs(want - p.amdahl) <= 1e-3 * std::max(1.0, std::fabs(want));
    }
    if (formula && vmax > vmin) {
      out += "<polyline class=\"line-amdahl\" points=\"";
      for (int i = 0; i <= 80; ++i) {
        double v =
            log_x ? vmin * std::pow(static_cast<double>(vmax) / vmin, i / 80.0) : vmin + (vmax - vmin) * i / 80.0;
        Appendf(out, "%.1f,%.1f ", x(v), y(1 / (s + (1 - s) * v0 / v)));
      }
      out += "\"/>\n";
    } else {
      polyline("line-amdahl", [](const SweepPoint& p) { return p.amdahl; });
    }
    polyline("line-measured", [](const SweepPoint& p) { return p.speedup; });
    for (const SweepPoint& p : pts) {
      Appendf(out, "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"><title>%d: %s, %s s</title></circle>",
              x(p.value), y(p.speedup), p.value, Ratio(p.speedup).c_str(), Seconds(p.median_s).c_str());
      Appendf(out, "<text class=\"val\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x(p.value),
              y(p.speedup) - 9, Ratio(p.speedup).c_str());
    }
    // Legend in the top-left corner, where speedup curves never go.
    const double lx = left + 14, ly = top + 12;
    std::string amdahl = "Amdahl fit, serial " + Fixed(sweep.serial_fraction * 100, 1) + " %";
    const std::pair<const char*, std::string> legend[] = {
        {"line-measured", "measured"}, {"line-ideal", "ideal (linear)"}, {"line-amdahl", amdahl}};
    Appendf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"190\" height=\"62\" rx=\"4\" fill=\"#fff\" stroke=\"#e5e7eb\"/>",
            lx - 8, ly - 10);
    for (size_t i = 0; i < std::size(legend); ++i) {
      double yy = ly + i * 18 + 2;
      Appendf(out, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", legend[i].first, lx, yy,
              lx + 26, yy);
      Appendf(out, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"central\">%s</text>\n", lx + 34, yy,
              legend[i].second.c_str());
    }
    std::string x_title = sweep.param + (log_x ? " (log scale)" : "");
    AxisLabel(out, 'x', left + plot_w / 2, height - 8, x_title);
    AxisLabel(out, 'y', 13, top + plot_h / 2,
              "speedup over " + sweep.param + "=" + std::to_string(pts.front().value) + " (x)");
    out += "</svg></figure>\n";
    TextTable table = SweepTable(sweep);
    table.title.clear();  // the heading above says it
    RenderTextTable(out, table, "sweep-table");
    out += "</div>\n";
  }
  out += "<p class=\"note\">Serial fraction from a fit of Amdahl's law: <strong>" +
         Fixed(sweep.serial_fraction * 100, 1) + " %</strong>";
  if (sweep.serial_fraction > 0 && std::isfinite(sweep.serial_fraction)) {
    out += " (at most " + Ratio(1 / sweep.serial_fraction) + " however many are added)";
  }
  out += ".";
  if (!sweep.note.empty()) {
    out += " ";
    AppendEscaped(out, sweep.note);
  }
  out += "</p></div>\n";
}

// ---- timeline -----------------------------------------------------------------

enum SpanState { kOk = 0, kRetried = 1, kFailed = 2 };

// A worker's overlapping tasks get a row each, at least kMinRowPx tall; past
// kMaxRows (a worker with hundreds in flight) rows are reused in turn, so
// the lane stays at most 64 x 6 px tall and every bar still shows.
constexpr double kMinRowPx = 6;
constexpr size_t kMaxRows = 64;

double RowGap(double row_px) { return row_px >= 8 ? 2 : 1; }

SpanState StateOf(const TaskSpan& s) { return !s.ok ? kFailed : s.attempts > 1 ? kRetried : kOk; }

void RenderTimeline(std::string& out, const RunTimeline& run, const std::map<std::string, size_t>& kind_index) {
  out += "<div class=\"timeline\"><h3>";
  AppendEscaped(out, run.title.empty() ? std::string("run") : run.title);
  out += "</h3>\n";

  // Lanes: one per worker; tasks overlapping in one worker (concurrency > 1)
  // get sub-rows, first fit, so every bar stays visible.
  std::map<std::string, std::vector<size_t>, decltype(&NaturalLess)> by_worker(&NaturalLess);
  double end_ms = Finite(run.wall_ms), busy_ms = 0;
  size_t retried = 0, failed = 0;
  std::set<size_t> kinds_here;
  for (size_t i = 0; i < run.spans.size(); ++i) {
    const TaskSpan& s = run.spans[i];
    by_worker[s.worker].push_back(i);
    end_ms = std::max(end_ms, Finite(s.start_ms) + Finite(s.duration_ms));
    busy_ms += std::max(0.0, Finite(s.duration_ms));
    if (!s.ok)
      ++failed;
    else if (s.attempts > 1)
      ++retried;
    kinds_here.insert(kind_index.at(s.kind));
  }
  double wall_ms = run.wall_ms > 0 ? run.wall_ms : end_ms;
  out += "<p class=\"stats\">";
  Appendf(out, "%zu tasks · %zu workers · wall %s s", run.spans.size(), by_worker.size(),
          Seconds(wall_ms / 1000).c_str());
  if (wall_ms > 0) out += " · " + Fixed(busy_ms / wall_ms, 1) + " tasks in flight on average";
  Appendf(out, " · %zu retried · %zu failed</p>\n", retried, failed);
  if (run.spans.empty()) {
    out += "</div>\n";
    return;
  }
  out += "<div class=\"legend\">";
  for (const auto& [kind, index] : kind_index) {
    if (!kinds_here.count(index)) continue;
    Appendf(out, "<span><i class=\"sw k%zu\"></i>", index);
    AppendEscaped(out, kind);
    out += "</span>";
  }
  out += "<span><i class=\"sw retry\"></i>retried</span><span><i class=\"sw fail\"></i>failed</span></div>\n";

  struct Placed {
    size_t span;
    size_t lane;
    size_t row;
  };
  std::vector<Placed> placed;
  placed.reserve(run.spans.size());
  struct Lane {
    std::string worker;
    size_t rows = 1;          // rows drawn
    size_t most_at_once = 1;  // tasks overlapping at most, in first-fit rows
  };
  std::vector<Lane> lanes;
  // A farm of a thousand workers would be a thousand lanes (80,000 px):
  // past kMaxWorkerRows (text_table.h), only the busiest and the idlest few
  // are drawn, by time in tasks, as the summary's worker table shows them.
  using Entry = std::pair<const std::string, std::vector<size_t>>;
  std::vector<Entry*> drawn;
  for (Entry& e : by_worker) drawn.push_back(&e);
  size_t left_out = 0;
  if (drawn.size() > kMaxWorkerRows) {
    std::map<const Entry*, double> in_tasks;
    for (const Entry* e : drawn) {
      double& t = in_tasks[e];
      for (size_t i : e->second) t += std::max(0.0, Finite(run.spans[i].duration_ms));
    }
    std::stable_sort(drawn.begin(), drawn.end(),
                     [&](const Entry* a, const Entry* b) { return in_tasks[a] > in_tasks[b]; });
    const size_t k = kBusiestAndIdlest;
    left_out = drawn.size() - 2 * k;
    drawn.erase(drawn.begin() + k, drawn.end() - k);
  }
  for (Entry* entry : drawn) {
    const std::string& worker = entry->first;
    std::vector<size_t>& idx = entry->second;
    std::sort(idx.begin(), idx.end(),
              [&](size_t a, size_t b) { return Finite(run.spans[a].start_ms) < Finite(run.spans[b].start_ms); });
    std::vector<double> row_end;
    for (size_t i : idx) {
      const TaskSpan& s = run.spans[i];
      double start = Finite(s.start_ms), stop = start + std::max(0.0, Finite(s.duration_ms));
      size_t row = 0;
      // Small tolerance: back-to-back tasks on one connection touch, they do not overlap.
      while (row < row_end.size() && row_end[row] > start + 0.01) ++row;
      if (row == row_end.size())
        row_end.push_back(stop);
      else
        row_end[row] = stop;
      placed.push_back({i, lanes.size(), row % kMaxRows});
    }
    size_t most = std::max<size_t>(1, row_end.size());
    lanes.push_back({worker, std::min(most, kMaxRows), most});
  }

  const double width = 1130, left = 92, right = 16, top = 4, lane_gap = 4, pad = 3;
  const double plot_w = width - left - right;
  std::vector<double> lane_y(lanes.size()), row_h(lanes.size()), lane_h(lanes.size());
  double y = top;
  for (size_t l = 0; l < lanes.size(); ++l) {
    size_t n = lanes[l].rows;
    // Up to 4 overlapping tasks get full-height rows; more thin out, but
    // never below kMinRowPx: the chart grows instead, so 32 at once on a
    // worker (the default --concurrency) are 32 bars a reader can tell apart.
    row_h[l] = n <= 4 ? 16 : std::max(kMinRowPx, 80.0 / n);
    double gap = RowGap(row_h[l]);
    lane_h[l] = n * row_h[l] + (n - 1) * gap + 2 * pad;
    lane_y[l] = y;
    y += lane_h[l] + lane_gap;
  }
  const double axis_y = y;
  const double height = axis_y + 40;
  double span_ms = end_ms > 0 ? end_ms : 1;
  double step_s = NiceStep(span_ms / 1000, 10);
  double axis_max_s = std::ceil(span_ms / 1000 / step_s - 1e-9) * step_s;
  auto x = [&](double ms) { return left + std::max(0.0, Finite(ms)) / (axis_max_s * 1000) * plot_w; };

  Appendf(out, "<svg class=\"timeline-chart\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n",
          width, height, width, height);
  for (size_t l = 0; l < lanes.size(); ++l) {
    Appendf(out, "<rect class=\"lane%zu\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", l % 2, left,
            lane_y[l], plot_w, lane_h[l]);
    const Lane& lane = lanes[l];
    bool sub = lane.most_at_once > 1 && lane_h[l] >= 30;
    Appendf(out, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"central\">",
            left - 8, lane_y[l] + lane_h[l] / 2 - (sub ? 7 : 0));
    AppendEscaped(out, lane.worker.empty() ? std::string("?") : lane.worker);
    out += "</text>";
    if (sub) {
      // How many ran at once on this worker (past kMaxRows the stats line says bars share rows).
      Appendf(out, "<text class=\"sub\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"central\">",
              left - 8, lane_y[l] + lane_h[l] / 2 + 8);
      Appendf(out, "%zu at once", lane.most_at_once);
      out += "</text>";
    }
    out += "\n";
  }
  for (double t = 0; t <= axis_max_s + step_s * 1e-6; t += step_s) {
    double xx = x(t * 1000);
    Appendf(out, "<line class=\"tgrid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", xx, top, xx,
            axis_y - lane_gap);
    Appendf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", xx, axis_y + 12,
            TickLabel(t, step_s).c_str());
  }
  Appendf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, axis_y - lane_gap / 2,
          left + plot_w, axis_y - lane_gap / 2);
  AxisLabel(out, 'x', left + plot_w / 2, axis_y + 30, "time since start (s)");
  AxisLabel(out, 'y', 11, top + (axis_y - top) / 2, "worker");

  // Bars grouped by kind and state: the group carries the color, so each span
  // costs one rect and its title, which keeps 100,000-task runs loadable.
  std::stable_sort(placed.begin(), placed.end(), [&](const Placed& a, const Placed& b) {
    const TaskSpan& sa = run.spans[a.span];
    const TaskSpan& sb = run.spans[b.span];
    size_t ka = kind_index.at(sa.kind), kb = kind_index.at(sb.kind);
    if (ka != kb) return ka < kb;
    return StateOf(sa) < StateOf(sb);
  });
  static constexpr const char* kStateClass[] = {"s-ok", "s-retry", "s-fail"};
  // Thin bars would be all outline: a dense run draws them without the white
  // separator and with a thinner retry outline, so their colors still show.
  double bar_px = 0;
  for (const TaskSpan& s : run.spans) bar_px += x(std::max(0.0, Finite(s.duration_ms))) - left;
  bool dense = bar_px / run.spans.size() < 4;
  out += dense ? "<g class=\"dense\">\n" : "<g>\n";
  size_t open_kind = SIZE_MAX;
  int open_state = -1;
  for (const Placed& p : placed) {
    const TaskSpan& s = run.spans[p.span];
    size_t k = kind_index.at(s.kind);
    int state = StateOf(s);
    if (k != open_kind || state != open_state) {
      if (open_state >= 0) out += "</g>\n";
      Appendf(out, "<g class=\"k%zu %s\">\n", k, kStateClass[state]);
      open_kind = k;
      open_state = state;
    }
    double gap = RowGap(row_h[p.lane]);
    double bx = x(s.start_ms);
    double bw = std::max(1.0, x(Finite(s.start_ms) + std::max(0.0, Finite(s.duration_ms))) - bx);
    double by = lane_y[p.lane] + pad + p.row * (row_h[p.lane] + gap);
    Appendf(out, "<rect class=\"task-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>task %u ", bx,
            by, bw, row_h[p.lane], s.id);
    AppendEscaped(out, s.kind);
    out += " " + Millis(s.duration_ms) + " ms attempt " + std::to_string(s.attempts);
    if (!s.ok) {
      out += " FAILED";
      if (!s.error.empty()) {
        out += ": ";
        AppendEscaped(out, s.error);
      }
    }
    out += "</title></rect>\n";
  }
  if (open_state >= 0) out += "</g>\n";
  out += "</g>\n";
  if (run.wall_ms > 0) {
    Appendf(
        out,
        "<line class=\"wall-end\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"><title>wall %s s</title></line>\n",
        x(run.wall_ms), top, x(run.wall_ms), axis_y - lane_gap / 2, Seconds(run.wall_ms / 1000).c_str());
  }
  out += "</svg>";
  if (left_out > 0) {
    Appendf(out,
            "<p class=\"note\">The %zu busiest and the %zu idlest of %zu workers, by time in tasks (the top %zu and"
            " the bottom %zu lanes); the other %zu are not drawn. Every task is in the histograms below.</p>",
            kBusiestAndIdlest, kBusiestAndIdlest, by_worker.size(), kBusiestAndIdlest, kBusiestAndIdlest, left_out);
  }
  if (std::any_of(lanes.begin(), lanes.end(), [](const Lane& l) { return l.most_at_once > l.rows; })) {
    Appendf(out,
            "<p class=\"note\">More than %zu tasks at once on a worker: their bars share its %zu rows in turn, so a"
            " bar may cover another.</p>",
            kMaxRows, kMaxRows);
  }
  out += "</div>\n";
}

// ---- latency histogram --------------------------------------------------------

void RenderHistogram(std::string& out, const LatencyHistogram& h, size_t kind_index) {
  const size_t n = h.edges_ms.size() >= 2 ? std::min(h.edges_ms.size() - 1, h.counts.size()) : 0;
  out += "<figure><h3>";
  AppendEscaped(out, h.title.empty() ? h.kind + ": duration of each task" : h.title);
  out += "</h3>";
  if (n == 0) {
    out += "<p class=\"note\">no samples</p></figure>\n";
    return;
  }
  const double width = 530, height = 232, left = 58, right = 16, top = 10, bottom = 48;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  uint64_t cmax = 0, total = 0;
  for (size_t i = 0; i < n; ++i) {
    cmax = std::max(cmax, h.counts[i]);
    total += h.counts[i];
  }
  const double lo = Finite(h.edges_ms.front()), hi = Finite(h.edges_ms[n]);
  const bool log_x = h.log_scale && lo > 0 && hi > lo;
  auto x = [&](double v) {
    double t = log_x ? std::log(std::max(v, lo) / lo) / std::log(hi / lo) : hi > lo ? (Finite(v) - lo) / (hi - lo) : 0;
    return left + std::clamp(t, 0.0, 1.0) * plot_w;
  };
  std::vector<double> yticks = AxisTicks(0, static_cast<double>(std::max<uint64_t>(cmax, 1)), false, 4);
  double ystep = yticks.size() >= 2 ? std::max(1.0, yticks[1] - yticks[0]) : 1;
  double ytop = std::max(ystep, std::ceil(cmax / ystep - 1e-9) * ystep);
  auto y = [&](double c) { return top + plot_h - c / ytop * plot_h; };

  Appendf(out,
          "<svg class=\"histogram\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\""
          " data-total=\"%llu\" data-min-ms=\"%.10g\" data-max-ms=\"%.10g\" data-scale=\"%s\" data-kind=\"",
          width, height, width, height, static_cast<unsigned long long>(h.total ? h.total : total), h.min_ms, h.max_ms,
          log_x ? "log" : "linear");
  AppendEscaped(out, h.kind);
  out += "\">\n";
  for (double t = 0; t <= ytop + 1e-9; t += ystep) {
    Appendf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, y(t), left + plot_w,
            y(t));
    Appendf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"central\">%s</text>\n", left - 6,
            y(t), TickLabel(t, ystep).c_str());
  }
  // One bar per bin that holds a task, from its lower to its upper edge;
  // the edges ride along as data so a reader (or a test) can check them.
  Appendf(out, "<g class=\"k%zu\">", kind_index);
  for (size_t i = 0; i < n; ++i) {
    if (h.counts[i] == 0) continue;
    double x0 = x(h.edges_ms[i]), x1 = x(h.edges_ms[i + 1]);
    double c = static_cast<double>(h.counts[i]);
    double gap = x1 - x0 > 4 ? 1 : 0;
    Appendf(out,
            "<rect class=\"bin\" x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" data-lo-ms=\"%.10g\""
            " data-hi-ms=\"%.10g\" data-count=\"%llu\">",
            x0 + gap / 2, y(c), std::max(0.8, x1 - x0 - gap), top + plot_h - y(c), h.edges_ms[i], h.edges_ms[i + 1],
            static_cast<unsigned long long>(h.counts[i]));
    Appendf(out, "<title>%.10g-%.10g ms: %llu tasks</title></rect>", h.edges_ms[i], h.edges_ms[i + 1],
            static_cast<unsigned long long>(h.counts[i]));
  }
  out += "</g>\n";
  Appendf(out, "<path class=\"axis\" d=\"M%.1f %.1fV%.1fH%.1f\"/>\n", left, top, top + plot_h, left + plot_w);
  std::vector<double> xticks = AxisTicks(lo, hi, log_x, 6);
  for (double v : xticks) {
    double xx = x(v);
    Appendf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", xx, top + plot_h, xx,
            top + plot_h + 4);
    Appendf(out, "<text class=\"xtick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", xx,
            top + plot_h + 16, TickText(v, xticks, log_x).c_str());
  }
  AxisLabel(out, 'x', left + plot_w / 2, height - 8, log_x ? "task duration (ms, log scale)" : "task duration (ms)");
  AxisLabel(out, 'y', 12, top + plot_h / 2, "tasks");
  out += "</svg><figcaption>";
  uint64_t count = h.total ? h.total : total;
  Appendf(out, "%llu task%s", static_cast<unsigned long long>(count), count == 1 ? "" : "s");
  if (h.max_ms > 0) {
    out += " · min " + Millis(h.min_ms) + " · p50 " + Millis(h.p50_ms) + " · p90 " + Millis(h.p90_ms) + " · p99 " +
           Millis(h.p99_ms) + " · max " + Millis(h.max_ms) + " ms";
  }
  if (!log_x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", h.edges_ms[1] - h.edges_ms[0]);
    out += std::string(" · bins of ") + buf + " ms";
  }
  out += "</figcaption></figure>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendEscaped(out, text);
  return out;
}

std::vector<double> AxisTicks(double lo, double hi, bool log_scale, int target) {
  std::vector<double> ticks;
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo) return ticks;
  if (log_scale && lo > 0 && hi > lo) {
    // Powers of ten when there are three or more; otherwise 1, 2, 5 x 10^k.
    int k0 = static_cast<int>(std::floor(std::log10(lo))), k1 = static_cast<int>(std::ceil(std::log10(hi)));
    for (int mantissas : {1, 3}) {
      ticks.clear();
      for (int k = k0; k <= k1; ++k) {
        for (int m : {1, 2, 5}) {
          if (mantissas == 1 && m != 1) continue;
          double v = m * Pow10(k);
          if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
        }
      }
      if (ticks.size() >= 3) break;
    }
    // Thin out decades past about twice the target, keeping every m-th.
    if (ticks.size() > 2 * static_cast<size_t>(target)) {
      size_t every = (ticks.size() + 2 * target - 1) / (2 * target);
      std::vector<double> kept;
      for (size_t i = 0; i < ticks.size(); i += every) kept.push_back(ticks[i]);
      ticks = std::move(kept);
    }
    if (ticks.size() >= 2) return ticks;
    ticks.clear();  // under a factor of 5 or so: round numbers on a linear step read better
  }
  double step = NiceStep(hi > lo ? hi - lo : std::max(std::fabs(lo), 1.0), target);
  long first = static_cast<long>(std::ceil(lo / step - 1e-9)), last = static_cast<long>(std::floor(hi / step + 1e-9));
  for (long k = first; k <= last; ++k) ticks.push_back(std::fabs(k * step) < step * 1e-9 ? 0.0 : k * step);
  return ticks;
}

std::vector<LatencyHistogram> BuildHistograms(const std::vector<TaskSpan>& spans) {
  std::map<std::string, std::vector<double>> by_kind;
  for (const TaskSpan& s : spans) {
    if (std::isfinite(s.duration_ms)) by_kind[s.kind].push_back(std::max(0.0, s.duration_ms));
  }
  std::vector<LatencyHistogram> out;
  for (auto& [kind, d] : by_kind) {
    std::sort(d.begin(), d.end());
    LatencyHistogram h;
    h.kind = kind;
    const double lo = d.front(), hi = d.back();
    // A spread over more than a factor of 20 gets a log scale, so the fast
    // tasks are not one bar at the left of the slow ones.
    h.log_scale = lo > 0 && hi / lo > 20;
    if (h.log_scale) {
      // Round edges, as many per decade as keep the bins at most about 32:
      // ten (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8), then 1-2-5, then decades.
      static const std::vector<int> kTenths[] = {{10, 12, 15, 20, 25, 30, 40, 50, 60, 80}, {10, 20, 50}, {10}};
      const double decades = std::log10(hi / lo);
      const std::vector<int>* mantissas = &kTenths[2];
      for (const auto& m : kTenths) {
        if (decades * m.size() <= 32) {
          mantissas = &m;
          break;
        }
      }
      std::vector<double> candidates;
      int k0 = static_cast<int>(std::floor(std::log10(lo))) - 1, k1 = static_cast<int>(std::ceil(std::log10(hi))) + 1;
      for (int k = k0; k <= k1; ++k) {
        // Tenths over a power of ten, so 1.2 x 10^-2 is 12 / 1000, not 1.2 * 0.01.
        for (int m : *mantissas) candidates.push_back(k >= 1 ? m * Pow10(k - 1) : m / Pow10(1 - k));
      }
      auto first = std::upper_bound(candidates.begin(), candidates.end(), lo) - 1;
      auto last = std::lower_bound(candidates.begin(), candidates.end(), hi);
      if (last == first) ++last;
      h.edges_ms.assign(first, last + 1);
    } else {
      // About 20 bins of a round width over the data's own range. When every
      // duration is the same: a bin a hundredth of the value wide, with empty
      // ones beside it so the chart shows one narrow bar, not a wall.
      double step = hi > lo ? NiceStep(hi - lo, 20) : NiceStep(std::max(lo, 1e-3) / 100, 1);
      long k0 = static_cast<long>(std::floor(lo / step + 1e-7));
      long k1 = static_cast<long>(std::ceil(hi / step - 1e-7));
      if (hi <= lo) {
        k1 = k0 + 3;
        k0 -= std::min(2L, k0);  // durations are never negative
      } else if (k1 <= k0) {
        k1 = k0 + 1;
      }
      for (long k = k0; k <= k1; ++k) h.edges_ms.push_back(k * step);
    }
    h.counts.assign(h.edges_ms.size() - 1, 0);
    for (double v : d) {
      // The bin whose lower edge is the last one at or below v; the top edge belongs to the last bin.
      size_t i = static_cast<size_t>(std::upper_bound(h.edges_ms.begin(), h.edges_ms.end(), v) - h.edges_ms.begin());
      ++h.counts[std::clamp<size_t>(i, 1, h.counts.size()) - 1];
    }
    h.total = d.size();
    h.min_ms = lo;
    h.p50_ms = Percentile(d, 50);
    h.p90_ms = Percentile(d, 90);
    h.p99_ms = Percentile(d, 99);
    h.max_ms = hi;
    out.push_back(std::move(h));
  }
  return out;
}

ModeCells CellsOf(const ModeRow& r) {
  ModeCells c;
  c.median_s = Seconds(r.median_s);
  if (r.wall_s.size() > 1) c.range_s = Seconds(r.min_s) + "-" + Seconds(r.max_s);
  c.tasks_per_s = Rate(r.tasks_per_s);
  c.speedup = Ratio(r.speedup);
  c.efficiency = Percent(r.efficiency);
  c.cpu_s = Fixed(r.cpu_s, 2);
  c.cpu_over_wall = Percent(r.cpu_over_wall);
  return c;
}

TextTable SweepTable(const SweepResult& sweep) {
  TextTable t;
  t.title = "sweep over " + sweep.param + (sweep.workload.empty() ? "" : " on " + sweep.workload);
  t.header = {sweep.param, "wall s", "speedup", "efficiency", "ideal", "Amdahl"};
  t.numeric.assign(t.header.size(), true);
  for (const SweepPoint& p : sweep.points) {
    t.rows.push_back({std::to_string(p.value), Seconds(p.median_s), Ratio(p.speedup), Percent(p.efficiency),
                      Ratio(p.ideal), Ratio(p.amdahl)});
  }
  return t;
}

std::string RenderHtmlReport(const ReportData& data) {
  std::string out;
  size_t span_count = 0;
  for (const RunTimeline& t : data.timelines) span_count += t.spans.size();
  out.reserve(16384 + span_count * 130);

  // Every kind gets one index (and so one color) for the whole page.
  std::map<std::string, size_t> kind_index;
  for (const RunTimeline& t : data.timelines) {
    for (const TaskSpan& s : t.spans) kind_index.emplace(s.kind, 0);
  }
  for (const LatencyHistogram& h : data.histograms) kind_index.emplace(h.kind, 0);
  {
    size_t i = 0;
    for (auto& [kind, index] : kind_index) index = i++;
  }

  std::string title = data.title.empty() ? std::string("taskfarm report") : data.title;
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // The browser itself refuses anything but inline styles: the page can never fetch.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
      "<title>";
  AppendEscaped(out, title);
  out += "</title>\n<style>";
  out += kStyle;
  for (const auto& [kind, index] : kind_index) {
    std::string color = KindColor(kind, index);
    Appendf(out, ".k%zu{fill:%s}.sw.k%zu{background:%s}\n", index, color.c_str(), index, color.c_str());
  }
  out += "</style>\n</head>\n<body>\n";
  // Shared pattern for failed bars, referenced from every chart by id.
  out +=
      "<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs>"
      "<pattern id=\"tf-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\""
      " patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fecaca\"/>"
      "<rect width=\"2.5\" height=\"6\" fill=\"#dc2626\"/></pattern></defs></svg>\n";
  out += "<main>\n<header><h1>";
  AppendEscaped(out, title);
  out += "</h1>\n<dl class=\"meta\">";
  auto meta = [&](const char* name, const std::string& value, bool as_code) {
    if (value.empty()) return;
    out += "<div><dt>";
    out += name;
    out += "</dt><dd>";
    if (as_code) out += "<code>";
    AppendEscaped(out, value);
    if (as_code) out += "</code>";
    out += "</dd></div>";
  };
  meta("machine", data.machine, false);
  meta("generated", data.generated_at, false);
  meta("command", data.command, true);
  out += "</dl></header>\n";

  std::vector<Group> groups = GroupByWorkload(data.rows);
  if (!groups.empty()) RenderTable(out, groups);

  if (!data.conclusions.empty()) {
    out += "<section id=\"conclusions\"><h2>What the numbers say</h2>\n";
    for (const std::string& c : data.conclusions) {
      out += "<p>";
      AppendEscaped(out, c);
      out += "</p>\n";
    }
    out += "</section>\n";
  }

  if (!data.tables.empty()) {
    out += "<section id=\"tables\"><h2>Summary</h2>\n<div class=\"tables\">\n";
    for (const TextTable& t : data.tables) RenderTextTable(out, t, "summary-table");
    out += "</div></section>\n";
  }

  if (!groups.empty()) {
    out += "<section id=\"wall-chart\"><h2>Wall time per mode</h2>\n<div class=\"charts\">\n";
    std::map<std::string, size_t> mode_index;
    for (const Group& g : groups) RenderBarChart(out, g, mode_index);
    out += "</div></section>\n";
  }

  if (!data.sweeps.empty()) {
    out += "<section id=\"sweep\"><h2>Speedup against the ideal</h2>\n";
    for (const SweepResult& s : data.sweeps) RenderSweep(out, s);
    out += "</section>\n";
  }

  if (!data.timelines.empty()) {
    out +=
        "<section id=\"timeline\"><h2>Timeline per worker</h2>\n"
        "<p class=\"note lead\">One bar per task, from its start to its end on the worker"
        " that ran it; hover a bar for its details. Gaps are idle time, long bars are stragglers.</p>\n";
    for (const RunTimeline& t : data.timelines) RenderTimeline(out, t, kind_index);
    out += "</section>\n";
  }

  if (!data.histograms.empty()) {
    out += "<section id=\"latency\"><h2>Task latency per kind</h2>\n<div class=\"charts\">\n";
    for (const LatencyHistogram& h : data.histograms) RenderHistogram(out, h, kind_index.at(h.kind));
    out += "</div></section>\n";
  }

  out +=
      "<footer>taskfarm · this page is self-contained: no script, nothing "
      "fetched</footer>\n</main>\n</body>\n</html>\n";
  return out;
}

// The report's records as JSON objects, a key per member of the same name
// (nlohmann::json keeps its keys sorted). Members shown only sometimes (a
// row's connection figures, a span's error) are added where they apply.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModeRow, workload, mode, description, workers, concurrency, threads, processes,
                                   parallelism, wall_s, median_s, min_s, max_s, tasks_per_s, speedup, efficiency, cpu_s,
                                   cpu_over_wall, verdict, ok)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SweepPoint, value, median_s, speedup, efficiency, ideal, amdahl)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SweepResult, workload, param, points, serial_fraction, note)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TaskSpan, id, worker, kind, start_ms, duration_ms, ok, attempts)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LatencyHistogram, kind, title, log_scale, edges_ms, counts, total, min_ms, p50_ms,
                                   p90_ms, p99_ms, max_ms)

std::string RenderReportJson(const ReportData& data) {
  using Json = nlohmann::json;
  Json j = {{"title", data.title},          {"generated_at", data.generated_at}, {"machine", data.machine},
            {"command", data.command},      {"conclusions", data.conclusions},   {"sweeps", data.sweeps},
            {"histograms", data.histograms}};
  Json& rows = j["rows"] = Json::array();
  for (const ModeRow& r : data.rows) {
    Json& row = rows.emplace_back(r);
    if (r.url_records == 0) continue;
    row["url_records"] = r.url_records;
    row["new_connections"] = r.new_connections;
    row["connect_ms"] = r.connect_ms;
    row["tls_ms"] = r.tls_ms;
    row["wait_ms"] = r.wait_ms;
  }
  Json& timelines = j["timelines"] = Json::array();
  for (const RunTimeline& t : data.timelines) {
    Json spans = Json::array();
    for (const TaskSpan& s : t.spans) {
      Json& span = spans.emplace_back(s);
      if (!s.error.empty()) span["error"] = s.error;
    }
    timelines.push_back({{"title", t.title}, {"wall_ms", t.wall_ms}, {"spans", std::move(spans)}});
  }
  // Names come from task files and hosts: never let a stray byte make dump() throw.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace taskfarm
