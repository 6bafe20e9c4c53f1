// Person names: the word lists and the two checks the `names` rule set's patterns hand their
// candidates to. Deterministic and explainable: a candidate is a run of capitalised words that
// a pattern found (after a cue — a title, a salutation, a label such as "Patient:", a signature —
// or anywhere); a check keeps the part of it that reads as a name, or rejects it.
//
//  - after a cue (`name_after_cue`): the run is a name unless its first word is a stop word
//    ("Dear Sir", "Hi Team", "Patient: Unknown"); trailing stop words are cut ("Dr. Lee Clinic").
//  - anywhere (`person_name`): a listed given name followed by one to three capitalised words
//    (surname parts; particles such as "van der" and initials between them) that are listed
//    surnames or not stop words ("Paris Agreement", "Jordan River" are not names); or an unlisted
//    capitalised word before a listed surname ("Corina Jenkins"). A given name that is also a
//    common word or a place (Will, May, Grace, Austin) counts only before a listed surname, and
//    a stop word never starts a name.
//
// The lists (src/redaction/data, README there for their sources and licence) are compiled in:
// given names and surnames from @faker-js/faker's EN/DE/FR/ES/IT/NL locales, the ambiguous given
// names (also English words or places), and a curated stop-word list. No model, no download.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

#include "common/embedded_files.h"

namespace warden {

namespace name_lists {
extern const EmbeddedFile kFiles[];  // generated from src/redaction/data
}

// [begin, end) of the part of `run` that is a name, or nullopt.
using Span = std::pair<size_t, size_t>;
std::optional<Span> NameAfterCue(std::string_view run);
std::optional<Span> PersonName(std::string_view run);

}  // namespace warden
