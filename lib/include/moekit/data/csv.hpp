#pragma once
// CSV reading: one header row, then records. Numeric columns are parsed with
// std::from_chars straight into doubles; string columns become factors (sorted levels and
// integer codes, as R's read.csv + factor()). Problems in a cell (missing, not a number,
// non-finite, text that is not UTF-8) are remembered with their line and raised only when a
// model uses the column. Column names must be UTF-8 (they end up in JSON model files): other
// bytes are an error naming the line and column. Work is linear in the size of the file.

#include "moekit/core/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace moekit {

enum class ColumnKind { Numeric, Text };

struct CsvOptions {
  char delimiter = ',';  // not '"', '\n' or '\r' (InputError naming --delimiter)
  // Added to the line number of everything after the header: the text is the header and a
  // share of a larger file's records (one process's rows under MPI), and messages and
  // CsvTable::lines name lines of the whole file.
  std::int64_t line_offset = 0;
  // Columns (by name) whose kind is fixed before any cell is read, rather than by their first
  // non-missing cell: under MPI, the kinds one process reading the whole file gives them.
  std::unordered_map<std::string, ColumnKind> kinds;
};

// The first problem found in a column; later ones are only counted.
struct CellProblem {
  enum class Kind { Missing, NotNumber, NonFinite, NotUtf8 };
  Kind kind = Kind::Missing;
  std::int64_t line = 0;
  std::string text;  // the cell as written (unquoted), cut to a short excerpt
};

struct CsvColumn {
  std::string name;
  ColumnKind kind = ColumnKind::Numeric;
  std::vector<double> values;       // Numeric: one per row (NaN where a problem was found)
  std::vector<int> codes;           // Text: index into levels, -1 where missing
  std::vector<std::string> levels;  // Text: sorted distinct values
  std::optional<CellProblem> problem;
  std::int64_t problem_count = 0;
};

class CsvTable {
 public:
  std::string source;               // file name, "-" for stdin
  std::vector<CsvColumn> columns;   // in header order
  std::vector<std::int64_t> lines;  // physical line number of each data row
  Index rows() const { return static_cast<Index>(lines.size()); }
  // Column position (0-based) or -1; constant time through the name index.
  int find(std::string_view name) const;
  // Throws InputError naming the file, column and line when the column has a problem.
  void require_clean(int column) const;
  // Rebuilds the name index. parse_csv calls it; code that adds or renames columns by hand
  // may too (find() stays right without it, only slower).
  void index_columns();

 private:
  std::unordered_map<std::string, int> index_;
};

// Reads a file ("-" = standard input). Throws InputError for unreadable files and for
// structural problems (empty file, no data rows, ragged rows, duplicate names,
// unterminated quotes), naming the file, line and column.
CsvTable read_csv(const std::string& path, const CsvOptions& options = {});

// Parses text already in memory; `source` names it in messages.
CsvTable parse_csv(std::string_view text,
                   const std::string& source,
                   const CsvOptions& options = {});

}  // namespace moekit
