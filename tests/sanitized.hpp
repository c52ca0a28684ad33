// Test support: what changes when the suites run under a sanitizer
// (scripts/sanitize.sh builds them with MITOSIS_SANITIZE, which defines
// MITOSIS_TEST_SANITIZED). There a context starts several times slower (a
// bigger binary, shadow memory), and freed memory is held back (ASan's
// quarantine, TSan's shadow), so:
// - loops of starts and kills run fewer cycles, and file transfers move
//   fewer bytes: what the sanitizer looks for (memory errors, races,
//   leaks) shows in a few dozen cycles or megabytes, and the full counts
//   run in the normal suite, which always runs first;
// - resident-set growth says little about leaks there (LeakSanitizer
//   checks them instead), so RSS bounds are asserted in the normal suite
//   only, except the flood bounds, which are looser there
//   (flood_rss_slack_kb below).
#pragma once

#ifdef MITOSIS_TEST_SANITIZED
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

/// `n` in the normal suite, `under_sanitizer` in a sanitizer build.
constexpr int cycles_or(int n, int under_sanitizer) {
  return sanitized_build ? under_sanitizer : n;
}

/// A byte count: `n` in the normal suite, `under_sanitizer` in a sanitizer
/// build.
constexpr unsigned long long sized_or(unsigned long long n, unsigned long long under_sanitizer) {
  return sanitized_build ? under_sanitizer : n;
}

/// How much a master's resident set may grow while a hostile child floods
/// it (the floods would cost hundreds of MiB unbounded). Under a sanitizer
/// freed memory is held back and ThreadSanitizer maps shadow for every
/// page the flood touches (measured: 40-55 MiB under TSan), so the bound
/// is looser there, and still far below what an unbounded flood would hold.
inline constexpr long flood_rss_slack_kb = sanitized_build ? 128 * 1024 : 32 * 1024;
