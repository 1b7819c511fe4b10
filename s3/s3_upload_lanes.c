/* s3_upload_lanes.c - parallel ranges stitched into one multipart upload; see
 * s3_upload.h ("lanes").
 *
 * Lane i owns part numbers [base, limit). Its first part (head) is cut at
 * S3_MIN_PART_SIZE and HELD; later parts are lanes->part_size and go out as
 * soon as they are full. At close, a non-empty part being filled becomes the
 * lane's tail (HELD). settle() walks the lanes in order from the first
 * unsettled one:
 *   - its head, once full or the lane closed: the carry (if any) is put in
 *     front of it (the buffer grows with mremap) and the result is sent under
 *     the head's number; a head that is the lane's only part and still under
 *     5 MiB with the carry becomes the carry instead;
 *   - its tail, once closed: sent when >= 5 MiB, else it becomes the carry.
 * The carry is always the latest bytes settled and its number is above every
 * part sent before it, so the parts listed in number order are the object.
 */
/* mremap: _GNU_SOURCE comes from the build */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "s3/s3_upload_int.h"

typedef struct lane {
    unsigned base, limit, next; /* part numbers [base, limit); the next to cut */
    part *head;                 /* the first part until sent */
    part *filling;
    part *tail;                 /* HELD last part after close */
    bool open, closed, head_done, settled;
} lane;

typedef struct s3_lanes {
    unsigned n, active;
    unsigned settled;   /* lanes [0, settled) are settled */
    size_t lane_memory; /* bytes of buffers one lane may hold */
    size_t part_size;   /* parts after the head */
    part *carry;        /* HELD: the settled bytes not sent yet (< 5 MiB) */
    lane *l;
} s3_lanes;

unsigned s3_upload_max_lanes(size_t memory)
{
    size_t n = memory / (2 * S3_MIN_PART_SIZE);
    return n > S3_MAX_LANES ? S3_MAX_LANES : (unsigned)n;
}

void s3u_lanes_free(s3_upload *up)
{
    if (!up->lanes)
        return;
    free(up->lanes->l);
    free(up->lanes);
    up->lanes = NULL;
}

int s3_upload_set_lanes(s3_upload *up, unsigned nranges, unsigned active, eq_err *err)
{
    s3_lanes *s;
    unsigned block, maxl = s3_upload_max_lanes(up->memory);
    int npool;
    part *pool;

    if (up->stats.parts_started || up->lanes)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: lanes set after the first write");
    if (nranges < 2 || nranges > S3_MAX_LANES)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: %u ranges (2 to %d)", nranges, S3_MAX_LANES);
    if (active > nranges)
        active = nranges;
    if (active > maxl)
        active = maxl;
    if (active < 2) /* one lane at a time could never settle a carry: use the serial path */
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: fewer than two ranges at once fit in %zu bytes", up->memory);
    block = S3_MAX_PARTS / nranges;
    if (!(s = calloc(1, sizeof *s)) || !(s->l = calloc(nranges, sizeof *s->l))) {
        free(s);
        return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: out of memory");
    }
    s->n = nranges;
    s->active = active;
    s->lane_memory = up->memory / active;
    /* a lane holds its head and at least one part beside it */
    s->part_size = up->first_part_size;
    if (s->part_size > s->lane_memory - S3_MIN_PART_SIZE)
        s->part_size = s->lane_memory - S3_MIN_PART_SIZE;
    if (s->part_size < S3_MIN_PART_SIZE)
        s->part_size = S3_MIN_PART_SIZE;
    for (unsigned i = 0; i < nranges; i++) {
        s->l[i].base = i * block + 1;
        s->l[i].limit = s->l[i].base + block;
        s->l[i].next = s->l[i].base;
    }
    /* enough slots for every buffer the lanes may hold, plus the carry */
    npool = (int)(active * (s->lane_memory / S3_MIN_PART_SIZE + 1) + 2);
    if (!(pool = calloc((size_t)npool, sizeof *pool))) {
        free(s->l);
        free(s);
        return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: out of memory");
    }
    for (int i = 0; i < up->npool; i++) { /* nothing was written: no buffers, no transfers */
        s3_request_cleanup(&up->pool[i].req);
        EVP_MD_CTX_free(up->pool[i].sha);
        EVP_MD_CTX_free(up->pool[i].md5);
        s3u_buffer_release(&up->pool[i]);
    }
    free(up->pool);
    up->pool = pool;
    up->npool = npool;
    for (int i = 0; i < npool; i++) {
        s3_request_init(&pool[i].req);
        pool[i].req.owner = &pool[i];
        pool[i].lane = -1;
    }
    up->lanes = s;
    eq_debug(up->ctx, "%u ranges, %u at once, %zu-byte parts, %zu bytes per range, %u part numbers each", nranges,
             active, s->part_size, s->lane_memory, block);
    return 0;
}

/* Bytes of buffers lane i holds (filling, held, in flight). */
static size_t lane_bytes(const s3_upload *up, unsigned i)
{
    size_t n = 0;
    for (int k = 0; k < up->npool; k++)
        if (up->pool[k].state != PART_FREE && up->pool[k].lane == (int)i)
            n += up->pool[k].cap;
    return n;
}

/* The oldest lane that is not settled or still holds a buffer. */
static unsigned oldest_busy(const s3_upload *up)
{
    const s3_lanes *s = up->lanes;
    unsigned lo = s->settled;
    for (int k = 0; k < up->npool; k++) {
        const part *p = &up->pool[k];
        if (p->state != PART_FREE && p->lane >= 0 && (unsigned)p->lane < lo)
            lo = (unsigned)p->lane;
    }
    return lo;
}

bool s3_upload_lane_can_open(const s3_upload *up, unsigned i)
{
    const s3_lanes *s = up->lanes;
    if (!s || i >= s->n || s->l[i].open || up->failed || up->aborted)
        return false;
    if (i > 0 && !s->l[i - 1].open)
        return false;
    return i < oldest_busy(up) + s->active;
}

int s3_upload_lane_open(s3_upload *up, unsigned i, eq_err *err)
{
    if (!s3_upload_lane_can_open(up, i))
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload %s: range %u cannot open now", up->key, i + 1);
    up->lanes->l[i].open = true;
    return 0;
}

/* Seals p and queues it for sending. */
static int send_held(s3_upload *up, part *p, eq_err *err)
{
    if (s3u_seal(up, p, err) < 0)
        return -1;
    return 0;
}

/* Puts the carry's bytes in front of head h (h's buffer grows in place or
 * moves; no copy of the whole on the side) and frees the carry. */
static int join_carry(s3_upload *up, part *h, eq_err *err)
{
    s3_lanes *s = up->lanes;
    part *c = s->carry;
    size_t need = c->len + h->len;
    if (need > h->cap) {
        void *m = mremap(h->data, h->cap, need, MREMAP_MAYMOVE);
        if (m == MAP_FAILED)
            return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: cannot grow a part to %zu bytes", need);
        h->data = m;
        h->cap = need;
    }
    memmove(h->data + c->len, h->data, h->len);
    memcpy(h->data, c->data, c->len);
    h->len = need;
    h->target = need;
    if (s3u_digest_restart(h, err) < 0 || s3u_digest_add(h, h->data, h->len, err) < 0)
        return -1;
    c->state = PART_FREE;
    c->lane = -1;
    s3u_buffer_release(c);
    s->carry = NULL;
    s3u_note_buffers(up);
    return 0;
}

/* Makes p the carry, or sends it when it is big enough to be a part. */
static int carry_or_send(s3_upload *up, part *p, eq_err *err)
{
    if (p->len == 0) {
        p->state = PART_FREE;
        p->lane = -1;
        return 0;
    }
    if (p->len >= S3_MIN_PART_SIZE)
        return send_held(up, p, err);
    p->state = PART_HELD;
    up->lanes->carry = p;
    return 0;
}

/* Settles what can be settled, in lane order (see the top of the file). */
static int settle(s3_upload *up, eq_err *err)
{
    s3_lanes *s = up->lanes;
    while (s->settled < s->n) {
        lane *L = &s->l[s->settled];
        if (!L->open)
            break;
        if (!L->head_done) {
            part *h = L->head;
            bool only;
            if (!h) {
                if (!L->closed)
                    break; /* nothing written yet */
                L->head_done = true;
            } else {
                if (h->state == PART_FILLING && !L->closed)
                    break; /* the head is still filling */
                if (L->filling == h)
                    L->filling = NULL;
                only = L->closed && !L->tail && L->next == L->base + 1;
                if (s->carry && join_carry(up, h, err) < 0)
                    return -1;
                L->head = NULL;
                L->head_done = true;
                if (only) {
                    if (carry_or_send(up, h, err) < 0)
                        return -1;
                } else if (send_held(up, h, err) < 0) {
                    return -1;
                }
            }
        }
        if (!L->closed)
            break;
        if (L->tail) {
            part *t = L->tail;
            L->tail = NULL;
            if (s->carry) /* cannot happen: a head before the tail took it */
                return eq_fail(err, EQ_ERR_S3, "s3 upload %s: range %u: carry and tail at once", up->key,
                               s->settled + 1);
            if (carry_or_send(up, t, err) < 0)
                return -1;
        }
        L->settled = true;
        s->settled++;
    }
    return s3u_pump(up, err);
}

/* A free slot and a buffer of `target` bytes for lane i within its memory. */
static int lane_new_part(s3_upload *up, unsigned i, part **out, eq_err *err)
{
    s3_lanes *s = up->lanes;
    lane *L = &s->l[i];
    bool head = L->next == L->base;
    size_t target = head ? S3_MIN_PART_SIZE : s->part_size;
    part *p = NULL;

    size_t all = 0;

    *out = NULL;
    if (lane_bytes(up, i) + target > s->lane_memory)
        return 0;
    for (int k = 0; k < up->npool; k++) /* a joined head may hold more than its lane's share for a while */
        if (up->pool[k].state != PART_FREE)
            all += up->pool[k].cap;
    if (all + target > up->memory)
        return 0;
    for (int k = 0; k < up->npool && !p; k++)
        if (up->pool[k].state == PART_FREE)
            p = &up->pool[k];
    if (!p)
        return 0;
    if (L->next >= L->limit)
        return eq_fail(err, EQ_ERR_LIMIT,
                       "s3 upload %s: range %u needs more than its %u part numbers (use fewer ranges or more "
                       "upload memory)", up->key, i + 1, L->limit - L->base);
    if (s3u_part_begin(up, p, L->next, target, err) < 0)
        return -1;
    p->lane = (int)i;
    L->next++;
    L->filling = p;
    if (head)
        L->head = p;
    *out = p;
    return 0;
}

int s3_upload_lane_write(s3_upload *up, unsigned i, const void *data, size_t len, size_t *taken, eq_err *err)
{
    s3_lanes *s = up->lanes;
    const unsigned char *d = data;
    lane *L;

    *taken = 0;
    if (up->failed)
        return s3u_fail_sticky(up, &up->failure, err);
    if (!s || i >= s->n || !s->l[i].open || s->l[i].closed)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload %s: range %u is not open", up->key, i + 1);
    L = &s->l[i];
    while (len > 0) {
        part *p = L->filling;
        size_t n;
        if (!p) {
            if (lane_new_part(up, i, &p, err) < 0)
                return s3u_fail_sticky(up, err, err);
            if (!p)
                break; /* the lane's memory is in use: the caller waits */
        }
        if (s3u_part_append(up, p, d, len, &n, err) < 0)
            return s3u_fail_sticky(up, err, err);
        d += n;
        len -= n;
        *taken += n;
        if (p->len == p->target) {
            L->filling = NULL;
            if (p == L->head) {
                p->state = PART_HELD; /* until the range before has ended */
                if (settle(up, err) < 0)
                    return s3u_fail_sticky(up, err, err);
            } else if (s3u_seal(up, p, err) < 0 || s3u_pump(up, err) < 0) {
                return s3u_fail_sticky(up, err, err);
            }
        }
    }
    return 0;
}

int s3_upload_lane_close(s3_upload *up, unsigned i, eq_err *err)
{
    s3_lanes *s = up->lanes;
    lane *L;
    part *p;
    if (up->failed)
        return s3u_fail_sticky(up, &up->failure, err);
    if (!s || i >= s->n || !s->l[i].open || s->l[i].closed)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload %s: range %u is not open", up->key, i + 1);
    L = &s->l[i];
    p = L->filling;
    L->filling = NULL;
    if (p && p != L->head) {
        if (p->len == 0) {
            p->state = PART_FREE; /* an empty part is not sent: its number stays a gap */
            p->lane = -1;
        } else {
            p->state = PART_HELD;
            L->tail = p;
        }
    } else if (p) {
        p->state = PART_HELD; /* the head is the lane's only part */
    }
    L->closed = true;
    if (settle(up, err) < 0)
        return s3u_fail_sticky(up, err, err);
    return 0;
}

int s3u_lanes_finish(s3_upload *up, bool *single_put, eq_err *err)
{
    s3_lanes *s = up->lanes;
    part *c = s->carry;
    *single_put = false;
    if (s->settled != s->n)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload %s: finish before every range ended (%u of %u)", up->key,
                       s->settled, s->n);
    if (!up->created && !s3u_busy(up) && up->stats.parts_done == 0) {
        /* everything fits in one part (or nothing was written): one PutObject */
        if (s3u_put_single(up, c, err) < 0)
            return -1;
        if (c) {
            up->stats.bytes_sent += c->len;
            up->stats.parts_done++;
            c->state = PART_FREE;
            c->lane = -1;
            s->carry = NULL;
        }
        *single_put = true;
        return 0;
    }
    if (c) {
        s->carry = NULL;
        if (send_held(up, c, err) < 0) /* the last part: any size */
            return -1;
    }
    return s3u_pump(up, err);
}
