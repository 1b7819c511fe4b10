"""formats.py REF.jsonl TYPES.json FORMAT FILE [guard]

Reads an export back with an independent reader (csv, json, openpyxl) and
checks every value against to_jsonb() of the same rows (REF.jsonl, one object
per row, written by psql; for csv and tsv to_jsonb() of the row with every
column cast to text) and the columns' SQL types (TYPES.json, name -> type).
Exits non-zero with the first difference. Used by formats.sh.
"""
import csv
import datetime as dt
import decimal
import json
import re
import sys

ref_path, types_path, fmt, path = sys.argv[1:5]
guard = len(sys.argv) > 5 and sys.argv[5] == "guard"
D = decimal.Decimal
ref = [json.loads(l, parse_float=D) for l in open(ref_path, encoding="utf-8") if l.strip()]
types = json.load(open(types_path))
cols = list(types)


def fail(msg):
    sys.exit(f"{fmt}: {msg}")


NUM = re.compile(r"^[-+]([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def guarded(s):
    if s[:1] in ("=", "+", "-", "@", "\t", "\r") and not (len(s) <= 64 and NUM.match(s)):
        return "'" + s
    return s


if fmt in ("csv", "tsv"):
    rows = list(csv.reader(open(path, encoding="utf-8-sig", newline=""), delimiter="\t" if fmt == "tsv" else ","))
    if rows[0] != cols:
        fail(f"header {rows[0]} != {cols}")
    if len(rows) - 1 != len(ref):
        fail(f"{len(rows) - 1} rows, want {len(ref)}")
    for n, (row, want) in enumerate(zip(rows[1:], ref), 1):
        for c, cell in zip(cols, row):
            # csv/tsv hold PostgreSQL's text of each value: REF is to_jsonb()
            # of the row with every column cast to text (NULL stays null)
            exp = "" if want[c] is None else want[c]
            if guard:
                exp = guarded(exp)
            if cell != exp:
                fail(f"row {n} column {c}: {cell[:80]!r} != {exp[:80]!r}")
elif fmt == "jsonl":
    got = [json.loads(l, parse_float=D) for l in open(path, encoding="utf-8")]
    if got != ref:
        for n, (g, w) in enumerate(zip(got, ref), 1):
            if g != w:
                fail(f"row {n}: {str(g)[:200]} != {str(w)[:200]}")
        fail(f"{len(got)} rows, want {len(ref)}")
    for line in open(path, encoding="utf-8"):
        if not line.endswith("\n") or not line.startswith("{"):
            fail("one JSON object per line")
elif fmt == "xlsx":
    import openpyxl
    from openpyxl.utils.escape import unescape

    wb = openpyxl.load_workbook(path, read_only=True)
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows())
    head = rows[0]
    if [c.value for c in head] != cols:
        fail(f"header {[c.value for c in head]}")
    if not all(c.font.b for c in head):
        fail("the header is not bold")
    if len(rows) - 1 != len(ref):
        fail(f"{len(rows) - 1} rows, want {len(ref)}")
    for n, (row, want) in enumerate(zip(rows[1:], ref), 1):
        vals = [c.value for c in row] + [None] * (len(cols) - len(row))
        for c, cell in zip(cols, vals):
            v, typ = want[c], types[c]
            where = f"row {n} column {c} ({typ})"
            if isinstance(cell, str):
                cell = unescape(cell)  # OOXML writes CR as _x000D_ (ECMA-376 ST_Xstring)
            if typ in ("json", "jsonb") and cell == "null" and v is None:
                pass  # a JSON null (to_jsonb cannot tell it from SQL NULL): its text
            elif v is None or v == "":
                if cell is not None:
                    fail(f"{where}: {cell!r}, want an empty cell")
            elif typ in ("json", "jsonb"):
                if not isinstance(cell, str) or json.loads(cell, parse_float=D) != v:
                    fail(f"{where}: {cell!r} != {v!r}")
            elif isinstance(v, bool):
                if cell is not v:
                    fail(f"{where}: {cell!r} != {v}")
            elif typ in ("double precision", "real"):
                if isinstance(v, str):  # NaN, Infinity: text
                    if cell != v:
                        fail(f"{where}: {cell!r} != {v!r}")
                elif isinstance(cell, str) or cell is None or abs(D(repr(cell)) - D(v)) > abs(D(v)) * D("1e-15"):
                    fail(f"{where}: {cell!r}, want the number {v}")
            elif isinstance(v, (int, D)) and typ not in ("json", "jsonb"):
                txt = str(v).lstrip("-").replace(".", "").lstrip("0")
                if "." in str(v):
                    txt = txt.rstrip("0")
                exact = abs(v) <= 2**53 if typ in ("bigint", "integer", "smallint") else len(txt) <= 15
                if exact:
                    if isinstance(cell, str) or cell is None or abs(D(repr(cell)) - D(v)) > abs(D(v)) * D("1e-15"):
                        fail(f"{where}: {cell!r}, want the number {v}")
                elif cell != str(v):
                    fail(f"{where}: {cell!r}, want the exact text {v}")
            elif typ in ("date", "timestamp without time zone", "timestamp with time zone"):
                try:
                    when = dt.datetime.fromisoformat(v)
                except ValueError:
                    when = None  # infinity, BC: text
                if when and when.tzinfo:
                    when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
                if when and 1900 <= when.year <= 9999:
                    if not isinstance(cell, dt.datetime) or abs((cell - when).total_seconds()) > 0.001:
                        fail(f"{where}: {cell!r}, want the date {when}")
                elif not isinstance(cell, str):
                    fail(f"{where}: {cell!r}, want text for {v}")
            elif typ.endswith("[]"):  # PostgreSQL's array text, as csv has it (integer arrays here)
                if cell != "{" + ",".join(str(x) for x in v) + "}":
                    fail(f"{where}: {cell!r} != {v!r}")
            else:
                want_text = v if isinstance(v, str) else str(v)
                units = 0
                cut = ""
                for ch in want_text:  # Excel's 32,767 UTF-16 units
                    u = 2 if ord(ch) > 0xFFFF else 1
                    if units + u > 32767:
                        break
                    units += u
                    cut += ch
                if cell != cut:
                    fail(f"{where}: {str(cell)[:80]!r} != {cut[:80]!r}")
else:
    fail("unknown format")
print(f"ok {fmt}: {len(ref)} rows, {len(cols)} columns match to_jsonb()")
