#ifndef BREAKWATER_CHIREDIS_SHIM_H
#define BREAKWATER_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
