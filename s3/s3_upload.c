/* s3_upload.c - see s3_upload.h
 *
 * States of a part buffer (the pool has max_in_flight + 1 of them):
 *   FREE -> FILLING (bytes arrive, digests updated) -> READY (full, digests
 *   final) -> SENDING (on the curl multi) -> FREE when S3 acknowledged it,
 *   or BACKOFF (waiting to be resent, buffer kept) -> SENDING ...
 * Part numbers are 1-based (S3's); etags[] is indexed by number - 1.
 */
#include "s3/s3_upload.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/clock.h"
#include "common/hex.h"
#include "common/log.h"
#include "s3/s3_request.h"
#include "s3/s3_upload_int.h"
#include "s3/s3_xml.h"

s3_part_plan s3_upload_plan(size_t first_part_size, size_t memory, int max_in_flight, unsigned number)
{
    s3_part_plan pl;
    size_t cap = memory / 2, s, n;
    if (cap > S3_MAX_PART_SIZE)
        cap = S3_MAX_PART_SIZE;
    if (cap < S3_MIN_PART_SIZE)
        cap = S3_MIN_PART_SIZE;
    s = first_part_size < S3_MIN_PART_SIZE ? S3_MIN_PART_SIZE : first_part_size;
    if (s > cap)
        s = cap;
    for (unsigned g = number ? (number - 1) / S3_PART_GROWTH_EVERY : 0; g > 0 && s < cap; g--)
        s *= 2;
    if (s > cap)
        s = cap;
    n = memory / s;
    if (max_in_flight < 1)
        max_in_flight = 1;
    if (n > (size_t)max_in_flight + 1)
        n = (size_t)max_in_flight + 1;
    pl.part_size = s;
    pl.buffers = n < 1 ? 1 : (int)n;
    return pl;
}

uint64_t s3_upload_max_object(size_t first_part_size, size_t memory)
{
    uint64_t total = 0;
    for (unsigned n = 1; n <= S3_MAX_PARTS; n += S3_PART_GROWTH_EVERY)
        total += (uint64_t)S3_PART_GROWTH_EVERY * s3_upload_plan(first_part_size, memory, 1, n).part_size;
    return total;
}

static size_t part_size_for(const s3_upload *up, unsigned number)
{
    return s3_upload_plan(up->first_part_size, up->memory, up->max_in_flight, number).part_size;
}

/* Part buffers come straight from mmap so that a freed one goes back to the
 * system at once (malloc may keep big freed blocks): RSS follows the budget. */
void s3u_buffer_release(part *p)
{
    if (p->data)
        munmap(p->data, p->cap);
    p->data = NULL;
    p->cap = 0;
}

int s3u_buffer_get(part *p, size_t size)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    p->data = m;
    p->cap = size;
    return 0;
}

/* Bytes held by buffers of parts that are not FREE (filling or in flight). */
static size_t busy_bytes(const s3_upload *up)
{
    size_t n = 0;
    for (int i = 0; i < up->npool; i++)
        if (up->pool[i].state != PART_FREE)
            n += up->pool[i].cap;
    return n;
}

/* Calls the caller's tick; a stop becomes the upload's sticky failure. */
static int run_tick(s3_upload *up, eq_err *err)
{
    eq_err e;
    if (!up->tick)
        return 0;
    eq_err_clear(&e);
    if (up->tick(up->tick_ud, &e) == 0)
        return 0;
    e.retryable = false;
    return s3u_fail_sticky(up, &e, err);
}

int s3u_fail_sticky(s3_upload *up, const eq_err *e, eq_err *err)
{
    if (!up->failed) {
        up->failed = true;
        up->failure = *e;
    }
    if (err && err != &up->failure)
        *err = up->failure;
    return -1;
}

static int sticky(s3_upload *up, eq_err *err)
{
    if (err)
        *err = up->failure;
    return -1;
}

int s3_upload_new(s3_client *client, const char *key, const char *content_type, const char *content_encoding,
                  size_t first_part_size, int max_in_flight, s3_upload **out, eq_err *err)
{
    s3_upload *up;
    *out = NULL;
    if (!key || !*key)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: empty key");
    if (first_part_size < S3_MIN_PART_SIZE || first_part_size > S3_MAX_PART_SIZE)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: part size %zu outside %zu..%zu", first_part_size,
                       S3_MIN_PART_SIZE, S3_MAX_PART_SIZE);
    if (max_in_flight < 1 || max_in_flight > 64)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: %d parts in flight is outside 1..64", max_in_flight);
    if (!(up = calloc(1, sizeof *up)))
        return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: out of memory");
    up->client = client;
    up->first_part_size = first_part_size;
    up->memory = S3_DEFAULT_UPLOAD_MEMORY;
    if (up->memory < 2 * first_part_size)
        up->memory = 2 * first_part_size;
    up->max_in_flight = max_in_flight;
    up->npool = max_in_flight + 1;
    up->next_number = 1;
    up->key = strdup(key);
    up->content_type = strdup(content_type ? content_type : DEFAULT_CONTENT_TYPE);
    up->content_encoding = content_encoding ? strdup(content_encoding) : NULL;
    up->pool = calloc((size_t)up->npool, sizeof *up->pool);
    up->multi = curl_multi_init();
    if (!up->key || !up->content_type || (content_encoding && !up->content_encoding) || !up->pool || !up->multi) {
        s3_upload_free(up);
        return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: out of memory");
    }
    for (int i = 0; i < up->npool; i++) {
        s3_request_init(&up->pool[i].req);
        up->pool[i].req.owner = &up->pool[i];
    }
    snprintf(up->ctx, sizeof up->ctx, "key=%.140s", key);
    *out = up;
    return 0;
}

void s3_upload_free(s3_upload *up)
{
    if (!up)
        return;
    for (int i = 0; up->pool && i < up->npool; i++) {
        part *p = &up->pool[i];
        if (p->on_multi && up->multi)
            curl_multi_remove_handle(up->multi, p->req.easy);
        s3_request_cleanup(&p->req);
        EVP_MD_CTX_free(p->sha);
        EVP_MD_CTX_free(p->md5);
        s3u_buffer_release(p);
    }
    if (up->multi)
        curl_multi_cleanup(up->multi);
    s3u_lanes_free(up);
    free(up->pool);
    free(up->etags);
    free(up->key);
    free(up->content_type);
    free(up->content_encoding);
    free(up);
}

bool s3_upload_object_may_exist(const s3_upload *up)
{
    return up->completing || up->finished;
}

const char *s3_upload_id(const s3_upload *up)
{
    return up->created ? up->upload_id : NULL;
}

void s3_upload_on_created(s3_upload *up, s3_upload_created_cb cb, void *ud)
{
    up->on_created = cb;
    up->on_created_ud = ud;
}

void s3_upload_on_tick(s3_upload *up, s3_tick_fn cb, void *ud)
{
    up->tick = cb;
    up->tick_ud = ud;
}

int s3_upload_set_memory(s3_upload *up, size_t memory, eq_err *err)
{
    if (memory < 2 * S3_MIN_PART_SIZE)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: %zu bytes of upload memory is less than two %zu-byte parts",
                       memory, S3_MIN_PART_SIZE);
    if (up->stats.parts_started)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: memory set after the first write");
    up->memory = memory;
    return 0;
}

size_t s3_upload_part_size(const s3_upload *up)
{
    return part_size_for(up, up->next_number);
}

void s3_upload_get_stats(const s3_upload *up, s3_upload_stats *out)
{
    *out = up->stats;
    out->in_flight = 0;
    out->buffer_bytes = 0;
    for (int i = 0; i < up->npool; i++) {
        part_state s = up->pool[i].state;
        if (s == PART_READY || s == PART_SENDING || s == PART_BACKOFF)
            out->in_flight++;
        out->buffer_bytes += up->pool[i].cap;
    }
}

/* After any buffer change: the peak of memory held by part buffers. */
void s3u_note_buffers(s3_upload *up)
{
    size_t n = 0;
    for (int i = 0; i < up->npool; i++)
        n += up->pool[i].cap;
    if (n > up->stats.buffer_bytes_max)
        up->stats.buffer_bytes_max = n;
}

static int free_slots(const s3_upload *up)
{
    int n = 0;
    for (int i = 0; i < up->npool; i++)
        n += up->pool[i].state == PART_FREE;
    return n;
}

bool s3_upload_writable(const s3_upload *up)
{
    /* a free buffer slot, and room in the budget for the next part beside
     * the parts being filled or in flight */
    return !up->failed && !up->finished && !up->aborted && free_slots(up) >= 1 &&
           busy_bytes(up) + part_size_for(up, up->next_number) <= up->memory;
}

/* FREE -> FILLING: part `number`, a buffer of `target` bytes (within the
 * budget), digests reset. */
int s3u_part_begin(s3_upload *up, part *p, unsigned number, size_t target, eq_err *err)
{
    if (p->cap != target) {
        size_t held = 0;
        s3u_buffer_release(p);
        /* give back idle buffers until the new one fits in the budget */
        for (int i = 0; i < up->npool; i++)
            held += up->pool[i].cap;
        for (int i = 0; i < up->npool && held + target > up->memory; i++) {
            part *o = &up->pool[i];
            if (o->state == PART_FREE && o->cap) {
                held -= o->cap;
                s3u_buffer_release(o);
            }
        }
        if (held + target > up->memory)
            return eq_fail(err, EQ_ERR_LIMIT, "s3 upload %s: a %zu-byte part does not fit in the upload memory "
                                              "(%zu bytes) beside the parts in flight", up->key, target, up->memory);
        if (s3u_buffer_get(p, target) < 0)
            return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: cannot allocate a %zu-byte part buffer", target);
        s3u_note_buffers(up);
    }
    if (s3u_digest_restart(p, err) < 0)
        return -1;
    p->number = number;
    p->target = target;
    p->len = 0;
    p->attempts = 0;
    p->lane = -1;
    p->state = PART_FILLING;
    up->stats.parts_started++;
    return 0;
}

int s3u_digest_restart(part *p, eq_err *err)
{
    if ((!p->sha && !(p->sha = EVP_MD_CTX_new())) || (!p->md5 && !(p->md5 = EVP_MD_CTX_new())) ||
        !EVP_DigestInit_ex(p->sha, EVP_sha256(), NULL) || !EVP_DigestInit_ex(p->md5, EVP_md5(), NULL))
        return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: cannot set up digests");
    return 0;
}

int s3u_digest_add(part *p, const void *d, size_t n, eq_err *err)
{
    if (!EVP_DigestUpdate(p->sha, d, n) || !EVP_DigestUpdate(p->md5, d, n))
        return eq_fail(err, EQ_ERR_S3, "s3 upload: digest update failed");
    return 0;
}

int s3u_part_append(s3_upload *up, part *p, const void *d, size_t len, size_t *taken, eq_err *err)
{
    size_t n = p->target - p->len;
    if (n > len)
        n = len;
    *taken = 0;
    memcpy(p->data + p->len, d, n);
    if (s3u_digest_add(p, d, n, err) < 0)
        return -1;
    p->len += n;
    up->stats.bytes_written += n;
    *taken = n;
    return 0;
}

/* The next part of the one ordered stream. */
static int start_filling(s3_upload *up, part *p, eq_err *err)
{
    if (up->next_number > S3_MAX_PARTS)
        return eq_fail(err, EQ_ERR_LIMIT, "s3 upload %s: more than %d parts", up->key, S3_MAX_PARTS);
    if (s3u_part_begin(up, p, up->next_number, part_size_for(up, up->next_number), err) < 0)
        return -1;
    up->next_number++;
    up->filling = p;
    return 0;
}

/* FILLING -> READY: final digests */
int s3u_seal(s3_upload *up, part *p, eq_err *err)
{
    unsigned char md[32];
    unsigned int n = 0;
    if (!EVP_DigestFinal_ex(p->sha, md, &n) || n != 32)
        return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: SHA-256 of part %u failed", p->number);
    eq_hex_encode(md, 32, p->sha_hex);
    if (!EVP_DigestFinal_ex(p->md5, md, &n) || n != 16)
        return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: MD5 of part %u failed", p->number);
    eq_hex_encode(md, 16, p->md5_hex);
    EVP_EncodeBlock((unsigned char *)p->md5_b64, md, 16);
    p->state = PART_READY;
    if (up->filling == p)
        up->filling = NULL;
    return 0;
}

static int create_upload(s3_upload *up, eq_err *err)
{
    s3_request r;
    s3_xml_reply x;
    sigv4_kv q[] = {{"uploads", NULL}};
    sigv4_kv hs[2];
    size_t nh = 0;
    int rc;

    hs[nh++] = (sigv4_kv){"Content-Type", up->content_type};
    if (up->content_encoding)
        hs[nh++] = (sigv4_kv){"Content-Encoding", up->content_encoding};
    s3_req_spec spec = {.op = "CreateMultipartUpload", .method = "POST", .key = up->key, .query = q, .nquery = 1,
                        .headers = hs, .nheaders = nh, .out_fd = -1, .tick = up->tick, .tick_ud = up->tick_ud};
    s3_request_init(&r);
    rc = s3_request_perform(up->client, &r, &spec, err);
    if (rc == 0) {
        memset(&x, 0, sizeof x);
        rc = s3_xml_parse(r.reply.data ? r.reply.data : "", r.reply.len, &x, err);
        if (rc == 0 && !x.upload_id[0])
            rc = eq_fail(err, EQ_ERR_S3, "s3 CreateMultipartUpload %s: no UploadId in the reply", up->key);
        if (rc == 0 && strlen(x.upload_id) >= sizeof up->upload_id - 1)
            rc = eq_fail(err, EQ_ERR_S3, "s3 CreateMultipartUpload %s: UploadId too long", up->key);
    }
    s3_request_cleanup(&r);
    if (rc < 0)
        return -1;
    snprintf(up->upload_id, sizeof up->upload_id, "%s", x.upload_id);
    up->created = true;
    eq_info(up->ctx, "multipart upload created");
    if (up->on_created)
        up->on_created(up->on_created_ud, up->key, up->upload_id);
    return 0;
}

static int send_part(s3_upload *up, part *p, eq_err *err)
{
    CURLMcode mc;
    snprintf(p->number_str, sizeof p->number_str, "%u", p->number);
    p->query[0] = (sigv4_kv){"partNumber", p->number_str};
    p->query[1] = (sigv4_kv){"uploadId", up->upload_id};
    p->headers[0] = (sigv4_kv){"Content-MD5", p->md5_b64};
    p->spec = (s3_req_spec){.op = "UploadPart", .method = "PUT", .key = up->key, .query = p->query, .nquery = 2,
                            .headers = p->headers, .nheaders = 1, .body = p->data, .body_len = p->len,
                            .payload_hash = p->sha_hex, .out_fd = -1};
    if (s3_request_prepare(up->client, &p->req, &p->spec, err) < 0)
        return -1;
    if ((mc = curl_multi_add_handle(up->multi, p->req.easy)) != CURLM_OK)
        return eq_fail(err, EQ_ERR_S3, "s3 UploadPart: %s", curl_multi_strerror(mc));
    p->on_multi = true;
    p->attempts++;
    p->state = PART_SENDING;
    up->sending++;
    return 0;
}

static int store_etag(s3_upload *up, part *p, eq_err *err)
{
    unsigned idx = p->number - 1;
    if (idx >= up->etags_cap) {
        unsigned ncap = up->etags_cap ? up->etags_cap : 64;
        void *n;
        while (ncap <= idx)
            ncap *= 2;
        if (ncap > S3_MAX_PARTS)
            ncap = S3_MAX_PARTS;
        if (!(n = realloc(up->etags, (size_t)ncap * ETAG_MAX)))
            return eq_fail(err, EQ_ERR_NOMEM, "s3 upload: out of memory for part ETags");
        memset((char *)n + (size_t)up->etags_cap * ETAG_MAX, 0, (size_t)(ncap - up->etags_cap) * ETAG_MAX);
        up->etags = n;
        up->etags_cap = ncap;
    }
    /* S3's part ETag is the hex MD5 of the part; fall back to ours if absent */
    snprintf(up->etags[idx], ETAG_MAX, "%s", p->req.etag[0] ? p->req.etag : p->md5_hex);
    return 0;
}

const long S3_LATENCY_BOUNDS_MS[S3_LATENCY_BUCKETS - 1] = {100, 250, 500, 1000, 2500, 5000, 10000, 30000};

static void record_latency(s3_upload *up, CURL *easy)
{
    curl_off_t us = 0;
    long ms;
    int b = 0;
    if (curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us) != CURLE_OK)
        return;
    ms = (long)(us / 1000);
    while (b < S3_LATENCY_BUCKETS - 1 && ms > S3_LATENCY_BOUNDS_MS[b])
        b++;
    up->stats.part_latency[b]++;
    up->stats.part_latency_ms_sum += (uint64_t)ms;
}

/* Handles finished transfers. */
static int reap(s3_upload *up, eq_err *err)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(up->multi, &left))) {
        s3_request *r = NULL;
        part *p;
        eq_err e;
        char ctx[200];
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        p = r->owner;
        CURLcode cc = m->data.result;
        curl_multi_remove_handle(up->multi, p->req.easy); /* m is invalid from here */
        p->on_multi = false;
        up->sending--;
        snprintf(ctx, sizeof ctx, "%s part=%u", up->ctx, p->number);
        eq_err_clear(&e);
        if (s3_request_result(&p->req, cc, &e) == 0) {
            if (store_etag(up, p, &e) < 0)
                return s3u_fail_sticky(up, &e, err);
            up->stats.parts_done++;
            up->stats.bytes_sent += p->len;
            record_latency(up, p->req.easy);
            p->state = PART_FREE;
            eq_debug(ctx, "part uploaded (%zu bytes)", p->len);
            continue;
        }
        eq_err_context(&e, "part %u", p->number);
        if (!e.retryable || p->attempts >= s3_client_max_attempts(up->client)) {
            if (p->attempts > 1)
                eq_err_context(&e, "after %d attempts", p->attempts);
            eq_error(ctx, "%s", e.msg);
            return s3u_fail_sticky(up, &e, err);
        }
        p->state = PART_BACKOFF;
        p->retry_at_ms = eq_now_ms() + s3_client_backoff_ms(up->client, p->attempts + 1);
        up->stats.retries++;
        eq_warn(ctx, "will retry (attempt %d): %s", p->attempts + 1, e.msg);
    }
    return 0;
}

/* Starts what can start: due retries first, then ready parts, lowest number first. */
int s3u_pump(s3_upload *up, eq_err *err)
{
    long long now = eq_now_ms();
    int running;
    CURLMcode mc;

    if (up->failed)
        return sticky(up, err);
    for (;;) {
        part *best = NULL;
        if (up->sending >= (unsigned)up->max_in_flight)
            break;
        for (int i = 0; i < up->npool; i++) {
            part *p = &up->pool[i];
            if ((p->state == PART_READY || (p->state == PART_BACKOFF && p->retry_at_ms <= now)) &&
                (!best || p->number < best->number))
                best = p;
        }
        if (!best)
            break;
        if (!up->created && create_upload(up, err) < 0)
            return s3u_fail_sticky(up, err, err);
        if (send_part(up, best, err) < 0)
            return s3u_fail_sticky(up, err, err);
    }
    if ((mc = curl_multi_perform(up->multi, &running)) != CURLM_OK) {
        eq_err e;
        eq_fail(&e, EQ_ERR_S3, "s3 upload: %s", curl_multi_strerror(mc));
        return s3u_fail_sticky(up, &e, err);
    }
    return reap(up, err);
}

int s3_upload_write(s3_upload *up, const void *data, size_t len, eq_err *err)
{
    const unsigned char *d = data;
    if (up->failed)
        return sticky(up, err);
    if (up->finished || up->aborted)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload %s: write after finish or abort", up->key);
    while (len > 0) {
        part *p = up->filling;
        size_t n;
        if (!p) {
            for (int i = 0; i < up->npool && !p; i++)
                if (up->pool[i].state == PART_FREE)
                    p = &up->pool[i];
            if (!p)
                return eq_fail(err, EQ_ERR_LIMIT,
                               "s3 upload %s: no free part buffer (check s3_upload_writable, split writes)",
                               up->key);
            if (start_filling(up, p, err) < 0)
                return s3u_fail_sticky(up, err, err);
        }
        if (s3u_part_append(up, p, d, len, &n, err) < 0)
            return s3u_fail_sticky(up, err, err);
        d += n;
        len -= n;
        if (p->len == p->target) {
            if (s3u_seal(up, p, err) < 0)
                return s3u_fail_sticky(up, err, err);
            if (s3u_pump(up, err) < 0)
                return -1;
        }
    }
    return 0;
}

int s3_upload_wait_fds(s3_upload *up, struct pollfd *fds, int nfds, int timeout_ms, eq_err *err)
{
    struct curl_waitfd wfd[S3_WAIT_FDS_MAX];
    long long now, next = -1;
    int numfds = 0, ready = 0, t = timeout_ms < 0 ? 0 : timeout_ms;
    CURLMcode mc;

    if (nfds < 0 || nfds > S3_WAIT_FDS_MAX)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload: %d descriptors to wait on (at most %d)", nfds,
                       S3_WAIT_FDS_MAX);
    for (int i = 0; i < nfds; i++) {
        wfd[i] = (struct curl_waitfd){.fd = fds[i].fd, .events = fds[i].events, .revents = 0};
        fds[i].revents = 0;
    }
    if (s3u_pump(up, err) < 0)
        return -1;
    now = eq_now_ms();
    for (int i = 0; i < up->npool; i++)
        if (up->pool[i].state == PART_BACKOFF && (next < 0 || up->pool[i].retry_at_ms < next))
            next = up->pool[i].retry_at_ms;
    if (next >= 0 && next - now < t)
        t = next - now < 0 ? 0 : (int)(next - now);
    if (t > 0 || nfds > 0) {
        mc = curl_multi_poll(up->multi, nfds > 0 ? wfd : NULL, (unsigned)nfds, t, &numfds);
        if (mc != CURLM_OK) {
            eq_err e;
            eq_fail(&e, EQ_ERR_S3, "s3 upload: %s", curl_multi_strerror(mc));
            return s3u_fail_sticky(up, &e, err);
        }
    }
    if (s3u_pump(up, err) < 0)
        return -1;
    for (int i = 0; i < nfds; i++) {
        fds[i].revents = wfd[i].revents;
        ready += wfd[i].revents != 0;
    }
    return ready;
}

int s3_upload_wait(s3_upload *up, int extra_fd, short extra_events, int timeout_ms, eq_err *err)
{
    struct pollfd p = {.fd = extra_fd, .events = extra_events, .revents = 0};
    int r = s3_upload_wait_fds(up, &p, extra_fd >= 0 ? 1 : 0, timeout_ms, err);
    return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/* The ETag S3 gives a completed multipart object: MD5 of the parts' binary
 * MD5s, "-", the part count. Part ETags are the parts' MD5 in hex. Numbers
 * 1..`highest`; with lanes, the numbers no part was sent under are skipped. */
static int multipart_etag(const s3_upload *up, unsigned highest, char *out, size_t outsz)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0, parts = 0;
    int rc = -1;
    if (!c || !EVP_DigestInit_ex(c, EVP_md5(), NULL))
        goto out;
    for (unsigned i = 0; i < highest && i < up->etags_cap; i++) {
        unsigned char bin[16];
        const char *hex = up->etags[i];
        if (up->lanes && !hex[0])
            continue;
        parts++;
        if (strlen(hex) != 32)
            goto out;
        for (int j = 0; j < 16; j++) {
            unsigned v;
            if (sscanf(hex + 2 * j, "%2x", &v) != 1)
                goto out;
            bin[j] = (unsigned char)v;
        }
        if (!EVP_DigestUpdate(c, bin, sizeof bin))
            goto out;
    }
    if (!EVP_DigestFinal_ex(c, md, &mdlen))
        goto out;
    if (2 * (size_t)mdlen + 1 > outsz)
        goto out;
    eq_hex_encode(md, mdlen, out);
    snprintf(out + 2 * mdlen, outsz - 2 * mdlen, "-%u", parts);
    rc = 0;
out:
    EVP_MD_CTX_free(c);
    return rc;
}

/* A Complete whose reply was lost is retried and then meets NoSuchUpload: the
 * first one may well have been applied. It was when the object now has our
 * size and the multipart ETag of exactly our parts. */
static bool complete_was_applied(s3_upload *up, unsigned parts)
{
    char want[64], got[128];
    const char *g = got;
    uint64_t size = 0;
    eq_err e;
    s3_request r;
    s3_req_spec spec = {.op = "HeadObject", .method = "HEAD", .key = up->key, .out_fd = -1, .head = true,
                        .tick = up->tick, .tick_ud = up->tick_ud};
    int rc;
    if (multipart_etag(up, parts, want, sizeof want) < 0)
        return false;
    s3_request_init(&r);
    rc = s3_request_perform(up->client, &r, &spec, &e);
    size = r.content_length;
    snprintf(got, sizeof got, "%s", r.etag);
    s3_request_cleanup(&r);
    if (rc < 0)
        return false;
    if (*g == '"')
        g++;
    eq_debug(up->ctx, "after a lost Complete reply: object has %llu bytes, ETag %s; ours: %llu bytes, %s",
             (unsigned long long)size, g, (unsigned long long)up->stats.bytes_sent, want);
    return size == up->stats.bytes_sent && strncasecmp(g, want, strlen(want)) == 0 &&
           (g[strlen(want)] == '\0' || g[strlen(want)] == '"');
}

static int complete_upload(s3_upload *up, eq_err *err)
{
    eq_buf xml;
    s3_request r;
    sigv4_kv q[] = {{"uploadId", up->upload_id}};
    sigv4_kv hs[] = {{"Content-Type", "application/xml"}};
    /* with lanes, part numbers have gaps (each range has its own block) */
    unsigned parts = up->lanes ? up->etags_cap : up->next_number - 1, listed = 0;
    int rc = -1;

    eq_buf_init(&xml, (size_t)S3_MAX_PARTS * 128 + 256);
    s3_request_init(&r);
    if (eq_buf_puts(&xml, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">", err) < 0)
        goto fail;
    for (unsigned i = 0; i < parts; i++) {
        if (up->lanes && !up->etags[i][0])
            continue;
        if (i >= up->etags_cap || !up->etags[i][0]) {
            eq_fail(err, EQ_ERR_S3, "s3 upload %s: part %u has no ETag", up->key, i + 1);
            goto fail;
        }
        if (eq_buf_printf(&xml, err, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1,
                          up->etags[i]) < 0)
            goto fail;
        listed++;
    }
    if (listed != up->stats.parts_done) {
        eq_fail(err, EQ_ERR_S3, "s3 upload %s: %u parts acknowledged, %u with an ETag", up->key, up->stats.parts_done,
                listed);
        goto fail;
    }
    if (eq_buf_puts(&xml, "</CompleteMultipartUpload>", err) < 0)
        goto fail;
    {
        s3_req_spec spec = {.op = "CompleteMultipartUpload", .method = "POST", .key = up->key, .query = q,
                            .nquery = 1, .headers = hs, .nheaders = 1, .body = xml.data, .body_len = xml.len,
                            .out_fd = -1, .tick = up->tick, .tick_ud = up->tick_ud};
        up->completing = true;
        if (s3_request_perform(up->client, &r, &spec, err) < 0) {
            if (r.stopped || r.status != 404 || !complete_was_applied(up, parts))
                goto fail;
            eq_info(up->ctx, "CompleteMultipartUpload: the reply was lost, but the object is complete "
                             "(size and multipart ETag match)");
        }
    }
    rc = 0;
fail:
    s3_request_cleanup(&r);
    eq_buf_cleanup(&xml);
    return rc;
}

/* The whole object in one PutObject (p NULL: an empty object), with the
 * digests of the part and the caller's tick while it blocks. */
int s3u_put_single(s3_upload *up, part *p, eq_err *err)
{
    char sha[65], md5[25];
    sigv4_kv hs[3];
    size_t nh = 0;
    s3_request r;
    int rc;
    if (p) {
        if (s3u_seal(up, p, err) < 0)
            return -1;
        memcpy(sha, p->sha_hex, sizeof sha);
        memcpy(md5, p->md5_b64, sizeof md5);
    } else if (s3_digest("", 0, sha, md5) < 0) {
        return eq_fail(err, EQ_ERR_NOMEM, "s3 PutObject %s: digest failed", up->key);
    }
    hs[nh++] = (sigv4_kv){"Content-MD5", md5};
    hs[nh++] = (sigv4_kv){"Content-Type", up->content_type};
    if (up->content_encoding)
        hs[nh++] = (sigv4_kv){"Content-Encoding", up->content_encoding};
    s3_req_spec spec = {.op = "PutObject", .method = "PUT", .key = up->key, .headers = hs, .nheaders = nh,
                        .body = p ? p->data : NULL, .body_len = p ? p->len : 0, .payload_hash = sha,
                        .out_fd = -1, .tick = up->tick, .tick_ud = up->tick_ud};
    up->completing = true;
    s3_request_init(&r);
    rc = s3_request_perform(up->client, &r, &spec, err);
    s3_request_cleanup(&r);
    return rc;
}

bool s3u_busy(const s3_upload *up)
{
    for (int i = 0; i < up->npool; i++) {
        part_state s = up->pool[i].state;
        if (s == PART_READY || s == PART_SENDING || s == PART_BACKOFF)
            return true;
    }
    return false;
}

int s3_upload_finish(s3_upload *up, eq_err *err)
{
    if (up->failed)
        return sticky(up, err);
    if (up->finished)
        return 0;
    if (up->aborted)
        return eq_fail(err, EQ_ERR_INVALID, "s3 upload %s: finish after abort", up->key);
    if (up->lanes) {
        bool single = false;
        if (s3u_lanes_finish(up, &single, err) < 0)
            return s3u_fail_sticky(up, err, err);
        if (single) {
            up->single_put = true;
            up->finished = true;
            eq_info(up->ctx, "uploaded with one PutObject (%llu bytes)", (unsigned long long)up->stats.bytes_sent);
            return 0;
        }
    } else if (!up->created && up->stats.parts_started <= 1 && !s3u_busy(up)) {
        /* everything fit in one part (or nothing was written): one PutObject */
        part *p = up->filling;
        if (s3u_put_single(up, p, err) < 0)
            return s3u_fail_sticky(up, err, err);
        if (p) {
            p->state = PART_FREE;
            up->filling = NULL;
            up->stats.bytes_sent += p->len;
            up->stats.parts_done++;
        }
        up->single_put = true;
        up->finished = true;
        eq_info(up->ctx, "uploaded with one PutObject (%llu bytes)", (unsigned long long)up->stats.bytes_sent);
        return 0;
    }
    if (up->lanes) {
        /* the lanes sealed their last parts */
    } else if (up->filling && up->filling->len > 0) {
        if (s3u_seal(up, up->filling, err) < 0)
            return s3u_fail_sticky(up, err, err);
    } else if (up->filling) {
        up->filling->state = PART_FREE; /* an empty trailing part is not sent */
        up->filling = NULL;
        up->next_number--;
        up->stats.parts_started--;
    }
    /* the caller's heartbeat goes on while the last parts and the Complete are on the wire */
    while (s3u_busy(up))
        if (s3_upload_wait(up, -1, 0, S3_TICK_MS, err) < 0 || run_tick(up, err) < 0)
            return -1;
    if (complete_upload(up, err) < 0)
        return s3u_fail_sticky(up, err, err);
    up->finished = true;
    eq_info(up->ctx, "multipart upload completed: %u parts, %llu bytes, %u retries", up->stats.parts_done,
            (unsigned long long)up->stats.bytes_sent, up->stats.retries);
    return 0;
}

int s3_upload_abort(s3_upload *up, eq_err *err)
{
    eq_err e;
    int arc, rc = 0;
    if (!up)
        return 0;
    for (int i = 0; i < up->npool; i++) {
        part *p = &up->pool[i];
        if (p->on_multi) {
            curl_multi_remove_handle(up->multi, p->req.easy);
            p->on_multi = false;
        }
        p->state = PART_FREE;
    }
    up->filling = NULL;
    up->sending = 0;
    if (!up->aborted && up->created && !up->finished) {
        /* best effort, a short retry; no tick: the caller is stopping */
        sigv4_kv q[] = {{"uploadId", up->upload_id}};
        s3_req_spec spec = {.op = "AbortMultipartUpload", .method = "DELETE", .key = up->key, .query = q,
                            .nquery = 1, .out_fd = -1, .max_attempts = S3_ABORT_ATTEMPTS};
        s3_request r;
        eq_err_clear(&e);
        s3_request_init(&r);
        arc = s3_request_perform(up->client, &r, &spec, &e);
        s3_request_cleanup(&r);
        if (arc < 0 && e.code != EQ_ERR_NOT_FOUND) {
            eq_warn(up->ctx, "abort failed: %s", e.msg);
            if (err)
                *err = e;
            rc = -1;
        } else {
            eq_info(up->ctx, "multipart upload aborted");
        }
    }
    up->aborted = true;
    return rc;
}
