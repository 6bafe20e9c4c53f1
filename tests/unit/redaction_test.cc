// Redaction: every shipped rule's golden examples, modes, request walking, and the property
// tests (restore(redact(x)) == x; nothing left to find after redaction; any chunking of a
// stream restores the same text).
#include "redaction/redactor.h"
#include "redaction/names.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

namespace warden {
namespace {

std::shared_ptr<const RuleSets> Shipped() {
  static std::shared_ptr<const RuleSets> sets = [] {
    RuleSetLoadResult r = LoadRuleSets(std::string(WARDEN_SOURCE_DIR) + "/policies/redaction");
    for (const auto& p : r.problems) ADD_FAILURE() << p.ToString();
    return r.sets;
  }();
  return sets;
}

std::shared_ptr<const Redactor> All() {
  static std::shared_ptr<const Redactor> r = [] {
    std::vector<const RuleSet*> sets;
    for (const auto& name : Shipped()->Names()) sets.push_back(Shipped()->Find(name));
    auto built = Redactor::Build(sets);
    EXPECT_TRUE(built.ok());
    return *built;
  }();
  return r;
}

TEST(RuleSetsTest, ShippedSetsLoad) {
  ASSERT_NE(Shipped(), nullptr);
  for (const char* name : {"pii", "secrets", "eu-ids", "phi", "names", "addresses"}) EXPECT_NE(Shipped()->Find(name), nullptr) << name;
}

TEST(RuleSetsTest, EveryShippedRulePassesItsGoldenCases) {
  ASSERT_NE(Shipped(), nullptr);
  int checked = 0;
  for (const auto& name : Shipped()->Names()) {
    for (const Rule& rule : Shipped()->Find(name)->rules) {
      RuleSet one{name, "", {rule}};
      auto r = Redactor::Build({&one});
      ASSERT_TRUE(r.ok());
      const bool grouped = rule.pattern.find('(') != std::string::npos &&
                           (*r)->rules()[0]->re != nullptr;
      for (const std::string& text : rule.match) {
        auto found = (*r)->Find(text);
        EXPECT_FALSE(found.empty()) << rule.file << ":" << rule.line << " " << rule.entity
                                    << " should match: " << text;
        if (found.empty()) continue;
        std::string value = text.substr(found[0].begin, found[0].end - found[0].begin);
        if (value != text && !grouped)
          ADD_FAILURE() << rule.entity << " matched only '" << value << "' of '" << text << "'";
        // Embedded in a sentence it is still found.
        EXPECT_FALSE((*r)->Find("Please note: " + text + ". Thanks").empty()) << rule.entity << ": " << text;
        ++checked;
      }
      for (const std::string& text : rule.no_match) {
        auto found = (*r)->Find(text);
        EXPECT_TRUE(found.empty()) << rule.file << ":" << rule.line << " " << rule.entity
                                   << " must not match: " << text;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

// What the block search relies on: an upper bound of a pattern's match length, in bytes, or
// none when the pattern is open-ended or uses something the reading does not bound.
TEST(RuleSetsTest, MaxMatchLengthBoundsWhatAPatternCanMatch) {
  auto bound = [](const char* p) { auto b = MaxMatchLength(p); return b ? static_cast<long>(*b) : -1L; };
  EXPECT_EQ(bound(R"(\d{3}-\d{2}-\d{4})"), 11);
  EXPECT_EQ(bound(R"(\b(?:ab|c){3}\b)"), 6);
  EXPECT_EQ(bound(R"(x?y{2,5}(z))"), 7);
  EXPECT_EQ(bound(R"([é])"), 2);                   // a class costs its widest character
  EXPECT_EQ(bound(R"([a-z\x{100}-\x{17F}]{10})"), 20);
  EXPECT_EQ(bound(R"([^a])"), 4);                  // negated: any character
  EXPECT_EQ(bound(R"((?i)k)"), 4);                 // folds to U+212A KELVIN SIGN
  EXPECT_EQ(bound(R"((?i:a)b)"), 5);               // the flag ends with its group
  EXPECT_EQ(bound(R"(a{,3})"), 5);                 // not a repeat in RE2: literal text
  EXPECT_EQ(bound(R"(\d+)"), -1);
  EXPECT_EQ(bound(R"(a*b)"), -1);
  EXPECT_EQ(bound(R"(x{2,})"), -1);
  EXPECT_EQ(bound(R"(\Bab)"), -1);                 // reads outside a window
  EXPECT_EQ(bound(R"(\Qa.b\E)"), -1);
  // Nesting as deep as RE2 allows is read; deeper is refused, not a stack overflow.
  const std::string deep = std::string(1000, '(') + "a" + std::string(1000, ')');
  EXPECT_EQ(bound(deep.c_str()), 1);
  const std::string deeper = std::string(200000, '(') + "a" + std::string(200000, ')');
  EXPECT_EQ(bound(deeper.c_str()), -1);
  const std::string flags = "((?i)a)b";  // a flag group closes its own depth
  EXPECT_EQ(bound(flags.c_str()), 5);
  // Every shipped rule but the open-ended secrets is bounded, so long texts take the fast path.
  for (const auto& name : Shipped()->Names())
    for (const Rule& rule : Shipped()->Find(name)->rules)
      if (name != "secrets") {
        EXPECT_TRUE(rule.max_length && *rule.max_length <= Redactor::kBoundedLength) << rule.file << ":" << rule.line;
      }
}

TEST(RuleSetsTest, DeeplyNestedPatternsLoadWithoutExhaustingTheStack) {
  // A rule file nesting 200,000 groups (RE2 compiles it) loads without overflowing the stack:
  // its length is simply not bounded, so it takes the whole-text search.
  std::string deep;
  for (int i = 0; i < 200000; ++i) deep += "(?:";
  deep += "a" + std::string(200000, ')');
  RuleSetLoadResult r = LoadRuleSetFromString(
      "name: deep\nrules:\n  - entity: X\n    pattern: '" + deep + "'\n    match: [a]\n", "deep.yaml", "deep");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.sets->Find("deep")->rules[0].max_length.has_value());
}

TEST(RuleSetsTest, BadPatternsStopLoadingWithALine) {
  RuleSetLoadResult r = LoadRuleSetFromString(
      "name: bad\nrules:\n  - entity: X\n    pattern: '(unclosed'\n    match: [a]\n"
      "  - entity: lower\n    pattern: 'a'\n    validator: nope\n    match: [a]\n",
      "bad.yaml", "bad");
  EXPECT_FALSE(r.ok());
  ASSERT_GE(r.problems.size(), 3u);
  EXPECT_EQ(r.problems[0].line, 4);
  EXPECT_NE(r.problems[0].message.find("compile"), std::string::npos);
}

TEST(RedactorTest, PlaceholdersAreStableAndRestored) {
  RedactionSession s(All(), RedactionMode::kPlaceholder);
  std::string text = "Mail john@example.com or jane@example.org; again john@example.com. Card 4111 1111 1111 1111.";
  const std::string original = text;
  ASSERT_TRUE(s.RedactText(text).ok());
  EXPECT_EQ(text, "Mail [EMAIL_1] or [EMAIL_2]; again [EMAIL_1]. Card [CREDIT_CARD_1].");
  EXPECT_EQ(s.counts().at("EMAIL"), 3);
  EXPECT_EQ(s.Restore(text), original);
  EXPECT_EQ(s.Restore("Unknown [EMAIL_9] and [NOT A PLACEHOLDER] stay"), "Unknown [EMAIL_9] and [NOT A PLACEHOLDER] stay");
}

// The name checks on their own: what they keep of a run of capitalised words, and why.
TEST(NameChecksTest, KeepTheNameAndRejectWhatIsNotOne) {
  auto kept = [](std::optional<Span> span, std::string_view run) {
    return span ? std::string(run.substr(span->first, span->second - span->first)) : std::string("(none)");
  };
  auto person = [&](std::string_view run) { return kept(PersonName(run), run); };
  auto cued = [&](std::string_view run) { return kept(NameAfterCue(run), run); };
  // Anywhere: a listed given name and a surname; leading words that are not names are cut.
  EXPECT_EQ(person("Meeting Anna Schmidt"), "Anna Schmidt");
  EXPECT_EQ(person("Jean-Luc Moreau"), "Jean-Luc Moreau");
  EXPECT_EQ(person("Sophie van der Berg"), "Sophie van der Berg");
  // An unlisted given name before a listed surname that is not also a given name.
  EXPECT_EQ(person("Corina Jenkins"), "Corina Jenkins");
  EXPECT_EQ(person("Email John"), "(none)");
  // Places, things, and given names that are common words without a listed surname.
  EXPECT_EQ(person("Paris Agreement"), "(none)");
  EXPECT_EQ(person("Jordan River"), "(none)");
  EXPECT_EQ(person("Will Power"), "(none)");
  EXPECT_EQ(person("April Fools"), "(none)");
  EXPECT_EQ(person("Anna"), "(none)");
  // Titles and trailing organisation words are not part of the name.
  EXPECT_EQ(person("Mrs Eliza Armstrong"), "Eliza Armstrong");
  EXPECT_EQ(person("Anna Schmidt Hospital"), "Anna Schmidt");
  // After a cue: any capitalised run, unless it starts with a stop word.
  EXPECT_EQ(cued("Okafor"), "Okafor");
  EXPECT_EQ(cued("Lee Clinic"), "Lee");
  EXPECT_EQ(cued("Sir"), "(none)");
  EXPECT_EQ(cued("Team"), "(none)");
  EXPECT_EQ(cued("Presents"), "(none)");
  EXPECT_EQ(cued("Paseo Zarcor"), "(none)");  // a street after "Paciente:"
  EXPECT_EQ(cued("Keizersgracht"), "(none)");  // a street-type suffix
  EXPECT_EQ(cued("May"), "May");              // a stop word that is also a given name
}

TEST(RedactorTest, HipaaRedactsNamesAndAddressesAndRestoresThem) {
  const RuleSet* sets[] = {Shipped()->Find("pii"), Shipped()->Find("phi"), Shipped()->Find("secrets"),
                           Shipped()->Find("names"), Shipped()->Find("addresses")};
  for (const RuleSet* set : sets) ASSERT_NE(set, nullptr);
  auto r = Redactor::Build({std::begin(sets), std::end(sets)});
  ASSERT_TRUE(r.ok());
  RedactionSession s(*r, RedactionMode::kPlaceholder);
  std::string note =
      "Patient: Maria Koopmans, DOB 03/07/1952, lives at Keizersgracht 123, 1015 CJ Amsterdam.\n"
      "Seen by Dr. Okafor; her daughter Corina Jenkins called from 42 W 23rd St, Apt 5.\n"
      "Kind regards,\nTom Becker";
  const std::string original = note;
  ASSERT_TRUE(s.RedactText(note).ok());
  for (const char* value : {"Maria Koopmans", "Keizersgracht", "Amsterdam", "Okafor", "Corina", "Jenkins", "23rd St",
                            "Becker", "1952"})
    EXPECT_EQ(note.find(value), std::string::npos) << value << " left in: " << note;
  EXPECT_EQ(s.counts().at("PERSON_NAME"), 4);
  EXPECT_EQ(s.counts().at("STREET_ADDRESS"), 2);
  EXPECT_NE(note.find("Patient: [PERSON_NAME_1]"), std::string::npos) << note;
  EXPECT_NE(note.find("Seen by Dr. [PERSON_NAME_"), std::string::npos) << note;  // the title stays
  EXPECT_EQ(s.Restore(note), original);
  // The default shipped sets without names and addresses leave them alone.
  const RuleSet* plain[] = {Shipped()->Find("pii")};
  auto p = Redactor::Build({std::begin(plain), std::end(plain)});
  ASSERT_TRUE(p.ok());
  RedactionSession ps(*p, RedactionMode::kPlaceholder);
  std::string text = "Patient: Maria Koopmans";
  ASSERT_TRUE(ps.RedactText(text).ok());
  EXPECT_EQ(text, "Patient: Maria Koopmans");
}

TEST(RedactorTest, MaskAndBlock) {
  RedactionSession mask(All(), RedactionMode::kMask);
  std::string t = "SSN 123-45-6789 and key AKIAIOSFODNN7EXAMPLE";
  ASSERT_TRUE(mask.RedactText(t).ok());
  EXPECT_EQ(t, "SSN [US_SSN] and key [AWS_ACCESS_KEY]");
  EXPECT_FALSE(mask.reversible());
  RedactionSession block(All(), RedactionMode::kBlock);
  std::string b = "call +14155552671 now";
  Status st = block.RedactText(b);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().status(), 403);
  EXPECT_EQ(st.error().code, "content_blocked");
  EXPECT_NE(st.error().message.find("PHONE"), std::string::npos);
  EXPECT_EQ(st.error().message.find("4155552671"), std::string::npos);
}

TEST(RedactorTest, OverlapsPreferTheLongestMatch) {
  RedactionSession s(All(), RedactionMode::kPlaceholder);
  // The URL password rule and the e-mail rule overlap on "user:pw@host.com"-like text; a JWT
  // contains substrings other rules could see. One entity per span, deterministic.
  std::string t = "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end";
  ASSERT_TRUE(s.RedactText(t).ok());
  EXPECT_EQ(t, "token [JWT_1] end");
}

TEST(RedactorTest, WalksEveryFieldTheUpstreamReads) {
  RedactionSession s(All(), RedactionMode::kPlaceholder);
  Json body = Json::parse(R"({
    "model": "m",
    "messages": [
      {"role": "system", "content": "Escalate to ops@example.com"},
      {"role": "user", "name": "x", "content": [{"type": "text", "text": "my IBAN is DE89 3704 0044 0532 0130 00"},
                                      {"type": "image_url", "image_url": {"url": "https://img"}}]},
      {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "lookup", "arguments": "{\"email\":\"ops@example.com\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "found +44 20 7946 0958"}
    ]})");
  ASSERT_TRUE(s.RedactRequest(body).ok());
  std::string dumped = Dump(body);
  EXPECT_EQ(dumped.find("ops@example.com"), std::string::npos) << dumped;
  EXPECT_EQ(dumped.find("DE89"), std::string::npos);
  EXPECT_EQ(dumped.find("7946"), std::string::npos);
  EXPECT_EQ(body["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"email\":\"[EMAIL_1]\"}");
  EXPECT_EQ(body["messages"][1]["content"][1]["image_url"]["url"], "https://img");

  Json embed = {{"model", "e"}, {"input", {"call 415-555-2671", "plain"}}};
  ASSERT_TRUE(s.RedactRequest(embed).ok());
  EXPECT_EQ(embed["input"][0], "call [PHONE_2]");  // PHONE_1 is the tool result's number

  Json response = Json::parse(R"({"choices":[{"message":{"content":"Wrote to [EMAIL_1]",
      "tool_calls":[{"function":{"name":"send","arguments":"{\"to\":\"[EMAIL_1]\"}"}}]}}]})");
  s.RestoreResponse(response);
  EXPECT_EQ(response["choices"][0]["message"]["content"], "Wrote to ops@example.com");
  EXPECT_EQ(response["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"to\":\"ops@example.com\"}");
}

// Random texts built from entity values, near-misses and filler.
std::string RandomText(std::mt19937& rng) {
  static const std::vector<std::string> parts = {
      "john.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
      "123-45-6789", "192.168.1.10", "AKIAIOSFODNN7EXAMPLE", "sk-proj-Abc123Def456Ghi789Jkl012Mno345",
      "RSSMRA85T10A562S", "12345678Z", "AB123456C", "NPI: 1234567893", "fe80::1",
      "hello", "world", "[", "]", "[EMAIL", "_1]", "order 4111 1111 1111 1112", "version 1.2.3",
      "2024-01-15", "12:30:45", " ", ", ", "\n", "Ünïcødé ✓", "x@y", "0x1F"};
  std::string out;
  int n = static_cast<int>(rng() % 12) + 1;
  for (int i = 0; i < n; ++i) out += parts[rng() % parts.size()] + (rng() % 2 ? " " : "");
  return out;
}

// Issue 22: templates and connection strings were refused ("too many overlapping…") because a
// rule matched its own placeholder on every pass; and overlapping values left parts in clear.
TEST(RedactorTest, TemplatesAreRedactedNotRefusedAndOverlapsLeaveNothingInClear) {
  RedactionSession s(All(), RedactionMode::kPlaceholder);
  std::string t = "DATABASE_URL=postgres://${DB_USER}:${DB_PASS}@${DB_HOST}/app";
  ASSERT_TRUE(s.RedactText(t).ok());
  EXPECT_EQ(t, "DATABASE_URL=postgres://${DB_USER}:[URL_PASSWORD_1]@${DB_HOST}/app");
  std::string u = "postgres://admin:S3cr3t~pw@db.internal:5432/app and mail pw@db.example.com";
  ASSERT_TRUE(s.RedactText(u).ok());
  EXPECT_EQ(u.find("S3cr3t"), std::string::npos) << u;
  EXPECT_NE(u.find("[URL_PASSWORD_2]"), std::string::npos) << u;
  EXPECT_NE(u.find("[EMAIL_1]"), std::string::npos) << u;
  // Two overlapping candidates become one region labelled by the one found through context.
  auto found = All()->Find("SSN: 123-45-6789");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(All()->rules()[static_cast<size_t>(found[0].rule)]->entity, "US_SSN");
  EXPECT_EQ(s.Restore(u), "postgres://admin:S3cr3t~pw@db.internal:5432/app and mail pw@db.example.com");
}

TEST(RedactionPropertyTest, RestoreOfRedactIsIdentityAndNothingIsLeftToFind) {
  std::mt19937 rng(42);
  for (int i = 0; i < 500; ++i) {
    std::string x = RandomText(rng);
    RedactionSession s(All(), RedactionMode::kPlaceholder);
    std::string r = x;
    ASSERT_TRUE(s.RedactText(r).ok());
    ASSERT_EQ(s.Restore(r), x) << "text: " << x << "\nredacted: " << r;
    // Whatever is left outside placeholders holds nothing a rule would take.
    for (const auto& m : All()->FindReference(r, s.PlaceholdersIn(r))) {
      ADD_FAILURE() << "still found " << All()->rules()[static_cast<size_t>(m.rule)]->entity << " in: " << r;
    }
  }
}

// Long texts are searched only where values can be (redactor.cc): that must find exactly what
// searching the whole text for every rule that hits finds. Documents of 8 to 96 KB made of the
// evaluation set's rows — values of every kind, hard negatives, six languages — with filler
// prose between them from none (values adjacent, dense) to several kilobytes (sparse).
TEST(RedactionPropertyTest, LongTextsFindWhatAWholeTextSearchFinds) {
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) + "/tests/redaction/eval_set.jsonl");
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);) rows.push_back((*ParseJson(line))["text"].get<std::string>());
  ASSERT_GT(rows.size(), 1000u);
  const std::string filler = "The committee reviewed the quarterly figures and agreed to revisit the plan. ";
  std::mt19937 rng(7);
  const char* seps[] = {"", " ", "\n", ", ", "\t"};
  int documents = 0;
  for (size_t gap : {0, 40, 400, 3000, 9000}) {
    for (int d = 0; d < 8; ++d) {
      std::string doc;
      const size_t size = 8192 + rng() % (88 * 1024);
      while (doc.size() < size) {
        doc += rows[rng() % rows.size()];
        doc += seps[rng() % 5];
        for (size_t g = gap ? rng() % (gap + 1) : 0; g > 0; g -= std::min(g, filler.size()))
          doc += filler.substr(0, std::min(g, filler.size()));
      }
      auto fast = All()->Find(doc), slow = All()->FindReference(doc);
      ASSERT_EQ(fast.size(), slow.size()) << "gap " << gap << " document " << d;
      for (size_t i = 0; i < fast.size(); ++i) {
        ASSERT_EQ(fast[i].begin, slow[i].begin) << doc.substr(slow[i].begin, 80);
        ASSERT_EQ(fast[i].end, slow[i].end) << doc.substr(slow[i].begin, slow[i].end - slow[i].begin);
        ASSERT_EQ(fast[i].rule, slow[i].rule) << doc.substr(slow[i].begin, slow[i].end - slow[i].begin);
      }
      // And a whole redaction (passes after the first search only near what they replaced)
      // leaves nothing the whole-text search would take.
      RedactionSession s(All(), RedactionMode::kPlaceholder);
      std::string r = doc;
      ASSERT_TRUE(s.RedactText(r).ok());
      EXPECT_TRUE(All()->FindReference(r, s.PlaceholdersIn(r)).empty()) << "gap " << gap << " document " << d;
      EXPECT_EQ(s.Restore(r), doc);
      ++documents;
    }
  }
  EXPECT_EQ(documents, 40);
  // A policy whose sets are all bounded (no open-ended secrets): the same on a long text.
  const RuleSet* pii[] = {Shipped()->Find("pii")};
  auto bounded_only = Redactor::Build({std::begin(pii), std::end(pii)});
  ASSERT_TRUE(bounded_only.ok());
  std::string doc;
  while (doc.size() < 20000) doc += rows[rng() % rows.size()] + filler;
  auto fast = (*bounded_only)->Find(doc), slow = (*bounded_only)->FindReference(doc);
  ASSERT_EQ(fast.size(), slow.size());
  EXPECT_GT(fast.size(), 10u);
  for (size_t i = 0; i < fast.size(); ++i) EXPECT_EQ(fast[i].begin, slow[i].begin);
}

// Inputs the fuzzer once broke the properties with (tests/fuzz/regressions, first byte = the
// fuzzer's chunking seed): they must hold now, in every build, not only the fuzzing one.
TEST(RedactionPropertyTest, FuzzerRegressions) {
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(WARDEN_SOURCE_DIR) + "/tests/fuzz/regressions")) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty()) continue;
    std::string x = bytes.substr(1), r = x;
    RedactionSession s(All(), RedactionMode::kPlaceholder);
    if (!s.RedactText(r).ok()) continue;
    EXPECT_EQ(s.Restore(r), x) << e.path();
    EXPECT_TRUE(All()->Find(r, s.PlaceholdersIn(r)).empty()) << e.path();
    ++files;
  }
  EXPECT_GE(files, 3);
}

TEST(RedactionPropertyTest, AnyChunkingOfAStreamRestoresTheSameText) {
  std::mt19937 rng(7);
  RedactionSession s(All(), RedactionMode::kPlaceholder);
  std::string prompt = "a@b.io c@d.io +14155552671 4111111111111111 AKIAIOSFODNN7EXAMPLE";
  ASSERT_TRUE(s.RedactText(prompt).ok());
  const std::string answer =
      "Sure: [EMAIL_1] and [EMAIL_2], call [PHONE_1]; card [CREDIT_CARD_1] key [AWS_ACCESS_KEY_1]. "
      "Not ours: [EMAIL_7], [x], [ and a bracket at the end [";
  const std::string want = s.Restore(answer);
  ASSERT_NE(want.find("a@b.io"), std::string::npos);
  for (int round = 0; round < 300; ++round) {
    StreamRestorer restorer(&s);
    std::string got;
    size_t pos = 0;
    while (pos < answer.size()) {
      size_t len = 1 + rng() % 12;
      got += restorer.Push(std::string_view(answer).substr(pos, len));
      pos += len;
      // Never holds back more than one placeholder's length.
      ASSERT_LE(got.size() + s.longest_placeholder(), want.size() + s.longest_placeholder() + 1);
    }
    got += restorer.Flush();
    ASSERT_EQ(got, want) << "round " << round;
  }
}

TEST(RedactionPropertyTest, HoldsBackOnlyAPossiblePlaceholderTail) {
  RedactionSession s(All(), RedactionMode::kPlaceholder);
  std::string p = "x@y.io";
  ASSERT_TRUE(s.RedactText(p).ok());
  StreamRestorer r(&s);
  EXPECT_EQ(r.Push("Hello "), "Hello ");          // nothing held: no '['
  EXPECT_EQ(r.Push("[EM"), "");                   // could be a placeholder
  EXPECT_EQ(r.Push("AIL_1] ok"), "x@y.io ok");
  EXPECT_EQ(r.Push("[lower"), "[lower");          // cannot be a placeholder: released at once
  EXPECT_EQ(r.Push(" [EMAIL_1"), " ");
  EXPECT_EQ(r.Flush(), "[EMAIL_1");               // the end of the stream releases the rest
}

}  // namespace
}  // namespace warden
