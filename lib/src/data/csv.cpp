#include "moekit/data/csv.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/input_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace moekit {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The offset of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or npos when `s` is valid.
size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

void check_delimiter(char d) {
  if (d == '"')
    throw InputError::option("--delimiter", "'\"'",
                             "a double quote encloses fields and cannot also separate them");
  if (d == '\n' || d == '\r')
    throw InputError::option("--delimiter", d == '\n' ? "'\\n'" : "'\\r'",
                             "a line break ends records and cannot also separate fields");
}

bool is_missing_token(std::string_view s) { return s.empty() || s == "NA"; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses a whole cell as a double; false when it is not a number.
bool parse_double(std::string_view s, double& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ptr != end) return false;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves v unset: a negative exponent underflowed to 0, anything else overflowed.
    const bool underflow =
        s.find("e-") != std::string_view::npos || s.find("E-") != std::string_view::npos;
    v = underflow ? 0.0 : std::numeric_limits<double>::infinity();
    return true;
  }
  return ec == std::errc();
}

// A column being filled: its kind is fixed by the first non-missing cell.
struct Builder {
  CsvColumn col;
  bool kind_known = false;
  std::unordered_map<std::string, int> level_index;

  void note(CellProblem::Kind kind, std::int64_t line, std::string_view text) {
    if (!col.problem) col.problem = CellProblem{kind, line, excerpt(text)};
    ++col.problem_count;
  }

  void add(std::string_view cell, std::int64_t line) {
    cell = trim(cell);
    if (is_missing_token(cell)) {
      note(CellProblem::Kind::Missing, line, cell);
      if (col.kind == ColumnKind::Text)
        col.codes.push_back(-1);
      else
        col.values.push_back(kNaN);
      return;
    }
    double v;
    if (col.kind == ColumnKind::Numeric) {
      if (parse_double(cell, v)) {
        kind_known = true;
        if (!std::isfinite(v)) note(CellProblem::Kind::NonFinite, line, cell);
        col.values.push_back(std::isfinite(v) ? v : kNaN);
        return;
      }
      if (kind_known) {
        note(CellProblem::Kind::NotNumber, line, cell);
        col.values.push_back(kNaN);
        return;
      }
      // First non-missing cell is text: a string (factor) column. Earlier rows were missing.
      col.kind = ColumnKind::Text;
      col.codes.assign(col.values.size(), -1);
      col.values.clear();
      kind_known = true;
    }
    auto it = level_index.find(std::string(cell));
    int code;
    if (it == level_index.end()) {
      code = static_cast<int>(col.levels.size());
      col.levels.emplace_back(cell);
      level_index.emplace(std::string(cell), code);
      // Levels are written into model files (JSON): they must be UTF-8. Checked once per
      // distinct value.
      if (invalid_utf8_at(cell) != std::string_view::npos)
        note(CellProblem::Kind::NotUtf8, line, cell);
    } else {
      code = it->second;
    }
    col.codes.push_back(code);
  }

  // Levels sorted as R's factor() does (C locale), codes remapped.
  void finish() {
    if (col.kind != ColumnKind::Text) return;
    std::vector<int> order(col.levels.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return col.levels[a] < col.levels[b]; });
    std::vector<int> remap(order.size());
    std::vector<std::string> sorted(order.size());
    for (size_t r = 0; r < order.size(); ++r) {
      remap[order[r]] = static_cast<int>(r);
      sorted[r] = std::move(col.levels[order[r]]);
    }
    col.levels = std::move(sorted);
    for (int& c : col.codes)
      if (c >= 0) c = remap[c];
  }
};

class Scanner {
 public:
  Scanner(std::string_view text, const std::string& source, char delim)
      : p_(text.data()), end_(text.data() + text.size()), source_(source), delim_(delim) {}

  bool at_end() const { return p_ >= end_; }
  std::int64_t line() const { return line_; }
  void skip_lines(std::int64_t count) { line_ += count; }

  // Reads one record into `fields` (views into the text or into scratch_ for quoted cells).
  // Returns false at end of input. Blank lines are skipped.
  bool next_record(std::vector<std::string_view>& fields, std::int64_t& record_line) {
    fields.clear();
    scratch_.clear();
    quoted_spans_.clear();
    while (p_ < end_ && (*p_ == '\n' || *p_ == '\r')) {
      if (*p_ == '\n') ++line_;
      ++p_;
    }
    if (p_ >= end_) return false;
    record_line = line_;
    for (;;) {
      if (p_ < end_ && *p_ == '"') {
        read_quoted(fields);
      } else {
        const char* start = p_;
        while (p_ < end_ && *p_ != delim_ && *p_ != '\n' && *p_ != '\r') ++p_;
        fields.emplace_back(start, static_cast<size_t>(p_ - start));
      }
      if (p_ >= end_) break;
      if (*p_ == delim_) {
        ++p_;
        if (p_ >= end_ || *p_ == '\n' || *p_ == '\r') {
          fields.emplace_back();  // trailing delimiter: one more empty field
          consume_newline();
          break;
        }
        continue;
      }
      consume_newline();
      break;
    }
    // Quoted cells were copied into scratch_, which may have moved while growing.
    for (const auto& [index, offset, size] : quoted_spans_)
      fields[index] = std::string_view(scratch_.data() + offset, size);
    return true;
  }

 private:
  void consume_newline() {
    if (p_ < end_ && *p_ == '\r') ++p_;
    if (p_ < end_ && *p_ == '\n') ++p_;
    ++line_;
  }

  void read_quoted(std::vector<std::string_view>& fields) {
    const std::int64_t start_line = line_;
    const size_t offset = scratch_.size();
    ++p_;  // opening quote
    for (;;) {
      if (p_ >= end_)
        throw InputError(
            SourceLocation{source_, start_line, static_cast<std::int64_t>(fields.size() + 1)},
            "unterminated quoted field");
      const char c = *p_++;
      if (c == '"') {
        if (p_ < end_ && *p_ == '"') {
          scratch_.push_back('"');
          ++p_;
          continue;
        }
        break;
      }
      if (c == '\n') ++line_;
      scratch_.push_back(c);
    }
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t')) ++p_;
    if (p_ < end_ && *p_ != delim_ && *p_ != '\n' && *p_ != '\r')
      throw InputError(SourceLocation{source_, line_, static_cast<std::int64_t>(fields.size() + 1)},
                       "unexpected character after a closing quote");
    quoted_spans_.push_back({fields.size(), offset, scratch_.size() - offset});
    fields.emplace_back();
  }

  struct Span {
    size_t index, offset, size;
  };
  const char* p_;
  const char* end_;
  const std::string& source_;
  char delim_;
  std::int64_t line_ = 1;
  std::string scratch_;
  std::vector<Span> quoted_spans_;
};

}  // namespace

int CsvTable::find(std::string_view name) const {
  if (const auto it = index_.find(std::string(name));
      it != index_.end() && static_cast<size_t>(it->second) < columns.size() &&
      columns[static_cast<size_t>(it->second)].name == name)
    return it->second;
  // Not indexed (or columns changed by hand since): a scan.
  for (size_t j = 0; j < columns.size(); ++j)
    if (columns[j].name == name) return static_cast<int>(j);
  return -1;
}

void CsvTable::index_columns() {
  index_.clear();
  index_.reserve(columns.size());
  for (size_t j = 0; j < columns.size(); ++j) index_.emplace(columns[j].name, static_cast<int>(j));
}

void CsvTable::require_clean(int j) const {
  const CsvColumn& c = columns.at(static_cast<size_t>(j));
  if (!c.problem) return;
  const CellProblem& p = *c.problem;
  SourceLocation where{source, p.line, j + 1, c.name};
  const std::string more =
      c.problem_count > 1 ? fmt::format(" ({} such cells in this column)", c.problem_count) : "";
  switch (p.kind) {
    case CellProblem::Kind::Missing:
      throw InputError(
          where,
          fmt::format("missing value ('{}'){}; moekit does not impute: remove or fill the row",
                      p.text, more));
    case CellProblem::Kind::NotNumber:
      throw InputError(where,
                       fmt::format("'{}' is not a number in a numeric column{}", p.text, more));
    case CellProblem::Kind::NonFinite:
      throw InputError(where, fmt::format("non-finite value '{}'{}", p.text, more));
    case CellProblem::Kind::NotUtf8: {
      const size_t at = invalid_utf8_at(p.text);
      throw InputError(
          where,
          fmt::format("text is not valid UTF-8 (byte 0x{:02X}){}; save the file as UTF-8",
                      at < p.text.size() ? static_cast<unsigned char>(p.text[at]) : 0u, more));
    }
  }
}

CsvTable parse_csv(std::string_view text, const std::string& source, const CsvOptions& options) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF)
    text.remove_prefix(3);  // UTF-8 byte-order mark
  check_delimiter(options.delimiter);
  Scanner scan(text, source, options.delimiter);
  std::vector<std::string_view> fields;
  std::int64_t line = 0;
  if (!scan.next_record(fields, line))
    throw InputError(SourceLocation{source}, "empty file (no header row)");

  CsvTable table;
  table.source = source;
  std::vector<Builder> builders(fields.size());
  std::unordered_map<std::string, size_t> seen;
  for (size_t j = 0; j < fields.size(); ++j) {
    std::string name(trim(fields[j]));
    if (name.empty())
      throw InputError(SourceLocation{source, line, static_cast<std::int64_t>(j + 1)},
                       "empty column name in the header");
    // Names are written into model files and --json output, which must be UTF-8: refused
    // here, where the file and column can be named, rather than after a fit.
    if (const size_t bad = invalid_utf8_at(name); bad != std::string_view::npos)
      throw InputError(SourceLocation{source, line, static_cast<std::int64_t>(j + 1)},
                       fmt::format("column name is not valid UTF-8 (byte 0x{:02X} at byte {} of "
                                   "the name); save the file as UTF-8",
                                   static_cast<unsigned char>(name[bad]), bad + 1));
    if (auto it = seen.find(name); it != seen.end())
      throw InputError(SourceLocation{source, line, static_cast<std::int64_t>(j + 1), name},
                       fmt::format("duplicate column name (also column {})", it->second + 1));
    seen.emplace(name, j);
    if (const auto kind = options.kinds.find(name); kind != options.kinds.end()) {
      builders[j].col.kind = kind->second;
      builders[j].kind_known = true;
    }
    builders[j].col.name = std::move(name);
  }
  scan.skip_lines(options.line_offset);
  const size_t width = builders.size();
  const size_t reserve = text.size() / std::max<size_t>(1, 8 * width) + 16;
  for (auto& b : builders) b.col.values.reserve(reserve);
  table.lines.reserve(reserve);

  while (scan.next_record(fields, line)) {
    if (fields.size() != width) {
      // A row of a single empty field is a blank line with spaces; anything else is ragged.
      if (fields.size() == 1 && trim(fields[0]).empty()) continue;
      throw InputError(
          SourceLocation{source, line,
                         static_cast<std::int64_t>(std::min(fields.size(), width) + 1)},
          fmt::format("row has {} fields but the header has {}", fields.size(), width));
    }
    for (size_t j = 0; j < width; ++j) builders[j].add(fields[j], line);
    table.lines.push_back(line);
  }
  if (table.lines.empty())
    throw InputError(SourceLocation{source, line}, "no data rows after the header");
  table.columns.reserve(width);
  for (auto& b : builders) {
    b.finish();
    table.columns.push_back(std::move(b.col));
  }
  table.index_columns();
  return table;
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  check_delimiter(options.delimiter);
  const std::string text = read_input_file(path, "data file");
  return parse_csv(text, path, options);
}

}  // namespace moekit
