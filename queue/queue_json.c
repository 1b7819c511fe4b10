/* queue_json.c - the user-facing JSON of a job (CLI --json and the API); see queue.h */
#include "queue/queue.h"

#include <jansson.h>

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static json_t *time_or_null(long long t)
{
    char iso[32];
    queue_time_iso(t, iso, sizeof iso);
    return iso[0] ? json_string(iso) : json_null();
}

/* -1 = SQL NULL */
static json_t *int_or_null(long long v)
{
    return v < 0 ? json_null() : json_integer(v);
}

json_t *queue_status_json(const queue_status_row *s)
{
    json_t *o = json_object();
    int bad = 0;
    if (!o)
        return NULL;
    bad |= json_object_set_new(o, "id", json_integer(s->id));
    bad |= json_object_set_new(o, "kind", json_string(s->kind));
    bad |= json_object_set_new(o, "owner", str_or_null(s->owner));
    bad |= json_object_set_new(o, "state", json_string(s->state));
    bad |= json_object_set_new(o, "position", int_or_null(s->position));
    bad |= json_object_set_new(o, "rows", json_integer(s->rows));
    bad |= json_object_set_new(o, "bytes", json_integer(s->bytes));
    bad |= json_object_set_new(o, "attempts", json_integer(s->attempts));
    bad |= json_object_set_new(o, "last_error", str_or_null(s->last_error));
    bad |= json_object_set_new(o, "created_at", time_or_null(s->created_at));
    bad |= json_object_set_new(o, "started_at", time_or_null(s->started_at));
    bad |= json_object_set_new(o, "finished_at", time_or_null(s->finished_at));
    bad |= json_object_set_new(o, "expires_at", time_or_null(s->expires_at));
    bad |= json_object_set_new(o, "run_at", time_or_null(s->run_at));
    bad |= json_object_set_new(o, "link_expires_at", time_or_null(s->link_expires_at));
    bad |= json_object_set_new(o, "email", str_or_null(s->email));
    bad |= json_object_set_new(o, "mail_state", str_or_null(s->mail_state));
    bad |= json_object_set_new(o, "format", json_string(s->format[0] ? s->format : "csv"));
    bad |= json_object_set_new(o, "warning", str_or_null(s->warning));
    bad |= json_object_set_new(o, "rows_estimate", int_or_null(s->rows_estimate));
    bad |= json_object_set_new(o, "percent", int_or_null(s->percent));
    bad |= json_object_set_new(o, "eta_seconds", int_or_null(s->eta_seconds));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
