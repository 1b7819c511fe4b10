#!/usr/bin/env bash
# The rooms of the source tree and the one-way arrows between them (issue 12):
#   cli -> http/worker -> export -> s3/mail/webhook/queue/schema -> common
# An #include of another folder must point to a lower level; siblings on one
# level (http and worker; s3, mail, webhook, queue and schema) do not include each other.
# Also: README.md and docs/architecture.md name every production folder.
. "$EXPORTQ_SOURCE_DIR/tests/harness/lib.sh"
cd "$EXPORTQ_SOURCE_DIR" || fail "no source dir"
declare -A level=([common]=1 [schema]=2 [queue]=2 [s3]=2 [mail]=2 [webhook]=2 [export]=3 [worker]=4 [http]=4 [cli]=5)
n=0
for f in */*.c */*.h; do
  from=${f%%/*}
  [ -n "${level[$from]:-}" ] || continue
  while IFS= read -r to; do
    [ "$to" = "$from" ] && continue
    [ -n "${level[$to]:-}" ] || continue
    n=$((n + 1))
    [ "${level[$to]}" -lt "${level[$from]}" ] || fail "$f includes $to/: the arrow goes $from -> $to, against cli -> http/worker -> export -> s3/mail/webhook/queue -> common"
  done < <(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z0-9_]*\)/.*|\1|p' "$f")
done
[ "$n" -ge 50 ] || fail "only $n cross-folder includes found: the scan is broken"
ok "$n cross-folder includes, every one downward"
for d in "${!level[@]}"; do
  grep -q "\`$d/\`" README.md || fail "README.md's layout table lacks $d/"
  grep -q "\`$d/\`" docs/architecture.md || fail "docs/architecture.md lacks $d/"
done
ok "README.md and docs/architecture.md name every folder"
