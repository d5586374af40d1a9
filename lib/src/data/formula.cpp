#include "moekit/data/formula.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace moekit {

void Expr::columns(std::vector<std::string>& out) const {
  if (kind == Kind::Column) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    return;
  }
  for (const auto& a : args) a->columns(out);
}

std::string Term::label() const {
  std::string s;
  for (size_t i = 0; i < factors.size(); ++i) s += (i ? ":" : "") + factors[i]->text;
  return s;
}

namespace {

bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

std::string quote_name(const std::string& name) {
  const bool dot_digit =
      name.size() > 1 && name[0] == '.' && std::isdigit(static_cast<unsigned char>(name[1]));
  if (name.empty() || !is_name_start(name[0]) || dot_digit) return "`" + name + "`";
  for (char c : name)
    if (!is_name_char(c)) return "`" + name + "`";
  return name;
}

ExprPtr make_column(const std::string& name) {
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::Column;
  e->name = name;
  e->text = quote_name(name);
  return e;
}

std::string format_number(double v) { return fmt::format("{}", v); }

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Formula parse() {
    Formula f;
    f.text = s_;
    if (s_.size() > kMaxFormulaLength)
      throw InputError(fmt::format("bad formula: {} characters, more than the {} allowed",
                                   s_.size(), kMaxFormulaLength));
    skip();
    if (peek() != '~') {
      f.responses = parse_lhs();
      skip();
      if (peek() != '~') fail("expected '~' after the responses");
    }
    ++pos_;
    skip();
    if (at_end()) fail("expected terms after '~' (use 1 for an intercept only)");
    Side rhs = parse_sum();
    skip();
    if (peek() == '|') {
      ++pos_;
      skip();
      if (at_end()) fail("expected a grouping column after '|'");
      const size_t at = pos_;
      const ExprPtr g = parse_arith();
      if (g->kind != Expr::Kind::Column) fail_at(at, "the grouping after '|' must be one column");
      f.group = g->name;
      skip();
    }
    if (!at_end()) fail(fmt::format("unexpected '{}'", s_[pos_]));
    f.intercept = rhs.intercept;
    f.has_dot = rhs.dot;
    f.terms = std::move(rhs.terms);
    f.removed.assign(rhs.removed.begin(), rhs.removed.end());
    std::sort(f.removed.begin(), f.removed.end());
    return f;
  }

 private:
  // Terms are added and removed through an index by label, so that neither a duplicate nor a
  // '- x' costs a scan: a sum of many terms stays linear. Removal only marks a term dead;
  // compact() drops the dead ones once the sum is complete. Labels are kept beside the terms
  // and extended, not rebuilt, when '*' multiplies terms.
  struct Side {
    std::vector<Term> terms;
    std::vector<std::string> labels;                // per term: Term::label()
    std::vector<char> alive;                        // per term: not removed by '-'
    std::unordered_map<std::string, size_t> index;  // label -> position of the live term
    std::unordered_set<std::string> removed;        // '- x' after a '.', for expand_dot
    bool intercept = true;
    bool dot = false;
    bool intercept_literal = false;  // the part was the number 1 or 0
  };
  using Part = Side;

  // One more level of recursion; the limit keeps hostile input (thousands of '(' or '-')
  // from overflowing the stack.
  class Nest {
   public:
    explicit Nest(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxNesting)
        p_.fail(fmt::format("nested more than {} levels deep", kMaxNesting));
    }
    ~Nest() { --p_.depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    Parser& p_;
  };

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  // The message shows the formula with a caret under `pos`; a long formula is cut to a window
  // around it.
  [[noreturn]] void fail_at(size_t pos, const std::string& what) const {
    constexpr size_t kBefore = 40, kWidth = 80;
    size_t from = 0, to = s_.size();
    std::string head, tail;
    if (s_.size() > kWidth) {
      from = pos > kBefore ? pos - kBefore : 0;
      to = std::min(s_.size(), from + kWidth);
      if (from > 0) head = "...";
      if (to < s_.size()) tail = "...";
    }
    throw InputError(fmt::format("bad formula: {} at position {}\n  {}{}{}\n  {}^", what, pos + 1,
                                 head, s_.substr(from, to - from), tail,
                                 std::string(head.size() + std::min(pos, to) - from, ' ')));
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  void skip() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }

  std::vector<ExprPtr> parse_lhs() {
    std::vector<ExprPtr> out;
    skip();
    // R's cbind(successes, failures) for a binomial response with trials: the same as the
    // responses `successes + failures` here (the binomial experts read the two columns).
    if (s_.compare(pos_, 5, "cbind") == 0) {
      const size_t save = pos_;
      pos_ += 5;
      skip();
      if (peek() == '(') {
        ++pos_;
        for (;;) {
          skip();
          out.push_back(parse_arith());
          skip();
          if (peek() == ',') {
            ++pos_;
            continue;
          }
          if (peek() != ')') fail("expected ',' or ')' in cbind(...)");
          ++pos_;
          return out;
        }
      }
      pos_ = save;
    }
    for (;;) {
      skip();
      out.push_back(parse_arith());
      skip();
      if (peek() == '+') {
        ++pos_;
        continue;
      }
      return out;
    }
  }

  static void add_term(Side& side, Term t, std::string label) {
    if (!side.index.emplace(label, side.terms.size()).second) return;
    side.terms.push_back(std::move(t));
    side.labels.push_back(std::move(label));
    side.alive.push_back(1);
  }

  static void compact(Side& side) {
    Side live;
    for (size_t i = 0; i < side.terms.size(); ++i)
      if (side.alive[i]) add_term(live, std::move(side.terms[i]), std::move(side.labels[i]));
    side.terms = std::move(live.terms);
    side.labels = std::move(live.labels);
    side.alive = std::move(live.alive);
    side.index = std::move(live.index);
  }

  // sum := ['-'] product { ('+' | '-') product }
  Side parse_sum() {
    Nest nest(*this);
    Side side;
    bool negate = false;
    skip();
    if (peek() == '-') {
      negate = true;
      ++pos_;
    } else if (peek() == '+') {
      ++pos_;
    }
    for (;;) {
      skip();
      const size_t at = pos_;
      const Part part = parse_product();
      if (negate && part.dot) fail_at(at, "'- .' is not supported: remove columns one by one");
      apply(side, part, negate);
      skip();
      if (peek() == '+') {
        negate = false;
        ++pos_;
      } else if (peek() == '-') {
        negate = true;
        ++pos_;
      } else {
        compact(side);
        return side;
      }
    }
  }

  void apply(Side& side, const Side& part, bool negate) {
    if (!negate) {
      for (size_t i = 0; i < part.terms.size(); ++i) add_term(side, part.terms[i], part.labels[i]);
      if (!part.intercept) side.intercept = false;
      side.dot = side.dot || part.dot;
      side.removed.insert(part.removed.begin(), part.removed.end());
      return;
    }
    // "- 1" / "- 0" drops the intercept; "- a" removes the term a, also from a '.' before it
    // (R expands '.' first, then removes).
    if (part.intercept_literal) side.intercept = false;
    for (const std::string& l : part.labels) {
      if (side.dot) side.removed.insert(l);
      if (const auto it = side.index.find(l); it != side.index.end()) {
        side.alive[it->second] = 0;
        side.index.erase(it);
      }
    }
  }

  // product := inter { '*' inter }  ;  a*b = a + b + a:b
  Part parse_product() {
    Part p = parse_inter();
    for (;;) {
      skip();
      if (peek() != '*') return p;
      const size_t at = pos_;
      ++pos_;
      skip();
      Part q = parse_inter();
      if (p.intercept_literal || q.intercept_literal || p.dot || q.dot)
        fail_at(at, "'*' needs terms on both sides");
      // a*b has |a| + |b| + |a||b| terms: c0*c1*...*c20 would be two million.
      const size_t np = p.terms.size(), nq = q.terms.size();
      if (np + nq + np * nq > kMaxTerms)
        fail_at(at, fmt::format("'*' expands to more than {} terms", kMaxTerms));
      // Each '*' costs its product even when repeated factors (x*g*g*g...) keep the count
      // down: a budget over the whole formula keeps the work linear with a small constant.
      expanded_ += np + nq + np * nq;
      if (expanded_ > kExpansionBudget)
        fail_at(at, fmt::format("'*' expands to more than {} terms in all", kExpansionBudget));
      Side all;
      for (size_t i = 0; i < np; ++i) add_term(all, p.terms[i], p.labels[i]);
      for (size_t j = 0; j < nq; ++j) add_term(all, q.terms[j], q.labels[j]);
      for (size_t i = 0; i < np; ++i)
        for (size_t j = 0; j < nq; ++j) {
          Term ab = p.terms[i];
          std::string label = p.labels[i];
          for (const auto& f : q.terms[j].factors)
            if (append_factor(ab, f, at)) label += ":" + f->text;
          add_term(all, std::move(ab), std::move(label));
        }
      p.terms = std::move(all.terms);
      p.labels = std::move(all.labels);
      p.alive = std::move(all.alive);
      p.index = std::move(all.index);
    }
  }

  // a:a is a (as in R); more than kMaxInteraction factors in one term is refused. False when
  // f was there already.
  bool append_factor(Term& t, const ExprPtr& f, size_t at) const {
    for (const auto& g : t.factors)
      if (g->text == f->text) return false;
    if (t.factors.size() >= kMaxInteraction)
      fail_at(at, fmt::format("an interaction of more than {} factors", kMaxInteraction));
    t.factors.push_back(f);
    return true;
  }

  // inter := atom { ':' atom }
  Part parse_inter() {
    const size_t start = pos_;
    Part p = parse_atom();
    for (;;) {
      skip();
      if (peek() != ':') return p;
      ++pos_;
      skip();
      const size_t at = pos_;
      Part q = parse_atom();
      if (p.intercept_literal || q.intercept_literal || p.dot || q.dot || p.terms.size() != 1 ||
          q.terms.size() != 1)
        fail_at(p.terms.size() != 1 ? start : at, "':' joins single terms (e.g. a:b)");
      Term t = p.terms[0];
      for (const auto& f : q.terms[0].factors) append_factor(t, f, at);
      p = Part{};
      const std::string label = t.label();
      add_term(p, std::move(t), label);
    }
  }

  Part parse_atom() {
    skip();
    Part p;
    const char c = peek();
    if (at_end()) fail("expected a term");
    if (c == '(') {
      ++pos_;
      Side inner = parse_sum();
      skip();
      if (peek() != ')') fail("expected ')'");
      ++pos_;
      return inner;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      const size_t at = pos_;
      const double v = parse_number();
      if (v == 1.0) {
        p.intercept_literal = true;
        return p;
      }
      if (v == 0.0) {
        p.intercept_literal = true;
        p.intercept = false;
        return p;
      }
      fail_at(at, "a number in a formula term must be 0 or 1 (use I(...) for arithmetic)");
    }
    if (c == '.' && (pos_ + 1 >= s_.size() || !is_name_char(s_[pos_ + 1]))) {
      ++pos_;
      p.dot = true;
      return p;
    }
    const size_t at = pos_;
    ExprPtr e = parse_primary();
    if (e->kind == Expr::Kind::Number) fail_at(at, "expected a column name");
    skip();
    if (peek() == '^') fail("powers need I(...), e.g. I(x^2)");
    add_term(p, Term{{e}}, e->text);
    return p;
  }

  double parse_number() {
    const size_t start = pos_;
    while (!at_end() && (std::isdigit(static_cast<unsigned char>(peek())) || peek() == '.')) ++pos_;
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) ++pos_;
    }
    double v = 0.0;
    auto [ptr, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, v);
    if (ec != std::errc() || ptr != s_.data() + pos_) fail_at(start, "malformed number");
    return v;
  }

  std::string parse_name() {
    if (peek() == '`') {
      const size_t start = ++pos_;
      while (!at_end() && peek() != '`') ++pos_;
      if (at_end()) fail_at(start - 1, "unterminated backquoted name");
      std::string n = s_.substr(start, pos_ - start);
      ++pos_;
      return n;
    }
    if (!is_name_start(peek())) fail("expected a column name");
    const size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  // Arithmetic, used inside I(...), function calls and on the left side.
  // arith := mul { ('+'|'-') mul } ; mul := unary { ('*'|'/') unary } ;
  // unary := '-' unary | power ; power := primary [ '^' unary ]
  ExprPtr parse_arith() {
    ExprPtr a = parse_mul();
    for (;;) {
      skip();
      const char c = peek();
      if (!in_call_ || (c != '+' && c != '-')) return a;
      ++pos_;
      a = binary(std::string(1, c), a, parse_mul());
    }
  }
  ExprPtr parse_mul() {
    ExprPtr a = parse_unary();
    for (;;) {
      skip();
      const char c = peek();
      if ((c != '*' && c != '/') || !in_call_) return a;
      ++pos_;
      a = binary(std::string(1, c), a, parse_unary());
    }
  }
  ExprPtr parse_unary() {
    Nest nest(*this);
    skip();
    if (peek() == '-' && in_call_) {
      ++pos_;
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::Negate;
      e->args = {parse_unary()};
      e->text = "-" + e->args[0]->text;
      e->depth = e->args[0]->depth + 1;
      return e;
    }
    ExprPtr base = parse_primary();
    skip();
    if (peek() == '^') {
      if (!in_call_) fail("powers need I(...), e.g. I(x^2)");
      ++pos_;
      return binary("^", base, parse_unary());
    }
    return base;
  }
  // Chains such as x+x+...+x nest without parentheses: their depth is bounded here.
  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b) const {
    auto e = std::make_shared<Expr>();
    e->kind = Expr::Kind::Binary;
    e->name = op;
    e->depth = std::max(a->depth, b->depth) + 1;
    if (e->depth > kMaxNesting)
      fail(fmt::format("an expression more than {} operations deep", kMaxNesting));
    e->text = a->text + op + b->text;
    e->args = {std::move(a), std::move(b)};
    return e;
  }

  ExprPtr parse_primary() {
    skip();
    const char c = peek();
    if (at_end()) fail("expected a column name or a number");
    if (c == '(') {
      if (!in_call_) fail("expected a column name");
      ++pos_;
      ExprPtr inner = parse_arith();
      skip();
      if (peek() != ')') fail("expected ')'");
      ++pos_;
      auto e = std::make_shared<Expr>(*inner);
      e->text = "(" + inner->text + ")";
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && pos_ + 1 < s_.size() &&
         std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))) {
      if (!in_call_) fail("expected a column name");
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::Number;
      e->number = parse_number();
      e->text = format_number(e->number);
      return e;
    }
    const size_t at = pos_;
    const bool backquoted = c == '`';
    std::string name = parse_name();
    skip();
    if (!backquoted && peek() == '(') {
      static const std::set<std::string> kFunctions{"I",   "log",  "exp",  "sqrt",
                                                    "abs", "log2", "log10"};
      if (!kFunctions.count(name))
        fail_at(at,
                fmt::format("unknown function '{}' (known: I, log, log2, log10, exp, sqrt, abs)",
                            name));
      ++pos_;
      const bool was = in_call_;
      in_call_ = true;
      skip();
      ExprPtr arg = parse_arith();
      in_call_ = was;
      skip();
      if (peek() != ')') fail("expected ')'");
      ++pos_;
      if (name == "I") {
        auto e = std::make_shared<Expr>(*arg);
        e->text = "I(" + arg->text + ")";
        return e;
      }
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::Call;
      e->name = name;
      e->args = {arg};
      e->text = name + "(" + arg->text + ")";
      e->depth = arg->depth + 1;
      return e;
    }
    return make_column(name);
  }

  const std::string& s_;
  size_t pos_ = 0;
  bool in_call_ = false;
  int depth_ = 0;
  static constexpr size_t kExpansionBudget = 4 * kMaxTerms;
  size_t expanded_ = 0;  // terms built by '*' so far
};

}  // namespace

Formula parse_formula(const std::string& text) {
  Formula f = Parser(text).parse();
  return f;
}

void expand_dot(Formula& f, const std::vector<std::string>& all_columns) {
  if (!f.has_dot) return;
  std::vector<std::string> used;
  for (const auto& r : f.responses) r->columns(used);
  if (!f.group.empty()) used.push_back(f.group);
  // Sets, not scans: a table may have 100,000 columns.
  const std::unordered_set<std::string> skip(used.begin(), used.end());
  std::unordered_set<std::string> present;
  for (const auto& u : f.terms) present.insert(u.label());
  for (const auto& r : f.removed) present.insert(r);
  std::vector<Term> terms;
  for (const auto& name : all_columns) {
    if (skip.count(name)) continue;
    Term t{{make_column(name)}};
    if (!present.count(t.label())) terms.push_back(t);
  }
  f.terms.insert(f.terms.begin(), terms.begin(), terms.end());
  f.has_dot = false;
}

}  // namespace moekit
