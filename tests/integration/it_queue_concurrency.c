/* it_queue_concurrency.c - the queue under concurrent processes (fork, one
 * connection each, released together by a pipe barrier), against the real
 * PostgreSQL: 1,000 jobs claimed by 6 workers exactly once each, the owner
 * cap under concurrent claimers, one job for racing dedupe keys, and
 * `exportq migrate` run by 4 processes at once on a fresh database. */
#include "tests/integration/it_queue_db.h"

#include <fcntl.h>
#include <sys/wait.h>

#include "queue/queue.h"

#define NJOBS 1000
#define NPROCS 6

static tdb db;

static int setup(void **state)
{
    (void)state;
    tdb_create(&db, "queue_conc");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tdb_drop(&db);
    return 0;
}

typedef struct barrier {
    int fd[2];
} barrier;

static void barrier_init(barrier *b) { assert_int_equal(pipe(b->fd), 0); }

/* child: block until the parent opens the gate */
static void barrier_wait(barrier *b)
{
    char c;
    close(b->fd[1]);
    while (read(b->fd[0], &c, 1) < 0) {
    }
    close(b->fd[0]);
}

/* parent: open the gate for every child at once */
static void barrier_open(barrier *b)
{
    close(b->fd[0]);
    close(b->fd[1]);
}

/* waits for every child; asserts each exited 0 */
static void wait_children(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d failed (status %d)\n", i, st);
            fail();
        }
    }
}

/* Child of test_claim_each_job_once: claims and completes until the queue is
 * empty, writing each claimed id (8 bytes, atomic) to out. */
static int claim_loop(const char *worker, int out)
{
    PGconn *c = tdb_connect(&db);
    eq_err err;
    for (;;) {
        queue_job job = {0};
        bool claimed = false;
        if (queue_claim(c, worker, 30, 0, &job, &claimed, &err) < 0) {
            fprintf(stderr, "%s: claim: %s\n", worker, err.msg);
            return 1;
        }
        if (!claimed)
            break;
        int64_t id = job.id;
        if (write(out, &id, sizeof id) != (ssize_t)sizeof id)
            return 1;
        if (queue_heartbeat(c, &job, 30, 1, 10, &err) < 0 ||
            queue_complete(c, &job, "k", 1, 10, 3600, 600, &err) < 0) {
            fprintf(stderr, "%s: job %lld: %s\n", worker, job.id, err.msg);
            return 1;
        }
        queue_job_cleanup(&job);
    }
    PQfinish(c);
    return 0;
}

static void test_claim_each_job_once(void **state)
{
    pid_t pids[NPROCS];
    barrier b;
    int out[2];
    static int claims[NJOBS + 1];
    long long first, total = 0;
    (void)state;
    PQclear(tq(db.conn, "DELETE FROM exportq.jobs"));
    PQclear(tq(db.conn, "SELECT exportq.enqueue('rows', jsonb_build_object('i', g)) FROM generate_series(1, %d) g", NJOBS));
    first = tq_ll(db.conn, "SELECT min(id) FROM exportq.jobs");
    assert_int_equal(tq_ll(db.conn, "SELECT max(id) - min(id) + 1 FROM exportq.jobs"), NJOBS);
    barrier_init(&b);
    assert_int_equal(pipe(out), 0);
    for (int i = 0; i < NPROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char worker[32];
            close(out[0]);
            snprintf(worker, sizeof worker, "worker-%d", i);
            barrier_wait(&b);
            _exit(claim_loop(worker, out[1]));
        }
    }
    close(out[1]);
    barrier_open(&b);
    /* read while they run: 8,000 bytes would fit a pipe, but do not rely on it */
    int64_t id;
    ssize_t r;
    while ((r = read(out[0], &id, sizeof id)) == (ssize_t)sizeof id) {
        assert_true(id >= first && id < first + NJOBS);
        claims[id - first + 1]++;
        total++;
    }
    assert_int_equal(r, 0);
    close(out[0]);
    wait_children(pids, NPROCS);
    assert_int_equal(total, NJOBS);
    for (int i = 1; i <= NJOBS; i++)
        if (claims[i] != 1) {
            fprintf(stderr, "job %lld was claimed %d times\n", first + i - 1, claims[i]);
            fail();
        }
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs WHERE state = 'succeeded' AND attempts = 1"), NJOBS);
}

/* Child of test_owner_cap_concurrent: claims up to 5 times, never finishing. */
static int cap_claimer(const char *worker)
{
    PGconn *c = tdb_connect(&db);
    eq_err err;
    for (int i = 0; i < 5; i++) {
        queue_job job = {0};
        bool claimed = false;
        if (queue_claim(c, worker, 300, 2, &job, &claimed, &err) < 0) {
            fprintf(stderr, "%s: claim: %s\n", worker, err.msg);
            return 1;
        }
        queue_job_cleanup(&job);
    }
    PQfinish(c);
    return 0;
}

static void test_owner_cap_concurrent(void **state)
{
    pid_t pids[NPROCS];
    barrier b;
    (void)state;
    PQclear(tq(db.conn, "DELETE FROM exportq.jobs"));
    PQclear(tq(db.conn, "SELECT exportq.enqueue('rows', owner => 'hog', priority => 10) FROM generate_series(1, 40)"));
    PQclear(tq(db.conn, "SELECT exportq.enqueue('rows', owner => 'o' || (g %% 10)) FROM generate_series(1, 40) g"));
    barrier_init(&b);
    for (int i = 0; i < NPROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char worker[32];
            snprintf(worker, sizeof worker, "capper-%d", i);
            barrier_wait(&b);
            _exit(cap_claimer(worker));
        }
    }
    barrier_open(&b);
    wait_children(pids, NPROCS);
    /* no owner ever above the cap, whatever the interleaving */
    assert_int_equal(tq_ll(db.conn, "SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM exportq.jobs "
                                    "WHERE state = 'running' GROUP BY owner) x") <= 2, 1);
    assert_true(tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs WHERE state = 'running'") > 0);
    /* claiming on until nothing is claimable fills every owner to exactly the cap */
    for (;;) {
        queue_job job = {0};
        bool claimed = false;
        eq_err err;
        assert_int_equal(queue_claim(db.conn, "filler", 300, 2, &job, &claimed, &err), 0);
        queue_job_cleanup(&job);
        if (!claimed)
            break;
    }
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs WHERE state = 'running' AND owner = 'hog'"), 2);
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM (SELECT owner FROM exportq.jobs WHERE state = 'running' "
                                    "GROUP BY owner HAVING count(*) = 2) x"), 11);
}

/* Child of test_dedupe_race: enqueues with the same key 20 times. */
static int dedupe_child(int out)
{
    PGconn *c = tdb_connect(&db);
    eq_err err;
    for (int i = 0; i < 20; i++) {
        long long id = 0;
        queue_enqueue_req req = {.kind = "rows", .owner = "racer", .dedupe_key = "same-key"};
        if (queue_enqueue(c, &req, &id, &err) < 0) {
            fprintf(stderr, "enqueue: %s\n", err.msg);
            return 1;
        }
        int64_t v = id;
        if (write(out, &v, sizeof v) != (ssize_t)sizeof v)
            return 1;
    }
    PQfinish(c);
    return 0;
}

static void test_dedupe_race(void **state)
{
    pid_t pids[NPROCS];
    barrier b;
    int out[2];
    int64_t id, seen = 0;
    int n = 0;
    (void)state;
    PQclear(tq(db.conn, "DELETE FROM exportq.jobs"));
    barrier_init(&b);
    assert_int_equal(pipe(out), 0);
    for (int i = 0; i < NPROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(out[0]);
            barrier_wait(&b);
            _exit(dedupe_child(out[1]));
        }
    }
    close(out[1]);
    barrier_open(&b);
    while (read(out[0], &id, sizeof id) == (ssize_t)sizeof id) {
        if (seen == 0)
            seen = id;
        assert_int_equal(id, seen);
        n++;
    }
    close(out[0]);
    wait_children(pids, NPROCS);
    assert_int_equal(n, NPROCS * 20);
    assert_int_equal(tq_ll(db.conn, "SELECT count(*) FROM exportq.jobs"), 1);
}

/* Runs `exportq migrate` on url; its stdout goes to out_path. */
static pid_t spawn_migrate(const char *url, const char *out_path, barrier *b)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *bin = getenv("EXPORTQ_BIN");
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (!bin || fd < 0)
            _exit(3);
        dup2(fd, 1);
        close(fd);
        setenv("EXPORTQ_DATABASE_URL", url, 1);
        if (b)
            barrier_wait(b);
        execl(bin, bin, "migrate", (char *)NULL);
        _exit(4);
    }
    return pid;
}

static int count_lines(const char *path, const char *prefix)
{
    char line[512];
    int n = 0;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            n++;
    fclose(f);
    return n;
}

static void test_migrate_concurrently(void **state)
{
    tdb fresh;
    pid_t pids[4];
    char paths[4][128];
    barrier b;
    int applied = 0;
    (void)state;
    tdb_create_empty(&fresh, "queue_mig");
    barrier_init(&b);
    for (int i = 0; i < 4; i++) {
        snprintf(paths[i], sizeof paths[i], "/tmp/%s.%d.out", fresh.name, i);
        pids[i] = spawn_migrate(fresh.url, paths[i], &b);
    }
    barrier_open(&b);
    wait_children(pids, 4);
    for (int i = 0; i < 4; i++)
        applied += count_lines(paths[i], "applied ");
    /* each migration applied by exactly one of the four */
    assert_int_equal(applied, (int)schema_migrations_count);
    assert_int_equal(tq_ll(fresh.conn, "SELECT count(*) FROM exportq.schema_migrations"), (long long)schema_migrations_count);
    /* again: nothing to do */
    pids[0] = spawn_migrate(fresh.url, paths[0], NULL);
    wait_children(pids, 1);
    assert_int_equal(count_lines(paths[0], "applied "), 0);
    assert_int_equal(count_lines(paths[0], "schema is up to date"), 1);
    /* and the schema works */
    PQclear(tq(fresh.conn, "CREATE FUNCTION public.f(p jsonb) RETURNS SETOF int LANGUAGE sql AS $$ SELECT 1 $$"));
    PQclear(tq(fresh.conn, "SELECT exportq.define_kind('k', 'public.f')"));
    assert_true(tq_ll(fresh.conn, "SELECT exportq.enqueue('k')") > 0);
    for (int i = 0; i < 4; i++)
        unlink(paths[i]);
    tdb_drop(&fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_each_job_once),
        cmocka_unit_test(test_owner_cap_concurrent),
        cmocka_unit_test(test_dedupe_race),
        cmocka_unit_test(test_migrate_concurrently),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
