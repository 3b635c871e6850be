/* drudge.h: umbrella header for what a connector or an embedder uses. */
#ifndef DRUDGE_H
#define DRUDGE_H
#include "error.h"
#include "util.h"
#include "json.h"
#include "record.h"
#include "host.h"
#endif
