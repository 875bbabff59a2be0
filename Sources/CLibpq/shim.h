#ifndef BOXOFFICE_CLIBPQ_H
#define BOXOFFICE_CLIBPQ_H
#include <postgresql/libpq-fe.h>
#endif
