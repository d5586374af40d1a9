// Issue 24 from the command line: outputs that must not destroy what --out names, inputs
// that must not crash or hang, options and messages that must say what was done.

#include "cli_support.hpp"
#include "support/temp_file.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <string>

using Catch::Matchers::Contains;
using moekit::testing::Run;
using moekit::testing::run_cli;
using moekit::testing::run_cli_with_stdin_file;
using moekit::testing::slurp;
using moekit::testing::TempFile;

namespace {

const std::string kFaithful = std::string(MOEKIT_DATASETS_DIR) + "/faithful.csv";
const std::string kTone = std::string(MOEKIT_DATASETS_DIR) + "/tonedata.csv";

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

// A path in /tmp that does not exist yet, removed at the end.
class TempPath {
 public:
  explicit TempPath(const std::string& suffix) {
    char tmpl[] = "/tmp/moekit-cli-XXXXXX";
    ::close(::mkstemp(tmpl));
    std::remove(tmpl);
    path_ = std::string(tmpl) + suffix;
  }
  ~TempPath() { std::remove(path_.c_str()); }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("--out writes through a FIFO and follows a symbolic link", "[cli][out]") {
  TempFile model("", ".json");
  REQUIRE(run_cli("fit " + kFaithful + " -k 2 -q --out " + model.path()).status == 0);

  TempPath fifo(".fifo");
  REQUIRE(::mkfifo(fifo.path().c_str(), 0600) == 0);
  const int r = ::open(fifo.path().c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(r >= 0);
  const Run p =
      run_cli("predict " + model.path() + " " + kFaithful + " --what class --out " + fifo.path());
  CHECK(p.status == 0);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(r, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  ::close(r);
  CHECK(got.rfind("class\n", 0) == 0);
  struct stat st {};
  REQUIRE(::lstat(fifo.path().c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));  // was replaced by a regular 0600 file

  TempFile target("old", ".json");
  ::chmod(target.path().c_str(), 0644);
  TempPath link(".link");
  REQUIRE(::symlink(target.path().c_str(), link.path().c_str()) == 0);
  REQUIRE(run_cli("fit " + kFaithful + " -k 2 -q --out " + link.path()).status == 0);
  REQUIRE(::lstat(link.path().c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(nlohmann::json::parse(slurp(target.path())).contains("parameters"));
  CHECK(mode_of(target.path()) == 0644);
}

TEST_CASE("--out honours the umask for a new file and keeps an old file's mode", "[cli][out]") {
  TempPath fresh(".json");
  const mode_t old = ::umask(027);
  const Run f = run_cli("fit " + kFaithful + " -k 2 -q --out " + fresh.path());
  ::umask(old);
  REQUIRE(f.status == 0);
  CHECK(mode_of(fresh.path()) == 0640);  // 0600 before, whatever the umask

  ::chmod(fresh.path().c_str(), 0604);
  REQUIRE(run_cli("fit " + kFaithful + " -k 2 -q --out " + fresh.path()).status == 0);
  CHECK(mode_of(fresh.path()) == 0604);
}

TEST_CASE("--out naming a folder is refused before the work", "[cli][out][errors]") {
  const Run r = run_cli("fit " + kFaithful + " -k 2 --out " + MOEKIT_TESTS_DIR);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("is a directory"));
  CHECK(r.out.empty());  // refused before the fit
}

TEST_CASE("standard input is protected like a named input", "[cli][out][errors]") {
  // fit - --out d.csv < d.csv replaced the data with the model.
  TempFile data(slurp(kFaithful));
  const Run r = run_cli_with_stdin_file("fit - -k 2 --out " + data.path(), data.path());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("standard input"));
  CHECK(slurp(data.path()) == slurp(kFaithful));
  // Under another name too.
  TempPath link(".link");
  REQUIRE(::symlink(data.path().c_str(), link.path().c_str()) == 0);
  CHECK(run_cli_with_stdin_file("fit - -k 2 --out " + link.path(), data.path()).status == 1);
  CHECK(slurp(data.path()) == slurp(kFaithful));
  // Reading a pipe is fine, of course.
  TempFile out("", ".json");
  CHECK(run_cli("fit - -k 2 -q --out " + out.path(), slurp(kFaithful)).status == 0);
}

TEST_CASE("deep formulas are refused on the command line and in a model file", "[cli][errors]") {
  const std::string deep =
      "eruptions ~ I(" + repeat("(", 8000) + "waiting" + repeat(")", 8000) + ")";
  const Run r = run_cli("fit " + kFaithful + " --experts linear --formula '" + deep + "'");
  CHECK(r.status == 1);  // SIGSEGV before
  CHECK_THAT(r.err, Contains("nested more than 100 levels"));
  CHECK(r.err.size() < 1000);

  TempFile model("", ".json");
  REQUIRE(run_cli("fit " + kFaithful +
                  " --formula 'eruptions ~ waiting' --experts linear -q --out " + model.path())
              .status == 0);
  auto j = nlohmann::json::parse(slurp(model.path()));
  j["spec"]["data"]["formula"] =
      "eruptions ~ " + repeat("log(", 8000) + "waiting" + repeat(")", 8000);
  TempFile hostile(j.dump(), ".json");
  const Run p = run_cli("predict " + hostile.path() + " " + kFaithful + " --what mean");
  CHECK(p.status == 1);
  CHECK_THAT(p.err, Contains("nested more than 100 levels"));
}

TEST_CASE("--seed takes whole numbers in [0, 2^64 - 1] only", "[cli][errors]") {
  TempFile model("", ".json");
  REQUIRE(run_cli("fit " + kFaithful + " -k 2 -q --out " + model.path()).status == 0);
  // All three became 2^64 - 1 before.
  for (const char* seed : {"-1", "18446744073709551616", "1e23", "0x10", "1.5", ""}) {
    INFO(seed);
    const Run f = run_cli("fit " + kFaithful + " -k 2 --seed '" + seed + "'");
    CHECK(f.status == 1);
    CHECK_THAT(f.err, Contains("--seed"));
    CHECK(run_cli("simulate " + model.path() + " --n 5 --seed '" + seed + "'").status == 1);
  }
  CHECK(run_cli("fit " + kFaithful + " -k 2 -q --seed 18446744073709551615").status == 0);
  CHECK(run_cli("simulate " + model.path() + " --n 5 --seed 0").status == 0);
}

TEST_CASE("simulate --n beyond what memory holds is an input error", "[cli][errors]") {
  TempFile model("", ".json");
  REQUIRE(run_cli("fit " + kFaithful + " -k 2 -q --out " + model.path()).status == 0);
  for (const char* n : {"1000000000000", "1e12"}) {
    const Run r = run_cli("simulate " + model.path() + " --n " + n);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("--n"));
  }
}

TEST_CASE("an unknown or missing command is named, with the list", "[cli][errors]") {
  const Run r = run_cli("fitt " + kFaithful);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("unknown command 'fitt'") &&
                        Contains("fit, predict, summary, select, simulate, info"));
  const Run none = run_cli("");
  CHECK(none.status == 1);
  CHECK_THAT(none.err, Contains("no command") && Contains("fit, predict"));
  CHECK(run_cli("--version").status == 0);
}

TEST_CASE("a directory given as data or model says so", "[cli][errors]") {
  const Run d = run_cli(std::string("fit ") + MOEKIT_DATASETS_DIR);
  CHECK(d.status == 1);
  CHECK_THAT(d.err, Contains("is a directory"));  // "read error" before
  const Run m = run_cli(std::string("predict ") + MOEKIT_DATASETS_DIR + " " + kFaithful);
  CHECK(m.status == 1);
  CHECK_THAT(m.err, Contains("is a directory"));  // "unexpected end of input" before
}

TEST_CASE("CSV text the JSON output cannot hold is refused up front", "[cli][errors]") {
  // A Latin-1 header: exit 2 after the fit before (the JSON writer threw).
  TempFile latin1("x,caf\xE9\n1,2\n2,1\n3,5\n4,3\n5,4\n6,2\n");
  TempFile model("", ".json");
  const Run r = run_cli("fit " + latin1.path() + " --json --out " + model.path());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("line 1, column 2") && Contains("not valid UTF-8"));
}

TEST_CASE("messages quote a huge cell in part", "[cli][errors]") {
  TempFile big("a,b\n1,2\n2," + std::string(10 * 1000 * 1000, 'x') + "\n3,4\n");
  const Run r = run_cli("fit " + big.path());
  CHECK(r.status == 1);
  CHECK(r.err.size() < 400);
  CHECK_THAT(r.err, Contains("line 3, column 2 ('b')") && Contains("(10000000 bytes)"));
}

TEST_CASE("accepted-but-odd input gets an error or a warning", "[cli][errors]") {
  SECTION("a text column left out of every numeric column") {
    TempFile f("a,lab,b\n1,u,4\n2,v,6\n3,u,5\n4,v,1\n5,u,2\n6,v,8\n");
    const Run r = run_cli("fit " + f.path() + " -k 1");
    CHECK(r.status == 0);
    CHECK_THAT(r.err, Contains("warning") && Contains("'lab'") && Contains("left out"));
    CHECK(run_cli("fit " + f.path() + " -k 1 -q").err.empty());
  }
  SECTION("a quote as delimiter") {
    const Run r = run_cli("fit " + kFaithful + " --delimiter '\"'");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("--delimiter"));
  }
  SECTION("a one-level factor") {
    TempFile f("y,x,g\n1,2,a\n2,1,a\n3,5,a\n4,3,a\n5,4,a\n6,2,a\n");
    const Run r = run_cli("fit " + f.path() + " --formula 'y ~ x + g' --experts linear -k 1");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("('g')") && Contains("single level"));
  }
  SECTION("the response on the right") {
    const Run r = run_cli("fit " + kTone + " --formula 'tuned ~ tuned' --experts linear");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("'tuned'") && Contains("response is also"));
  }
  SECTION("'- x' after '.'") {
    const Run r = run_cli("fit " + kTone +
                          " --formula 'tuned ~ . - stretchratio' --experts linear -k 1 --json");
    REQUIRE(r.status == 0);
    CHECK(nlohmann::json::parse(r.out).at("n_params").get<int>() == 2);  // intercept, sigma
  }
}

TEST_CASE("a K too large to allocate is an input error (exit 1), not a numerical one",
          "[cli][errors]") {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer reserves terabytes of address space: a ulimit -v breaks it, not moekit.
  return;
#else
  // K = 2e9 components could not be allocated; a 3 GB address-space limit would make that quick.
  TempFile err("", ".err");
  const std::string cmd = "ulimit -v 3000000; " + std::string(MOEKIT_CLI) + " fit " + kFaithful +
                          " -k 2000000000 </dev/null >/dev/null 2>" + err.path();
  const int raw = std::system(("sh -c '" + cmd + "'").c_str());
  CHECK(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 1);  // 2 before
  // The size is checked before anything is allocated.
  CHECK_THAT(slurp(err.path()), Contains("-k") && Contains("2^20"));
#endif
}

TEST_CASE("options a family or gate would ignore are refused, naming the option", "[cli][errors]") {
  SECTION("--covariance with logistic or Laplace experts (ignored before)") {
    const std::string iris = std::string(MOEKIT_DATASETS_DIR) + "/iris.csv";
    const Run l = run_cli(
        "fit " + iris + " --formula 'Species ~ Petal.Width' --experts logistic --covariance diag");
    CHECK(l.status == 1);
    CHECK_THAT(l.err, Contains("--covariance") && Contains("logistic experts have no covariance"));
    const Run a = run_cli("fit " + kTone +
                          " --formula 'tuned ~ stretchratio' --experts laplace --covariance full");
    CHECK(a.status == 1);
    CHECK_THAT(a.err, Contains("--covariance") && Contains("laplace"));
    CHECK(run_cli("fit " + kTone +
                  " --formula 'tuned ~ stretchratio' --experts linear -q --covariance diag")
              .status == 0);
  }
  SECTION("--gate-formula with a constant gate (ignored before)") {
    const Run r = run_cli("fit " + kTone +
                          " --formula 'tuned ~ stretchratio' --experts linear --gate-formula "
                          "'~ stretchratio'");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("--gate-formula") && Contains("constant gate reads no covariates"));
  }
  SECTION("a right-hand side with Gaussian experts that nothing reads (dropped before)") {
    const Run r = run_cli("fit " + kTone + " --formula 'tuned ~ stretchratio'");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("--formula") && Contains("gaussian experts do not read covariates"));
    // With a gate that reads them the right side feeds the gate: fine.
    CHECK(run_cli("fit " + kTone + " --formula 'tuned ~ stretchratio' --gate softmax -q").status ==
          0);
    CHECK(run_cli("fit " + kTone + " --formula 'tuned ~ 1' -q").status == 0);
  }
  SECTION("logistic experts on a continuous response (117 'classes' before)") {
    const Run r = run_cli("fit " + kTone + " --formula 'tuned ~ stretchratio' --experts logistic");
    CHECK(r.status == 1);
    CHECK_THAT(r.err,
               Contains("'tuned'") && Contains("whole numbers") && Contains("--experts linear"));
  }
}

TEST_CASE("an expert with more parameters than rows is refused before it is allocated",
          "[cli][errors]") {
  // 20,000 columns and 2 rows: the diagonal Gaussian experts took 9 GB before failing.
  std::string csv;
  for (int line = 0; line < 3; ++line) {
    for (int c = 0; c < 20000; ++c) {
      if (c) csv += ',';
      csv += line == 0 ? "c" + std::to_string(c) : std::to_string((c * 7 + line * 3) % 11);
    }
    csv += '\n';
  }
  TempFile wide(csv);
#if defined(__SANITIZE_ADDRESS__)
  const std::string limit;  // AddressSanitizer reserves terabytes of address space
#else
  const std::string limit = "ulimit -v 2000000; ";
#endif
  TempFile err("", ".err");
  const std::string cmd = limit + std::string(MOEKIT_CLI) + " fit " + wide.path() +
                          " -k 2 --covariance diag </dev/null >/dev/null 2>" + err.path();
  const int raw = std::system(("sh -c '" + cmd + "'").c_str());
  CHECK(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 1);
  CHECK_THAT(
      slurp(err.path()),
      Contains("one gaussian expert (diag covariance) has 40000 parameters") && Contains("2 rows"));
  // The same check in select.
  const Run s = run_cli("select " + wide.path() + " -k 1:2 --covariance diag");
  CHECK(s.status == 1);
  CHECK_THAT(s.err, Contains("40000 parameters"));
}

TEST_CASE("factor levels that multiply past 2^20 design columns are refused", "[cli][errors]") {
  // a*b*c of three 128-level factors: 2 million columns of names and a 2 GB design before.
  std::string csv = "y,a,b,c\n";
  for (int i = 0; i < 128; ++i)
    csv += std::to_string(i % 7) + ".5,a" + std::to_string(i) + ",b" + std::to_string(i) + ",c" +
           std::to_string((i * 5) % 128) + "\n";
  TempFile f(csv);
  const Run r = run_cli("fit " + f.path() + " --formula 'y ~ a*b*c' --experts linear -k 1");
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains("more than 1048576 design columns") && Contains("a:b:c"));
}

TEST_CASE("data beyond 1e150 in magnitude are refused with the scale", "[cli][errors]") {
  // At 1e300 the fit said "rank deficient" (linear experts) or failed with exit 2 (a GMM).
  std::string csv = "y,x\n";
  for (int i = 1; i <= 20; ++i)
    csv += std::to_string(i % 7) + "." + std::to_string(i) + "e299," + std::to_string(i) + "\n";
  TempFile f(csv);
  for (const char* args : {" --formula 'x ~ y' --experts linear", ""}) {
    INFO(args);
    const Run r = run_cli("fit " + f.path() + args);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("column 1 ('y')") && Contains("beyond 1e+150 in magnitude") &&
                          Contains("rescale"));
  }
}

// A fit's warnings end its text report on stdout and are printed on stderr too, so that they
// are seen when stdout goes to a file or a pipe; where both streams are one place (a
// terminal, `> out 2>&1`) each warning is printed once.
TEST_CASE("cli: warnings once where stdout and stderr are one place", "[cli]") {
  auto count = [](const std::string& text) {
    size_t n = 0;
    for (size_t at = text.find("warning: "); at != std::string::npos;
         at = text.find("warning: ", at + 1))
      if (at == 0 || text[at - 1] == '\n') ++n;
    return n;
  };
  // CO2 ~ GNP with five lines on 28 rows: degenerate components, with warnings.
  const std::string args = "fit " + std::string(MOEKIT_DATASETS_DIR) +
                           "/CO2data.csv --formula 'CO2 ~ GNP' --experts linear -k 5";
  const Run apart = run_cli(args);
  REQUIRE(apart.status == 0);
  REQUIRE(count(apart.out) > 0);
  CHECK(count(apart.err) == count(apart.out));
  const Run together =
      moekit::testing::run_shell("( " + std::string(MOEKIT_CLI) + " " + args + " 2>&1 )");
  REQUIRE(together.status == 0);
  CHECK(together.err.empty());
  CHECK(count(together.out) == count(apart.out));
  // With --json the warnings are a field of the object: stderr prints them either way.
  const Run json =
      moekit::testing::run_shell("( " + std::string(MOEKIT_CLI) + " " + args + " --json 2>&1 )");
  REQUIRE(json.status == 0);
  CHECK(count(json.out) == count(apart.out));
  // select's report ends with the chosen fit's warnings, which stderr prints with its cell.
  const std::string select = "select " + std::string(MOEKIT_DATASETS_DIR) +
                             "/CO2data.csv --formula 'CO2 ~ GNP' --experts linear -k 5";
  const Run select_apart = run_cli(select);
  REQUIRE(select_apart.status == 0);
  CHECK(count(select_apart.out) == count(apart.out));
  CHECK(count(select_apart.err) == count(apart.out));
  const Run select_together =
      moekit::testing::run_shell("( " + std::string(MOEKIT_CLI) + " " + select + " 2>&1 )");
  CHECK(count(select_together.out) == count(apart.out));
}
