#!/usr/bin/python3
"""pages_browser.py - the browser half of tests/integration/pages_*.sh: drives
Debian's headless Chromium (tests/harness/cdp.py) against the real `exportq
serve` and checks, as a person would see it, what the shell half set up.

    pages_browser.py admin  URL ADMIN_TOKEN OUTDIR IDS_JSON
    pages_browser.py status URL OUTDIR ...

Exit 77 when chromium or python3-websocket is missing (the test skips), 1 on
a failed check (the message says which), 0 when all passed. Database state is
read with psql (the environment of tests/harness/lib.sh).
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import cdp  # noqa: E402


def ok(msg):
    print("ok - " + msg, flush=True)


def fail(msg):
    print("not ok - " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def psql(sql):
    return subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", os.environ["EXPORTQ_DATABASE_URL"],
                           "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def state_of(job):
    return psql("SELECT state FROM exportq.jobs WHERE id = %d" % int(job))


def wait_state(job, want, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if state_of(job) == want:
            return
        time.sleep(0.2)
    fail("job %s: state %s, expected %s" % (job, state_of(job), want))


def no_csp_errors(page, what):
    errs = [e for e in page.console_errors() if "Content Security Policy" in e or "Refused" in e]
    check(not errs, "%s: no CSP violation (%s)" % (what, errs))


def admin(url, token, outdir, ids):
    with cdp.Browser(outdir) as b:
        p = b.page()
        status, headers = p.goto(url + "/admin")
        check(status == 401, "GET /admin without a session: 401 (got %s)" % status)
        check(p.eval("!!document.querySelector('form#login input[type=password]')"), "the login form is shown")
        p.eval("document.querySelector('#token').value = 'not-the-admin-token-at-all'")
        p.click("#login button")
        p.wait("document.readyState === 'complete' && !!document.querySelector('#flash')", 20)
        check(p.eval("!document.querySelector('#admin')"), "a wrong token does not open the dashboard")
        ok("the login form refuses a wrong token")

        p.eval("document.querySelector('#token').value = %s" % json.dumps(token))
        p.click("#login button")
        p.wait("!!document.querySelector('main#admin')", 20)
        cookie = p.call("Network.getCookies", {"urls": [url + "/admin"]})["cookies"]
        check(len(cookie) == 1 and cookie[0]["httpOnly"] and cookie[0]["sameSite"] == "Strict",
              "the session cookie is HttpOnly and SameSite=Strict (%s)" % cookie)
        check(p.eval("document.cookie") == "", "scripts cannot read the session cookie")
        ok("logged in with the admin token; the session cookie is HttpOnly, SameSite=Strict")

        def row(table, job):
            return p.eval("!!document.querySelector('#%s tr[data-job=\"%s\"]')" % (table, job))

        check(row("running", ids["running"]), "the running job is listed under Running")
        worker = p.eval("document.querySelector('#running tr[data-job=\"%s\"]').textContent" % ids["running"])
        check(ids["worker"] in worker, "the running job shows its worker (%r)" % worker)
        check(p.eval("!!document.querySelector('#running tr[data-job=\"%s\"] progress')" % ids["running"]),
              "the running job has a progress bar")
        check(row("queued", ids["queued"]), "the queued job is listed under Queued")
        check(row("failed", ids["failed"]), "the failed job is listed under Recent failures")
        err = p.eval("document.querySelector('#failed tr[data-job=\"%s\"] .err').textContent" % ids["failed"])
        check(len(err) > 0 and err != "(no message)", "the failure shows its error (%r)" % err)
        check(row("succeeded", ids["succeeded"]), "the succeeded job is listed")
        owners = p.eval("[...document.querySelectorAll('tr[data-job] td:nth-child(3)')].map(e => e.textContent)")
        check("u1" in owners and "u2" in owners, "jobs of every owner are listed (%s)" % owners)
        charts = p.eval("document.querySelectorAll('#charts svg').length")
        check(charts == 2, "two server-rendered SVG charts (%s)" % charts)
        bars = p.eval("document.querySelectorAll('#charts svg rect.bar').length")
        check(bars >= 1, "the throughput chart has a bar for the jobs finished this hour (%s)" % bars)
        check(p.eval("document.scripts.length") == 0, "the dashboard has no script at all")
        no_csp_errors(p, "/admin")
        p.screenshot(os.path.join(outdir, "admin.png"))
        ok("the dashboard lists running (worker, progress), queued, failed (error) and succeeded jobs of "
           "every owner, with two SVG charts; screenshot admin.png")

        # retry the failed job
        p.click('#failed tr[data-job="%s"] button[data-action=retry]' % ids["failed"])
        p.wait("!!document.querySelector('#flash') && location.search.includes('done=retry')", 20)
        wait_state(ids["failed"], "queued")
        check(row("queued", ids["failed"]), "the retried job is listed as queued")
        ok("Retry puts the failed job back in the queue")

        # cancel the queued one and the running one
        p.click('#queued tr[data-job="%s"] button[data-action=cancel]' % ids["queued"])
        p.wait("location.search.includes('done=cancel')", 20)
        wait_state(ids["queued"], "cancelled")
        p.click('#running tr[data-job="%s"] button[data-action=cancel]' % ids["running"])
        p.wait("location.search.includes('done=cancel&id=%s')" % ids["running"], 20)
        wait_state(ids["running"], "cancelled")
        ok("Cancel stops a queued and a running job")

        # revoke the succeeded one
        p.click('#succeeded tr[data-job="%s"] button[data-action=revoke]' % ids["succeeded"])
        p.wait("location.search.includes('done=revoke')", 20)
        wait_state(ids["succeeded"], "expired")
        ok("Revoke expires the succeeded job")
        p.screenshot(os.path.join(outdir, "admin-after.png"))

        # a forged form (no CSRF token) from the same browser changes nothing: the held job
        # (queued, due tomorrow) would be cancelled if the POST were accepted
        check(state_of(ids["held"]) == "queued", "the held job is queued")
        p.eval("(() => { const f = document.createElement('form'); f.method = 'post';"
               " f.action = '/admin/exports/%s/cancel'; document.body.appendChild(f); f.submit(); })()"
               % ids["held"])
        p.wait("location.search.includes('fail=csrf')", 20)
        check(state_of(ids["held"]) == "queued", "a POST without the CSRF token does nothing")
        ok("a POST without the CSRF token is refused")

        p.click("nav form button")  # log out
        p.wait("!!document.querySelector('form#login')", 20)
        check(p.call("Network.getCookies", {"urls": [url + "/admin"]})["cookies"] == [], "logging out ends the session")
        ok("log out clears the session")


def main():
    if len(sys.argv) < 2:
        fail("usage: pages_browser.py admin|status ...")
    try:
        if sys.argv[1] == "admin":
            admin(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
        elif sys.argv[1] == "status":
            status(*sys.argv[2:8])
        else:
            fail("unknown scenario " + sys.argv[1])
    except cdp.Missing as e:
        print("# SKIP: %s" % e)
        sys.exit(77)
    except cdp.CDPError as e:
        fail(str(e))


def downloaded(b, timeout=60):
    """The path of the next download that completes (Browser.downloadProgress)."""
    begin = b.wait_event("Browser.downloadWillBegin", timeout)
    b.wait_event("Browser.downloadProgress", timeout,
                 lambda p: p.get("guid") == begin["guid"] and p.get("state") == "completed")
    return os.path.join(b.downloads, begin["suggestedFilename"])


def status(url, outdir, run_url, expected_csv, enqueue_cmd, worker_cmd):
    """run_url: the status_url of a queued job that worker_cmd (started here)
    runs, slowly; expected_csv: psql's COPY of it; enqueue_cmd prints the
    status_url of another job, cancelled from its page."""
    with cdp.Browser(outdir) as b:
        p = b.page()
        st, headers = p.goto(run_url)
        check(st == 200, "the status page answers 200 (%s)" % st)
        csp = {k.lower(): v for k, v in headers.items()}.get("content-security-policy", "")
        check("script-src 'sha256-" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp,
              "a strict CSP with the script allowed by hash (%s)" % csp)
        check(p.eval("document.querySelector('#export').dataset.state") == "queued", "the page starts queued")
        check(p.eval("document.querySelector('#export').dataset.position") == "1", "data-position is 1")
        check(p.eval("!document.querySelector('#export').hasAttribute('data-eta')"),
              "data-eta is absent while unknown (no history)")
        check(p.eval("!!document.querySelector('progress#bar')"), "a <progress> bar")
        check(p.eval("document.querySelector('a[data-download]').hidden"), "no download button while queued")
        check(p.eval("!document.querySelector('#cancel').hidden"), "a cancel button while queued")
        check(p.eval("[...document.querySelectorAll('noscript')].some(n => n.textContent.includes('refresh'))"),
              "a <noscript> meta refresh for readers without script")
        p.eval("window.__loaded = true; window.__states = [document.querySelector('#export').dataset.state];"
               "window.__shot = null; new MutationObserver(() => { const s = document.querySelector('#export')"
               ".dataset.state; if (s !== window.__states[window.__states.length - 1]) window.__states.push(s); })"
               ".observe(document.querySelector('#export'), {attributes: true});")
        p.screenshot(os.path.join(outdir, "status-queued.png"))
        ok("queued: data-state, data-position, no data-eta, progress, hidden download, cancel, noscript refresh, CSP")

        worker = subprocess.Popen(worker_cmd, shell=True, stdout=open(os.path.join(outdir, "worker.log"), "w"),
                                  stderr=subprocess.STDOUT)
        try:
            p.wait("document.querySelector('#export').dataset.state === 'running'", 60)
            p.wait("Number(document.querySelector('#export').dataset.percent) > 0", 30)
            p.screenshot(os.path.join(outdir, "status-running.png"))
            p.wait("document.querySelector('#export').dataset.state === 'succeeded'", 120)
        finally:
            worker.terminate()
            worker.wait()
        states = p.eval("window.__states")
        check(p.eval("window.__loaded === true"), "the page was never reloaded")
        check(states == ["queued", "running", "succeeded"], "data-state went queued -> running -> succeeded (%s)" % states)
        attrs = p.eval("Object.assign({}, document.querySelector('#export').dataset)")
        check(attrs.get("percent") == "100" and "position" not in attrs and attrs.get("eta") == "0",
              "succeeded: data-percent 100, data-eta 0, no data-position (%s)" % attrs)
        check(p.eval("document.querySelector('progress#bar').value") == 100, "the bar is full")
        check(p.eval("document.querySelector('#cancel').hidden"), "no cancel button once succeeded")
        href = p.eval("document.querySelector('a[data-download]').getAttribute('href')")
        check(href and href.startswith("/v1/exports/") and "/download?t=" in href,
              "the download button is the stable download link (%s)" % href)
        p.screenshot(os.path.join(outdir, "status-succeeded.png"))
        p.call("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        bg = p.eval("getComputedStyle(document.body).backgroundColor")
        check(bg != "rgb(255, 255, 255)", "dark mode: a dark background (%s)" % bg)
        p.screenshot(os.path.join(outdir, "status-succeeded-dark.png"))
        p.call("Emulation.setEmulatedMedia", {"features": []})
        ok("the page went queued -> running -> succeeded by itself, without a reload (%s)" % states)

        p.click("a[data-download]")
        path = downloaded(b)
        got = open(path, "rb").read()
        want = open(expected_csv, "rb").read()
        check(got == want, "the downloaded file (%d bytes) equals psql's COPY (%d bytes)" % (len(got), len(want)))
        ok("the download button yields %d bytes equal to psql's COPY" % len(got))
        no_csp_errors(p, "the status page")

        # cancel from the page
        cancel_url = subprocess.run(enqueue_cmd, shell=True, check=True, capture_output=True,
                                    text=True).stdout.strip()
        q = b.page()
        q.goto(cancel_url)
        state = q.eval("document.querySelector('#export').dataset.state")
        check(state in ("queued", "running"), "the second job is cancellable (%s)" % state)
        q.eval("window.__loaded = true")
        q.click("#cancel button")
        q.wait("document.querySelector('#export').dataset.state === 'cancelled'", 30)
        check(q.eval("window.__loaded === true"), "cancelled in place, without a reload")
        check(q.eval("document.querySelector('#cancel').hidden"), "no cancel button once cancelled")
        job = int(cancel_url.split("/exports/")[1].split("?")[0])
        wait_state(job, "cancelled")
        q.screenshot(os.path.join(outdir, "status-cancelled.png"))
        ok("the cancel button cancels the job in place")

        # tampered tokens show nothing
        base, token = run_url.split("?t=")
        bad = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        other = cancel_url.split("?t=")[1]
        for u, what in ((base + "?t=" + bad, "a tampered token"), (base + "?t=" + other, "another job's token"),
                        (base, "no token"), (base + "?t=" + token[:20], "a truncated token")):
            st, _ = q.goto(u)
            check(st == 404, "%s: 404 (%s)" % (what, st))
            attrs = q.eval("Object.assign({}, document.querySelector('#export').dataset)")
            text = q.eval("document.body.innerText")
            check(attrs == {}, "%s: no data attribute (%s)" % (what, attrs))
            check("slow" not in text and str(job) not in text and "queued" not in text,
                  "%s: nothing about the job (%r)" % (what, text))
        q.screenshot(os.path.join(outdir, "status-404.png"))
        ok("a tampered, foreign, truncated or missing token shows a 404 page with nothing about the job")


if __name__ == "__main__":
    main()
