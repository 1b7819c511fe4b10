-- seed-test.sql - fixtures of the export-core integration tests
-- (tests/integration/stream_*.sh), run after sample-data.sql. Idempotent.
--
-- Owner 'tricky' gets the values a CSV writer and the formula guard must get
-- right; extra kinds expose the same function with other options; a function
-- that fails half-way tests that no partial output survives.

DELETE FROM app.activity WHERE user_id = 'tricky';
INSERT INTO app.activity (user_id, data) VALUES
 ('tricky', '{"updated":"2024-06-01T10:00:00.000Z","event":"comment","title":"plain text","amount":1.5,"tags":["a"]}'),
 ('tricky', '{"updated":"2024-06-01T09:00:00.000Z","event":"comment","title":"comma, inside","amount":-2,"tags":["a","b"]}'),
 ('tricky', '{"updated":"2024-06-01T08:00:00.000Z","event":"comment","title":"she said \"hi\"","amount":0}'),
 ('tricky', '{"updated":"2024-06-01T07:00:00.000Z","event":"comment","title":"line1\nline2"}'),
 ('tricky', '{"updated":"2024-06-01T06:00:00.000Z","event":"comment","title":"crlf\r\nline"}'),
 ('tricky', '{"updated":"2024-06-01T05:00:00.000Z","event":"comment","title":"Ünïcödé ☕ 東京 🚀"}'),
 ('tricky', '{"updated":"2024-06-01T04:00:00.000Z","event":"comment","title":"=1+2"}'),
 ('tricky', '{"updated":"2024-06-01T03:00:00.000Z","event":"comment","title":"=HYPERLINK(\"http://x\",\"y\")"}'),
 ('tricky', '{"updated":"2024-06-01T02:00:00.000Z","event":"comment","title":"+33 1 23 45"}'),
 ('tricky', '{"updated":"2024-06-01T01:00:00.000Z","event":"comment","title":"-minus"}'),
 ('tricky', '{"updated":"2024-05-31T23:00:00.000Z","event":"comment","title":"@at, with comma"}'),
 ('tricky', '{"updated":"2024-05-31T22:00:00.000Z","event":"comment","title":"\ttab"}'),
 ('tricky', '{"updated":"2024-05-31T21:00:00.000Z","event":"comment","title":"\rcarriage"}'),
 ('tricky', '{"updated":"2024-05-31T20:00:00.000Z","event":"comment","title":""}'),
 ('tricky', '{"updated":"2024-05-31T19:00:00.000Z","event":"comment","title":null,"amount":null}'),
 ('tricky', '{"updated":"2024-05-31T18:00:00.000Z"}'),
 ('tricky', '{"updated":"2024-05-31T17:00:00.000Z","event":"comment","title":"\\."}'),
 ('tricky', '{"updated":"2024-05-31T16:00:00.000Z","event":"comment","title":"back\\slash \\N"}'),
 ('tricky', '{"updated":"2024-05-31T15:00:00.000Z","event":"comment","title":"a=b, not a formula","tags":[]}'),
 ('tricky', '{"updated":"2024-05-31T14:00:00.000Z","event":"x''); DROP TABLE app.activity; --","title":"quote'' mark"}');

SELECT exportq.define_kind('user_activity_raw', 'app.export_user_activity', 'activity.csv', '{}');
SELECT exportq.define_kind('user_activity_gz', 'app.export_user_activity', 'activity.csv',
                           '{"gzip": true, "bom": true}');
SELECT exportq.define_kind('user_activity_noheader', 'app.export_user_activity', NULL,
                           '{"header": false}');

-- 100000 rows, the 50001st divides by zero: fails after streaming 50000 rows.
CREATE OR REPLACE FUNCTION app.fail_midway(params jsonb) RETURNS TABLE (i integer, x integer)
LANGUAGE sql STABLE AS $$
    SELECT g, 100 / (g - 50001) FROM generate_series(1, 100000) AS g
$$;
SELECT exportq.define_kind('fail_midway', 'app.fail_midway');
