#include "config/yaml_reader.h"

#include <fstream>
#include <sstream>

namespace warden {
namespace {
std::optional<std::string> GetEnv(const std::string& name) {
  // Files are read at start-up (and on reload) from one thread; nothing calls setenv.
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
  if (!v) return std::nullopt;
  return std::string(v);
}
}  // namespace

std::vector<std::filesystem::path> YamlFilesIn(const std::string& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

YamlReader::YamlReader(std::string file, EnvLookup env)
    : file_(std::move(file)), env_(env ? std::move(env) : EnvLookup(GetEnv)) {}

std::optional<YAML::Node> YamlReader::Parse(const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    ConfigProblem p;
    p.file = file_;
    if (e.mark.line >= 0) {
      p.line = e.mark.line + 1;
      p.column = e.mark.column + 1;
    }
    p.message = "YAML syntax: " + e.msg;
    problems.push_back(std::move(p));
    return std::nullopt;
  }
}

std::vector<ConfigProblem> YamlReader::SortedProblems() const {
  std::vector<ConfigProblem> out = problems;
  std::stable_sort(out.begin(), out.end(), [](const ConfigProblem& a, const ConfigProblem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return out;
}

}  // namespace warden
