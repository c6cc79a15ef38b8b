#ifndef JOBKIT_CLIBPQ_SHIM_H
#define JOBKIT_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
