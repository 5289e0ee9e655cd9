#ifndef CONCEPTD_CBLAS_SHIM_H
#define CONCEPTD_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface; the include path comes from pkg-config (openblas).
#include <cblas.h>

/// Sets the number of OpenBLAS threads (declared by OpenBLAS, not by the CBLAS standard).
void openblas_set_num_threads(int num_threads);
/// The number of threads OpenBLAS will use.
int openblas_get_num_threads(void);
/// The core type OpenBLAS picked at load time (e.g. "Haswell", "SkylakeX").
char *openblas_get_corename(void);
#endif
