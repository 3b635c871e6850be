/* drudge.h: umbrella header for the drudge host. */
#ifndef DRUDGE_H
#define DRUDGE_H
#include "error.h"
#include "util.h"
#include "db.h"
#include "record.h"
#include "host.h"
#include "queue.h"
#include "audit.h"
#include "cli.h"
#endif
