#ifndef CONCEPTD_CSYSTEMD_SHIM_H
#define CONCEPTD_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
