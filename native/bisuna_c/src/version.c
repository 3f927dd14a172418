#include "bisuna.h"

const char *bsn_version(void) { return "0.1.0"; }
