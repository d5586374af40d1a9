// `mpirun -n P moekit fit` gives what one process gives: the log-likelihood within 1e-10
// relative, the same number of iterations and every parameter within 1e-8, for P = 2 and 3;
// bad input and models the MPI backend does not cover stop every process alike. The families,
// gates and trees other than the Gaussian ones, and text columns, are checked the same way.

#include "cli/cli_support.hpp"
#include "support/temp_file.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <tuple>

using namespace moekit::testing;

namespace {

Run shell(const std::string& command) { return run_shell(command); }

std::string one() { return MOEKIT_CLI; }
std::string many(int P) {
  return fmt::format("{} -n {} --oversubscribe --allow-run-as-root {}", MOEKIT_MPIEXEC, P,
                     MOEKIT_CLI);
}
std::string dataset(const std::string& name) {
  return std::string(MOEKIT_DATASETS_DIR) + "/" + name;
}

// Every number of `b` within `tol` (relative to max(1, |a|)) of the one at the same place
// in `a`; every string equal.
void check_close(const nlohmann::json& a,
                 const nlohmann::json& b,
                 double tol,
                 const std::string& at) {
  CAPTURE(at);
  REQUIRE(a.type() == b.type());
  if (a.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    CHECK(std::abs(x - y) <= tol * std::max(1.0, std::abs(x)));
  } else if (a.is_array()) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) check_close(a[i], b[i], tol, at + fmt::format("[{}]", i));
  } else if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      REQUIRE(b.contains(it.key()));
      check_close(it.value(), b.at(it.key()), tol, at + "." + it.key());
    }
  } else {
    CHECK(a == b);
  }
}

// `parameter_tol`: 1e-8 unless the fit's optimum is ill-determined (see its caller).
void check_same_fit(const std::string& data,
                    const std::string& options,
                    double parameter_tol = 1e-8) {
  const std::string args = fmt::format(" fit {} {} --json -q", data, options);
  const Run single = shell(one() + args);
  INFO(single.err);
  REQUIRE(single.status == 0);
  const auto a = nlohmann::json::parse(single.out);
  for (int P : {2, 3}) {
    CAPTURE(P, options);
    const Run r = shell(many(P) + args);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto b = nlohmann::json::parse(r.out);  // one report: rank 0's
    CHECK(b.at("backend") == fmt::format("mpi ({} processes)", P));
    const double la = a.at("loglik").get<double>(), lb = b.at("loglik").get<double>();
    CHECK(std::abs(la - lb) <= 1e-10 * std::abs(la));
    CHECK(a.at("iterations") == b.at("iterations"));
    CHECK(a.at("n_obs") == b.at("n_obs"));
    CHECK(a.at("status") == b.at("status"));
    check_close(a.at("parameters"), b.at("parameters"), parameter_tol, "parameters");
    for (const char* c : {"aic", "bic"})
      CHECK(std::abs(a.at(c).get<double>() - b.at(c).get<double>()) <=
            1e-10 * std::abs(a.at(c).get<double>()));
    // ICL adds the posteriors' entropy, which moves with the parameters: their tolerance.
    CHECK(std::abs(a.at("icl").get<double>() - b.at("icl").get<double>()) <=
          parameter_tol * std::abs(a.at("icl").get<double>()));
  }
}

}  // namespace

TEST_CASE("faithful across processes", "[faithful]") {
  check_same_fit(dataset("faithful.csv"), "-k 2 --restarts 2");
  check_same_fit(dataset("faithful.csv"), "-k 3 --covariance diag");
  check_same_fit(dataset("faithful.csv"), "-k 2 --covariance tied");
}

TEST_CASE("tonedata across processes", "[tonedata]") {
  check_same_fit(dataset("tonedata.csv"), "--formula 'tuned ~ stretchratio' --experts linear -k 2");
}

TEST_CASE("NOdata across processes", "[NOdata]") {
  check_same_fit(dataset("NOdata.csv"), "--formula 'Equivalence ~ NO' --experts linear -k 2");
  // The softmax gate's Newton steps sum their gradient and Hessian over the processes.
  check_same_fit(dataset("NOdata.csv"),
                 "--formula 'Equivalence ~ NO' --experts linear --gate softmax -k 2");
}

TEST_CASE("logistic experts across processes", "[logistic]") {
  // Class labels 0/1 (numbers): the processes agree on the levels one process finds.
  check_same_fit(dataset("NPreg.csv"), "--formula 'yb ~ x' --experts logistic -k 2 --init kmeans");
  check_same_fit(dataset("logitmix.csv"),
                 "--formula 'y ~ x1 + x2' --experts logistic -k 2 --init kmeans");
  // iris is sorted by Species: with 3 processes each holds one class only, and the levels
  // (text) must still be those of all the rows in one process's order. One multinomial
  // logit; its Newton steps are accepted only where Q does not fall, and near the maximum Q is
  // flat to rounding, so the coefficients are fixed to about sqrt(eps) in Q's own sense: the
  // number of processes moves them by ~6e-8 while the log-likelihood agrees to 1e-15.
  check_same_fit(dataset("iris.csv"), "--formula 'Species ~ Sepal.Width' --experts logistic -k 1",
                 1e-6);
}

TEST_CASE("gating trees and Gaussian gates across processes", "[gates]") {
  check_same_fit(dataset("faithful.csv"), "--tree 2,2");
  check_same_fit(dataset("NOdata.csv"), "--formula 'Equivalence ~ NO' --experts linear --tree 2,2");
  check_same_fit(dataset("NOdata.csv"),
                 "--formula 'Equivalence ~ NO' --experts linear --gate gaussian -k 2");
  check_same_fit(dataset("faithful.csv"),
                 "--formula 'eruptions ~ waiting' --experts linear --gate gaussian -k 2");
}

TEST_CASE("GLM and t experts across processes", "[glm]") {
  check_same_fit(dataset("NPreg.csv"), "--formula 'yp ~ x' --experts poisson -k 2");
  check_same_fit(dataset("NOdata.csv"), "--formula 'Equivalence ~ NO' --experts gamma -k 2");
  check_same_fit(dataset("betablocker.csv"),
                 "--formula 'cbind(Deaths, Survivors) ~ Treatment' --experts binomial -k 2");
  check_same_fit(dataset("NOdata.csv"), "--formula 'Equivalence ~ NO' --experts t -k 2");
  // theta's profile is flat near its maximum (its 1-D steps accept where the objective does
  // not fall, as the logistic case above): at convergence (751 iterations) the log-likelihood
  // agrees to 1e-12 and theta to ~3e-8. The first 40 iterations keep the test short.
  check_same_fit(dataset("bioChemists.csv"),
                 "--formula 'art ~ fem + ment' --experts negbin -k 2 --init kmeans --max-iter 40",
                 1e-6);
}

TEST_CASE("text (factor) columns across processes", "[factors]") {
  // iris is sorted by Species: each of 3 processes sees one level of the factor.
  check_same_fit(dataset("iris.csv"), "--formula 'Sepal.Length ~ Species' --experts linear -k 2");
  // A column whose first half is text and whose second half looks numeric: one process reads
  // it as text (its first cell fixes the kind), and so must the processes holding only
  // numbers. Then the reverse: numbers first, a share of text only, whose cells are then
  // problems of a numeric column, reported as one process reports them (line and count).
  std::string mixed = "x,c,y\n", numbers = "x,c,y\n";
  for (int i = 0; i < 300; ++i) {
    const double x = (i * 37 % 101) / 101.0;
    const bool first = i % 3 == 0;
    const std::string c = i < 150 ? (first ? "a" : "b") : (first ? "1" : "2");
    mixed +=
        fmt::format("{},{},{}\n", x, c, (first ? x : -x) + (i % 2 ? 2.0 : 0.0) + 0.01 * (i % 7));
    numbers +=
        fmt::format("{},{},{}\n", x, i < 280 ? (first ? "1" : "2") : "oops", x + 0.01 * (i % 5));
  }
  TempFile text_first(mixed), text_last(numbers);
  check_same_fit(text_first.path(), "--formula 'y ~ x + c' --experts linear -k 2 --init kmeans");
  const std::string bad = " fit " + text_last.path() + " --formula 'y ~ x + c' --experts linear -q";
  const Run one_bad = shell(one() + bad), many_bad = shell(many(3) + bad);
  CHECK(one_bad.status == 1);
  CHECK(many_bad.status == 1);
  CHECK(many_bad.err.substr(0, one_bad.err.size()) == one_bad.err);
  CHECK(one_bad.err.find("line 282") != std::string::npos);
  CHECK(one_bad.err.find("20 such cells") != std::string::npos);
}

TEST_CASE("a column constant within a share but not the file", "[factors]") {
  // Sorted data: the first 150 of 360 rows (lines of one length) hold the response's ties,
  // y = 0, so with 3 processes the first share's response is constant. The spread is a
  // property of all the rows: the processes fit what one process fits.
  std::string sorted = "x,y\n", flat_y = "x,y\n", flat_x = "x,y\n";
  for (int i = 0; i < 360; ++i) {
    const double x = 1.0 + (i * 37 % 101) / 50.0;
    const double y = i < 150 ? 0.0 : 0.5 * x + 0.1 * ((i * 13) % 11) + 1.0;
    sorted += fmt::format("{:.15f},{:.15f}\n", x, y);
    flat_y += fmt::format("{:.15f},{:.15f}\n", x, 2.5);
    flat_x += fmt::format("{:.15f},{:.15f}\n", 2.5, y);
  }
  TempFile ties(sorted), constant_y(flat_y), constant_x(flat_x);
  check_same_fit(ties.path(), "--formula 'y ~ x' --experts linear -k 1");
  // Constant in every share: one process's message on every process, exit status 1.
  for (const auto& [file, options, message] :
       {std::tuple{constant_y.path(), "--formula 'y ~ x' --experts linear",
                   "response has zero variance (every value is 2.5)"},
        std::tuple{constant_x.path(), "--formula 'y ~ x' --experts linear --gate gaussian",
                   "gate covariate 'x' has zero variance (every value is 2.5)"}}) {
    const std::string args = fmt::format(" fit {} {} -k 2 -q", file, options);
    const Run single = shell(one() + args), r = shell(many(3) + args);
    CAPTURE(args, single.err, r.err);
    CHECK(single.status == 1);
    CHECK(r.status == 1);
    CHECK(single.err.find(message) != std::string::npos);
    CHECK(r.err.substr(0, single.err.size()) == single.err);
  }
}

TEST_CASE("a simulated 1e6-row Gaussian mixture across processes", "[simulated]") {
  // Three bivariate clusters with different spreads and weights 0.5, 0.3, 0.2.
  std::mt19937_64 rng(20261127);
  std::normal_distribution<double> z;
  std::uniform_real_distribution<double> u;
  std::string csv = "a,b\n";
  csv.reserve(30'000'000);
  char line[64];
  for (int i = 0; i < 1'000'000; ++i) {
    const double w = u(rng);
    const int k = w < 0.5 ? 0 : w < 0.8 ? 1 : 2;
    const double mx[] = {0.0, 4.0, -3.0}, my[] = {0.0, 1.0, 3.0}, s[] = {1.0, 0.7, 1.5};
    const double x = mx[k] + s[k] * z(rng), y = my[k] + s[k] * (0.3 * x + z(rng));
    std::snprintf(line, sizeof line, "%.6f,%.6f\n", x, y);
    csv += line;
  }
  TempFile data(csv);
  // EM's sums at scale; the split-and-merge moves across processes are checked on faithful
  // (K = 3 above), and here would only repeat them at 1e6 rows' cost.
  check_same_fit(data.path(), "-k 3 --max-iter 200 --split-merge 0");
}

TEST_CASE("bad input stops every process with one message and exit status", "[errors]") {
  // The bad cell is in the last process's share: the others must not wait for it.
  std::string csv = "a,b\n";
  for (int i = 0; i < 300; ++i) csv += fmt::format("{},{}\n", i % 7, (i * 13) % 11);
  csv += "1,oops\n";
  TempFile data(csv);
  const Run single = shell(one() + " fit " + data.path() + " -k 2 -q");
  const Run r = shell(many(3) + " fit " + data.path() + " -k 2 -q");
  CHECK(single.status == 1);
  CHECK(r.status == 1);
  // Printed once, by rank 0 (mpirun adds its own note after it), naming the line of the
  // whole file.
  CHECK(r.err.substr(0, single.err.size()) == single.err);
  CHECK(r.err.find("line 302") != std::string::npos);
  CHECK(r.err.find("line 302") == r.err.rfind("line 302"));

  const Run family = shell(many(2) + " fit " + dataset("NOdata.csv") +
                           " --formula 'Equivalence ~ NO' --experts laplace -k 2 -q");
  CHECK(family.status == 1);
  CHECK(family.err.find("--experts laplace (its M-step takes weighted medians, which are not "
                        "sums over the rows) cannot be fitted across MPI processes") !=
        std::string::npos);
  const Run grouped = shell(many(2) + " fit " + dataset("NPreg.csv") +
                            " --formula 'yn ~ x | id2' --experts linear -k 2 -q");
  CHECK(grouped.status == 1);
  CHECK(grouped.err.find("grouped data ('| id2') cannot be fitted across MPI processes") !=
        std::string::npos);
  // Class labels that are not whole numbers, first in the last process's share: one message,
  // the one process's, naming the line.
  std::string labels = "x,c\n";
  for (int i = 0; i < 300; ++i) labels += fmt::format("{},{}\n", i % 7, i % 2);
  labels += "3,0.5\n";
  TempFile classes(labels);
  const std::string logistic =
      " fit " + classes.path() + " --formula 'c ~ x' --experts logistic -q";
  const Run one_label = shell(one() + logistic), many_label = shell(many(3) + logistic);
  CHECK(one_label.status == 1);
  CHECK(many_label.status == 1);
  CHECK(many_label.err.substr(0, one_label.err.size()) == one_label.err);
  CHECK(many_label.err.find("line 302") != std::string::npos);
  const Run other = shell(many(2) + " summary nothing.json");
  CHECK(other.status == 1);
  CHECK(other.err.find("only 'moekit fit' and 'moekit predict' run across processes") !=
        std::string::npos);
}

TEST_CASE("predict across processes writes what one process writes", "[predict]") {
  TempFile linear("", ".json"), clusters("", ".json");
  std::remove(linear.path().c_str());
  std::remove(clusters.path().c_str());
  REQUIRE(shell(one() + " fit " + dataset("NOdata.csv") +
                " --formula 'Equivalence ~ NO' --experts linear --gate softmax -k 2 -q -o " +
                linear.path())
              .status == 0);
  REQUIRE(
      shell(one() + " fit " + dataset("faithful.csv") + " -k 3 -q -o " + clusters.path()).status ==
      0);
  // Several row blocks (kBlockRows = 2048), the shares starting inside them: vectorised
  // kernels give a row other bits in another place of its block unless each share is padded
  // to one process's blocks.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0.3, 4.0);
  std::normal_distribution<double> noise(0.0, 0.03);
  std::string csv = "NO,Equivalence\n";
  for (int i = 0; i < 7000; ++i) {
    const double x = u(rng);
    csv +=
        fmt::format("{:.6f},{:.6f}\n", x, (i % 2 ? 1.2 - 0.08 * x : 0.56 + 0.088 * x) + noise(rng));
  }
  TempFile blocks(csv);
  struct Case {
    std::string model, data, what;
  };
  const std::vector<Case> cases{{linear.path(), dataset("NOdata.csv"), "posterior"},
                                {linear.path(), blocks.path(), "posterior"},
                                {linear.path(), blocks.path(), "log-density"},
                                {linear.path(), blocks.path(), "gate"},
                                {clusters.path(), dataset("faithful.csv"), "class"}};
  for (const Case& c : cases) {
    const std::string args = fmt::format(" predict {} {} --what {}", c.model, c.data, c.what);
    const Run single = shell(one() + args);
    INFO(single.err);
    REQUIRE(single.status == 0);
    for (int P : {2, 3}) {
      CAPTURE(c.data, c.what, P);
      const Run r = shell(many(P) + args);
      INFO(r.err);
      REQUIRE(r.status == 0);
      CHECK(r.out == single.out);  // the same bytes: every row's prediction is its own
    }
  }
  // -o: one file, written by rank 0 once every process's rows are in.
  TempFile out("", ".csv");
  const Run r = shell(many(3) + fmt::format(" predict {} {} -o {}", clusters.path(),
                                            dataset("faithful.csv"), out.path()));
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.empty());
  CHECK(slurp(out.path()) ==
        shell(one() + fmt::format(" predict {} {}", clusters.path(), dataset("faithful.csv"))).out);
  // A bad cell in the last process's share stops every process, naming its line.
  std::string text = "eruptions,waiting\n";
  for (int i = 0; i < 300; ++i) text += fmt::format("{},{}\n", 2 + i % 3, 50 + i % 40);
  text += "3,oops\n";
  TempFile bad(text);
  const Run failed = shell(many(3) + fmt::format(" predict {} {}", clusters.path(), bad.path()));
  CHECK(failed.status == 1);
  CHECK(failed.out.empty());
  CHECK(failed.err.find("line 302") != std::string::npos);
}

TEST_CASE("one file per process", "[files]") {
  const std::string all = slurp(dataset("faithful.csv"));
  const size_t header = all.find('\n') + 1, middle = all.find('\n', all.size() / 2) + 1;
  TempFile first(all.substr(0, middle), ".part1.csv"),
      second(all.substr(0, header) + all.substr(middle), ".part2.csv");
  const std::string args = " fit {} -k 2 --json -q";
  const Run a = shell(one() + fmt::format(args, dataset("faithful.csv")));
  const Run b = shell(many(2) + fmt::format(args, first.path() + "," + second.path()));
  INFO(b.err);
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  const auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  CHECK(std::abs(ja.at("loglik").get<double>() - jb.at("loglik").get<double>()) <=
        1e-10 * std::abs(ja.at("loglik").get<double>()));
  check_close(ja.at("parameters"), jb.at("parameters"), 1e-8, "parameters");
  const Run wrong = shell(many(3) + fmt::format(args, first.path() + "," + second.path()));
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find("names 2 files for 3 processes") != std::string::npos);
}
