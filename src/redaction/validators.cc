// Checksum validators for structured identifiers. Each takes the matched text (which may
// contain separators such as spaces, dashes or dots) and returns whether it is a valid id.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "redaction/names.h"
#include "redaction/rules.h"

namespace warden {
namespace {

std::string Alnum(std::string_view s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string Digits(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c >= '0' && c <= '9') out.push_back(c);
  return out;
}

bool LuhnDigits(const std::string& d) {
  if (d.empty()) return false;
  int sum = 0;
  bool dbl = false;
  for (auto it = d.rbegin(); it != d.rend(); ++it) {
    int x = *it - '0';
    if (dbl) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

bool Luhn(std::string_view s) {
  std::string d = Digits(s);
  if (d.size() < 12 || d.size() > 19) return false;
  if (std::all_of(d.begin(), d.end(), [&](char c) { return c == d[0]; })) return false;
  return LuhnDigits(d);
}

// ISO 13616: move the first four characters to the end, letters → 10..35, mod 97 == 1.
bool Iban(std::string_view s) {
  std::string a = Alnum(s);
  if (a.size() < 15 || a.size() > 34 || !std::isalpha(static_cast<unsigned char>(a[0])) ||
      !std::isalpha(static_cast<unsigned char>(a[1])) || !std::isdigit(static_cast<unsigned char>(a[2])) ||
      !std::isdigit(static_cast<unsigned char>(a[3])))
    return false;
  std::string r = a.substr(4) + a.substr(0, 4);
  int mod = 0;
  for (char c : r) {
    int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'A' + 10;
    mod = v >= 10 ? (mod * 100 + v) % 97 : (mod * 10 + v) % 97;
  }
  return mod == 1;
}

// US SSN: area not 000, 666 or 900-999; group not 00; serial not 0000.
bool UsSsn(std::string_view s) {
  std::string d = Digits(s);
  if (d.size() != 9) return false;
  int area = std::stoi(d.substr(0, 3)), group = std::stoi(d.substr(3, 2)), serial = std::stoi(d.substr(5));
  return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

bool Ipv4(std::string_view s) {
  in_addr a{};
  std::string str(s);
  return inet_pton(AF_INET, str.c_str(), &a) == 1;
}

bool Ipv6(std::string_view s) {
  in6_addr a{};
  std::string str(s);
  // At least two groups and one colon pair: plain "a:b" times are not addresses.
  return std::count(str.begin(), str.end(), ':') >= 2 && inet_pton(AF_INET6, str.c_str(), &a) == 1;
}

// German Steuer-IdNr: 11 digits, first not 0, ISO 7064 MOD 11,10 check digit.
bool DeTaxId(std::string_view s) {
  std::string d = Digits(s);
  if (d.size() != 11 || d[0] == '0') return false;
  int product = 10;
  for (int i = 0; i < 10; ++i) {
    int sum = (d[i] - '0' + product) % 10;
    if (sum == 0) sum = 10;
    product = (sum * 2) % 11;
  }
  int check = 11 - product;
  if (check == 10) check = 0;
  return check == d[10] - '0';
}

// French NIR: 13 digits (Corsica 2A/2B → 19/18) + 2-digit key = 97 - (number mod 97).
bool FrNir(std::string_view s) {
  std::string a = Alnum(s);
  if (a.size() != 15) return false;
  std::string body = a.substr(0, 13);
  long long adjust = 0;
  if (body.substr(5, 2) == "2A") { body.replace(5, 2, "19"); adjust = 1000000; }
  if (body.substr(5, 2) == "2B") { body.replace(5, 2, "18"); adjust = 2000000; }
  if (!std::all_of(body.begin(), body.end(), ::isdigit) || !std::isdigit(static_cast<unsigned char>(a[13])) ||
      !std::isdigit(static_cast<unsigned char>(a[14])))
    return false;
  if (body[0] != '1' && body[0] != '2' && body[0] != '7' && body[0] != '8') return false;
  long long n = std::stoll(body) - adjust;
  return 97 - n % 97 == std::stoi(a.substr(13));
}

// Italian codice fiscale: 16 characters, check letter from odd/even position tables.
bool ItCodiceFiscale(std::string_view s) {
  std::string a = Alnum(s);
  if (a.size() != 16) return false;
  static const int kOdd[36] = {1, 0, 5, 7, 9, 13, 15, 17, 19, 21,  // 0-9
                               1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14,
                               16, 10, 22, 25, 24, 23};  // A-Z
  int sum = 0;
  for (int i = 0; i < 15; ++i) {
    char c = a[i];
    int idx = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'A' + 10;
    if (idx < 0 || idx >= 36) return false;
    if (i % 2 == 0) sum += kOdd[idx];
    else sum += std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'A';
  }
  return a[15] == 'A' + sum % 26;
}

// Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter).
bool EsDniNie(std::string_view s) {
  std::string a = Alnum(s);
  if (a.size() != 9) return false;
  static const char kLetters[] = "TRWAGMYFPDXBNJZSQVHLCKE";
  std::string num = a.substr(0, 8);
  if (num[0] == 'X') num[0] = '0';
  else if (num[0] == 'Y') num[0] = '1';
  else if (num[0] == 'Z') num[0] = '2';
  if (!std::all_of(num.begin(), num.end(), ::isdigit)) return false;
  return kLetters[std::stol(num) % 23] == a[8];
}

// UK National Insurance number: two prefix letters with exclusions, 6 digits, suffix A-D.
bool UkNino(std::string_view s) {
  std::string a = Alnum(s);
  if (a.size() != 9) return false;
  const std::string bad_first = "DFIQUV", bad_second = "DFIOQUV";
  if (bad_first.find(a[0]) != std::string::npos || bad_second.find(a[1]) != std::string::npos) return false;
  static const char* kBadPrefixes[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
  for (const char* p : kBadPrefixes)
    if (a.compare(0, 2, p) == 0) return false;
  return a[8] >= 'A' && a[8] <= 'D';
}

// Dutch BSN: 9 digits, 11-proef with weights 9..2 and -1.
bool NlBsn(std::string_view s) {
  std::string d = Digits(s);
  if (d.size() != 9 || d == "000000000") return false;
  int sum = 0;
  for (int i = 0; i < 8; ++i) sum += (9 - i) * (d[i] - '0');
  sum -= d[8] - '0';
  return sum % 11 == 0;
}

// US NPI: 10 digits, Luhn over "80840" + the first 9 digits.
bool Npi(std::string_view s) {
  std::string d = Digits(s);
  if (d.size() != 10 || (d[0] != '1' && d[0] != '2')) return false;
  return LuhnDigits("80840" + d);
}

// DEA registration: 2 letters + 7 digits; (d1+d3+d5) + 2*(d2+d4+d6) ≡ d7 (mod 10).
bool Dea(std::string_view s) {
  std::string a = Alnum(s);
  if (a.size() != 9 || !std::isalpha(static_cast<unsigned char>(a[0])) ||
      !std::isalpha(static_cast<unsigned char>(a[1])))
    return false;
  std::string d = a.substr(2);
  if (!std::all_of(d.begin(), d.end(), ::isdigit)) return false;
  int sum = (d[0] - '0') + (d[2] - '0') + (d[4] - '0') + 2 * ((d[1] - '0') + (d[3] - '0') + (d[5] - '0'));
  return sum % 10 == d[6] - '0';
}

// E.164 allows at most 15 digits; fewer than 8 is a short code or a fragment.
bool Phone(std::string_view s) {
  size_t n = Digits(s).size();
  return n >= 8 && n <= 15;
}

// A national number with the trunk prefix 0: 9 to 12 digits, the second not 0 (00 starts an
// international call, and runs of zeros are padding, not numbers).
bool NationalPhone(std::string_view s) {
  const std::string d = Digits(s);
  return d.size() >= 9 && d.size() <= 12 && d[0] == '0' && d[1] != '0';
}

struct Named {
  const char* name;
  bool (*fn)(std::string_view);
  std::optional<Span> (*span)(std::string_view) = nullptr;  // a validator that trims
};
constexpr Named kValidators[] = {
    {"luhn", Luhn},         {"iban", Iban},     {"us_ssn", UsSsn},
    {"ipv4", Ipv4},         {"ipv6", Ipv6},     {"de_tax_id", DeTaxId},
    {"fr_nir", FrNir},      {"it_codice_fiscale", ItCodiceFiscale},
    {"es_dni_nie", EsDniNie}, {"uk_nino", UkNino}, {"nl_bsn", NlBsn},
    {"npi", Npi},           {"dea", Dea},       {"phone", Phone},
    {"national_phone", NationalPhone},
    {"name_after_cue", nullptr, NameAfterCue}, {"person_name", nullptr, PersonName},
};

}  // namespace

bool IsKnownValidator(std::string_view validator) {
  for (const auto& v : kValidators)
    if (validator == v.name) return true;
  return false;
}

std::optional<std::pair<size_t, size_t>> ValidateSpan(std::string_view validator, std::string_view value) {
  if (validator.empty()) return Span{0, value.size()};
  for (const auto& v : kValidators) {
    if (validator != v.name) continue;
    if (v.span) return v.span(value);
    if (v.fn(value)) return Span{0, value.size()};
    return std::nullopt;
  }
  return std::nullopt;
}

bool Validate(std::string_view validator, std::string_view value) {
  return ValidateSpan(validator, value).has_value();
}

}  // namespace warden
