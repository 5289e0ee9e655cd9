#ifndef CONCEPTD_CBLAS_SHIM_H
#define CONCEPTD_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface; the include path comes from pkg-config (openblas).
#include <cblas.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/// Sets the number of OpenBLAS threads (declared by OpenBLAS, not by the CBLAS standard).
void openblas_set_num_threads(int num_threads);
/// The number of threads OpenBLAS will use.
int openblas_get_num_threads(void);
/// The core type OpenBLAS picked at load time (e.g. "Haswell", "SkylakeX").
char *openblas_get_corename(void);

/// The widest vector instructions this CPU and its operating system both support, as OpenBLAS's kernels need them:
/// 2 for AVX-512 (F, CD, BW, DQ, VL, with the OS saving the ZMM state), 1 for AVX2 and FMA (OS saving the YMM state),
/// 0 otherwise (or not x86-64). From CPUID and XGETBV, so it needs no /proc (systemd's ProcSubset=pid hides cpuinfo).
static inline int conceptd_cpu_vector_level(void) {
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !fma) return 0;
    unsigned int xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 0x6) != 0x6) return 0;  // XMM and YMM state
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    if (!avx2) return 0;
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 28) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    return avx512 && (xlo & 0xe0) == 0xe0 ? 2 : 1;  // opmask, ZMM_Hi256 and Hi16_ZMM state
#else
    return 0;
#endif
}
#endif
