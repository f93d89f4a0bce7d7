// glibc compatibility of the prebuilt binaries (prebuilds/linux-x64, prebuilds/linux-arm64).
//
// libstdc++ is linked statically (CMakeLists.txt). GCC 12's libstdc++.a, built against glibc
// 2.36, makes std::random_device call arc4random (new in glibc 2.36), and its random.o comes in
// with cow-string-inst.o whether the addon uses random_device or not (it does not). That one
// reference raised the addon's requirement to GLIBC_2.36, so it would not load on Ubuntu 22.04 /
// JetPack 6 (glibc 2.35). A definition here wins over libc's at link time (the addon's own
// objects come before libc.so), stays internal (hidden; -Wl,--exclude-libs,ALL), and needs only
// getrandom (GLIBC_2.25). Like glibc's, it aborts when the kernel gives no randomness at all.
#include <features.h>  // defines __GLIBC__

#if defined(__linux__) && defined(__GLIBC__)
#include <sys/random.h>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

extern "C" __attribute__((visibility("hidden"))) uint32_t arc4random(void) noexcept {
  uint32_t v;
  for (;;) {
    const ssize_t n = getrandom(&v, sizeof v, 0);
    if (n == static_cast<ssize_t>(sizeof v)) return v;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != ENOSYS) break;
    const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    const ssize_t r = read(fd, &v, sizeof v);
    close(fd);
    if (r == static_cast<ssize_t>(sizeof v)) return v;
    break;
  }
  abort();
}
#endif
