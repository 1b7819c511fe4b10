#!/usr/bin/env bash
# mail_multipart.sh - the mails as a mail client reads them (Python's email
# parser): multipart/alternative with a text part and an HTML part, the same
# download link in both (and the link works); templates from
# EXPORTQ_MAIL_TEMPLATES with EXPORTQ_PRODUCT_NAME, values HTML-escaped; the
# failure mail too; Message-ID in the sender's domain, unique per job AND
# installation (two databases' job 1 never share one).
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
t=$(tmpdir)
export EXPORTQ_S3_PREFIX="it-mailmp-$$-$(date +%s)/"
PY=/usr/bin/python3

setup_db() {  # setup_db NAME: a fresh, migrated database with two kinds
  use_fresh_db "$1"
  psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || fail "setup"
CREATE SCHEMA app;
CREATE FUNCTION app.mm(params jsonb) RETURNS TABLE (n int, s text)
  LANGUAGE sql STABLE AS 'SELECT g, ''row '' || g FROM generate_series(1, 3) g';
CREATE FUNCTION app.mm_fail(params jsonb) RETURNS TABLE (n int)
  LANGUAGE sql STABLE AS 'SELECT 1 / 0';
SELECT exportq.define_kind('mm', 'app.mm', 'Q3 <report> & "notes".csv');
SELECT exportq.define_kind('mm_fail', 'app.mm_fail');
SQL
}

mkdir -p "$t/tpl"
cat >"$t/tpl/success.html" <<'HTML'
<html><body><h1>{{product}}</h1><p>{{file}} ({{format}})</p><a class="btn" href="{{url}}">Get {{file}}</a></body></html>
HTML
export EXPORTQ_MAIL_TEMPLATES="$t/tpl" EXPORTQ_PRODUCT_NAME="Acme <Data> & Co"

setup_db "t_mailmp_a_$$"
inst_a=$(psql_q "SELECT id FROM exportq.installation")
[[ "$inst_a" =~ ^[0-9a-f]{32}$ ]] || fail "installation id made at migrate: '$inst_a'"
mail_ok="mm-ok-$$@example.test"; mail_bad="mm-bad-$$@example.test"
id_ok=$(psql_q "SELECT exportq.enqueue('mm', '{}', '$mail_ok', 'u1', 0, NULL, 'xlsx')")
id_bad=$(psql_q "SELECT exportq.enqueue('mm_fail', '{}', '$mail_bad', 'u1')")
EXPORTQ_MAX_ATTEMPTS=1 "$EXPORTQ_BIN" worker --drain 2>"$t/worker_a.log" || fail "worker: $(tail -5 "$t/worker_a.log")"
wait_for "[ -n \"\$(mail_for $mail_ok)\" ] && [ -n \"\$(mail_for $mail_bad)\" ]" 60 || fail "both mails arrive"

$PY - "$(mail_for "$mail_ok")" "$inst_a" "$id_ok" >"$t/link" <<'PY' || fail "the success mail"
import email, re, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
inst, job = sys.argv[2], sys.argv[3]
assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
parts = list(msg.iter_parts())
assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"], [p.get_content_type() for p in parts]
text, html = parts[0].get_content(), parts[1].get_content()
links_t = re.findall(r"https?://\S+", text)
links_h = re.findall(r'href="([^"]+)"', html)
assert links_t and links_h, (text, html)
url = links_t[0]
assert links_h[0].replace("&amp;", "&") == url, (links_h[0], url)
assert "<h1>Acme &lt;Data&gt; &amp; Co</h1>" in html, html       # the override, values escaped
assert "Q3__report_____notes_.xlsx (xlsx)" in html, html          # the object's (sanitised) name, .xlsx
assert "Q3__report_____notes_.xlsx" in text
assert "Acme <Data> & Co, job " + job in text                     # built-in text template, product name
mid = msg["Message-ID"]
assert mid == f"<export-{job}-success.{inst}@example.test>", mid  # EXPORTQ_SMTP_FROM is exports@example.test
print(url)
PY
code=$(curl -sS -o "$t/dl.xlsx" -w '%{http_code}' "$(cat "$t/link")")
assert_eq 200 "$code" "the mailed link downloads"
$PY -c "import openpyxl,sys; ws=openpyxl.load_workbook(sys.argv[1]).active; assert ws['B4'].value == 'row 3'" "$t/dl.xlsx" \
  || fail "the downloaded file is the xlsx"
ok "success mail: multipart/alternative, the link in both parts (escaped in HTML), template override, product name"

$PY - "$(mail_for "$mail_bad")" "$inst_a" "$id_bad" <<'PY' || fail "the failure mail"
import email, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
assert msg.get_content_type() == "multipart/alternative"
text = msg.get_body(preferencelist=("plain",)).get_content()
html = msg.get_body(preferencelist=("html",)).get_content()
assert "failed" in text and "failed" in html and sys.argv[3] in html
assert msg["Message-ID"] == f"<export-{sys.argv[3]}-failure.{sys.argv[2]}@example.test>", msg["Message-ID"]
PY
ok "failure mail: multipart too, Message-ID per job and installation"

# a second installation: its job ids start at 1 again, its Message-IDs differ
mid_of() {
  $PY -c "import email,sys; from email import policy; print(email.message_from_binary_file(open(sys.argv[1],'rb'), policy=policy.default)['Message-ID'])" "$1"
}
setup_db "t_mailmp_b_$$"
inst_b=$(psql_q "SELECT id FROM exportq.installation")
[ "$inst_a" != "$inst_b" ] || fail "two installations share an id"
mail_b="mm-b-$$@example.test"
id_b=$(psql_q "SELECT exportq.enqueue('mm', '{}', '$mail_b', 'u1')")
"$EXPORTQ_BIN" worker --drain 2>"$t/worker_b.log" || fail "worker b: $(tail -5 "$t/worker_b.log")"
wait_for "[ -n \"\$(mail_for $mail_b)\" ]" 60 || fail "mail b arrives"
assert_eq "$id_ok" "$id_b" "both installations' first job has the same id"
mid_a=$(mid_of "$(mail_for "$mail_ok")"); mid_b=$(mid_of "$(mail_for "$mail_b")")
[ "$mid_a" != "$mid_b" ] || fail "two installations' job $id_b mails share the Message-ID $mid_a"
ok "two installations: job $id_b has Message-IDs $mid_a and $mid_b"

# a template with an unknown placeholder stops the worker at start, naming the setting
echo '{{nope}}' >"$t/tpl/failure.txt"
set +e
out=$("$EXPORTQ_BIN" worker --drain 2>&1)
rc=$?
set -e
[ "$rc" != 0 ] || fail "a bad template was accepted"
assert_contains "$out" "EXPORTQ_MAIL_TEMPLATES" "the error names the setting"
ok "a bad template stops the worker at start-up"
