/* http_slots.h - the cluster-wide stream cap (EXPORTQ_MAX_STREAMS), shared by
 * every `exportq serve` on one queue database through PostgreSQL.
 *
 * Slot i (0 <= i < cap) is the session advisory lock
 * (hashtext('exportq.stream_slot'), i) on the queue database. Each serve
 * process holds its slots on ONE connection of its own (application_name
 * exportq-slots), so a process that dies, even by kill -9, closes it and
 * PostgreSQL frees every slot it held at once. Taking a slot tries the slots
 * this process does not hold with pg_try_advisory_lock (never waits); giving
 * one back is queued to the slots' own thread (pg_advisory_unlock), so the
 * thread that ends a request never waits for the database. A slot given back
 * while another request of this process wants one passes to it directly.
 *
 * If the connection is lost (database restart), the slots it held are gone
 * with it: the module reconnects on the next take and takes the slots of the
 * streams still running again where it can (a warning says when it cannot:
 * for that while, the cluster may run more streams than the cap).
 *
 * Ownership: http_slots_new() returns an object the caller frees with
 * http_slots_free() (NULL is fine), which closes the connection (freeing
 * every slot). Thread-safe.
 */
#ifndef EXPORTQ_HTTP_SLOTS_H
#define EXPORTQ_HTTP_SLOTS_H

#include "common/error.h"

typedef struct http_slots http_slots;

/* Connects to the queue database now, or at the first take when it is down. */
int http_slots_new(const char *database_url, int cap, http_slots **out, eq_err *err) EQ_MUST;
/* 1: a slot is ours (*slot set); 0: all cap slots are taken cluster-wide;
 * -1: the database could not be asked (err set, retryable). */
int http_slots_take(http_slots *s, int *slot, eq_err *err) EQ_MUST;
/* Gives slot back (queued to the slots' thread). */
void http_slots_put(http_slots *s, int slot);
void http_slots_free(http_slots *s);

#endif
