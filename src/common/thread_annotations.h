// Clang's thread-safety analysis (-Wthread-safety): which mutex guards which member, which
// functions need it held or must not hold it. Checked by the clang build scripts/test.sh runs;
// with GCC the macros expand to nothing. Use them with warden::Mutex / SharedMutex
// (common/mutex.h), which carry the capability annotations std::mutex lacks in libstdc++.
#pragma once

#if defined(__clang__)
#define WARDEN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define WARDEN_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) WARDEN_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY WARDEN_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) WARDEN_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) WARDEN_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) WARDEN_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) WARDEN_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) WARDEN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) WARDEN_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) WARDEN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) WARDEN_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) WARDEN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) WARDEN_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) WARDEN_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define EXCLUDES(...) WARDEN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) WARDEN_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS WARDEN_THREAD_ANNOTATION(no_thread_safety_analysis)
