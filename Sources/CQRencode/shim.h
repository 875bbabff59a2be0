#ifndef BOXOFFICE_CQRENCODE_H
#define BOXOFFICE_CQRENCODE_H
#include <qrencode.h>
#endif
