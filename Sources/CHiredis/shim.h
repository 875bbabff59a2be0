#ifndef BOXOFFICE_CHIREDIS_H
#define BOXOFFICE_CHIREDIS_H
// Only the RESP encoder (redisFormatCommandArgv) and the reply reader are used:
// SwiftNIO owns the socket, so no hiredis call ever blocks.
#include <hiredis/hiredis.h>
#endif
