/* http_tasks.h - a bounded work queue with its own threads, so that blocking
 * database work never runs on the threads that serve connections.
 *
 * MHD's threads only move bytes: a request that needs the database suspends
 * its connection and is submitted here; a task thread runs it (the handler
 * stages its response) and resumes the connection. The server keeps two
 * pools: one for the API and one (one thread, its own connection) for
 * /healthz, so a health check never waits behind slow API calls.
 *
 * At most `queue_max` tasks wait; http_tasks_submit() refuses more (the
 * caller answers 503). http_tasks_drain() stops taking tasks, lets the
 * threads run every task still queued (each must end quickly when its server
 * is stopping) and joins them; submit then always refuses. http_tasks_free()
 * (NULL is fine) drains if needed and frees.
 */
#ifndef EXPORTQ_HTTP_TASKS_H
#define EXPORTQ_HTTP_TASKS_H

#include <stdbool.h>

#include "common/error.h"

typedef struct http_tasks http_tasks;
typedef void (*http_task_fn)(void *arg);

int http_tasks_new(const char *name, int threads, int queue_max, http_tasks **out, eq_err *err) EQ_MUST;
void http_tasks_drain(http_tasks *t);
void http_tasks_free(http_tasks *t);

/* Queues fn(arg). False when the queue is full or the pool is stopping (fn
 * is then not called). */
bool http_tasks_submit(http_tasks *t, http_task_fn fn, void *arg) EQ_MUST;

#endif
