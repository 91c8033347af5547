SET search_path = diff;
-- sluice differential corpus: run directly against PostgreSQL 15 and through
-- the proxy with `psql -X -a -v ON_ERROR_STOP=0 -f differential.sql`; the two
-- captured outputs (stdout+stderr) must be byte-identical.  Everything here is
-- deterministic: no now(), random(), PIDs, OIDs, ctid or catalog lookups.
-- Every multi-row result has a total ORDER BY.
SET TimeZone = 'UTC';
SET client_encoding = 'UTF8';
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET client_min_messages = notice;
SET standard_conforming_strings = on;
\set VERBOSITY default
\set SHOW_CONTEXT errors
\pset null '(null)'

-- ===================================================================
-- Settings
-- ===================================================================
SHOW search_path;
SHOW TimeZone;
SHOW DateStyle;
SHOW IntervalStyle;
SHOW bytea_output;
SHOW standard_conforming_strings;
SHOW client_encoding;
SHOW integer_datetimes;

-- ===================================================================
-- Empty queries and multi-statement lines
-- ===================================================================
;
-- only a comment on this line, then a bare semicolon
;
/* block comment only */ ;
SELECT 1; SELECT 2;
SELECT 1 AS first \; SELECT 2 AS second \; SELECT 'three' AS third;
SELECT 'a' AS x; SELECT NULL AS y; SELECT '' AS z;

-- ===================================================================
-- Scalar types
-- ===================================================================
SELECT 32767::int2 AS i2max, (-32768)::int2 AS i2min, 2147483647::int4 AS i4max,
       (-2147483648)::int4 AS i4min, 9223372036854775807::int8 AS i8max,
       (-9223372036854775808)::int8 AS i8min;
SELECT 32767::int2 + 1::int2;
SELECT 2147483647::int4 + 1;
SELECT 12345678901234567890123456789012345678901234567890.123456789012345678901234567890::numeric AS bignum,
       1::numeric / 3 AS third, 2::numeric ^ 200 AS pow, factorial(40) AS fact;
SELECT sqrt(2::numeric(200,150)) AS sqrt2, round(pi()::numeric, 10) AS pi10,
       'NaN'::numeric AS nan_num, -0.000000000000000000000000000001::numeric AS tiny;
SELECT 'NaN'::float8 AS nan8, 'Infinity'::float8 AS inf8, '-Infinity'::float8 AS ninf8,
       'NaN'::float4 AS nan4, 'inf'::float4 AS inf4, 0.1::float8 + 0.2::float8 AS pt3;
SELECT 1e308::float8 * 10 AS overflow_check;
SELECT 3.4028235e38::float4 AS f4max, 1.17549435e-38::float4 AS f4min, 1.0e-320::float8 AS denorm,
       -0.0::float8 AS negzero, 1/3::float4 AS f4third, 1/3::float8 AS f8third;
SELECT true AS t, false AS f, NULL::bool AS n, 'yes'::bool AS yes, 'off'::bool AS off,
       true AND NULL AS and_null, false AND NULL AS and_false, true OR NULL AS or_true;
SELECT 'ab'::char(5) || '|' AS char_pad, length('ab'::char(5)) AS char_len,
       octet_length('ab'::char(5)) AS char_octets, 'abcdef'::varchar(3) AS vc_trunc,
       'text with ''quotes'' and "double"' AS quoted, E'tab\there\nnewline' AS escapes;
SELECT '\xdeadbeef'::bytea AS hex, convert_to('héllo', 'UTF8') AS utf8_bytes,
       decode('AAECAwQF/w==', 'base64') AS b64, ''::bytea AS empty_bytea,
       E'\\000\\001\\377'::bytea AS escaped, sha256('abc'::bytea) AS sha;
SELECT '2024-02-29'::date AS leap, date '2024-01-31' + interval '1 month' AS plus_month,
       'infinity'::date AS inf_date, '4713-01-01 BC'::date AS bc_date,
       date '2024-03-01' - date '2023-03-01' AS day_diff;
SELECT '23:59:59.999999'::time AS t, '12:34:56+05:30'::timetz AS ttz,
       '2024-02-29 12:34:56.789'::timestamp AS ts,
       '2024-02-29 12:34:56.789+05:30'::timestamptz AS tstz,
       'epoch'::timestamptz AS epoch, '-infinity'::timestamp AS ninf_ts;
SELECT '1 year 2 months 3 days 04:05:06.789'::interval AS iv,
       interval '-1 day +02:00' AS mixed, '1000000 seconds'::interval AS secs,
       justify_interval('40 days 30 hours'::interval) AS justified,
       extract(epoch FROM timestamptz '2000-01-01 00:00:00+00') AS epoch_2000,
       date_trunc('month', timestamp '2024-07-19 10:11:12') AS trunc;
SELECT to_char(timestamp '2024-07-04 15:16:17', 'YYYY-MM-DD HH24:MI:SS Dy') AS fmt,
       to_char(1234567.891, '9,999,999.99') AS numfmt,
       make_date(2023, 12, 25) AS xmas, age(timestamp '2024-01-01', timestamp '2000-06-15') AS age;
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
       'A0EEBC999C0B4EF8BB6D6BB9BD380A11'::uuid AS u_upper_nodash;
SELECT '192.168.1.5/24'::inet AS inet4, '10.0.0.0/8'::cidr AS cidr4, '::1'::inet AS inet6,
       '2001:db8::/32'::cidr AS cidr6, host('192.168.1.5/24'::inet) AS host,
       network('192.168.1.5/24'::inet) AS net, masklen('10.0.0.0/8'::cidr) AS mlen,
       inet '192.168.1.5' << cidr '192.168.1.0/24' AS contained,
       '08:00:2b:01:02:03'::macaddr AS mac;
SELECT int4range(1, 10) AS r1, '[2024-01-01,2024-02-01)'::daterange AS dr,
       numrange(1.5, 2.5, '[]') AS nr, int4range(5, 5) AS empty_r,
       int4range(1, 10) @> 5 AS contains5, int4range(1, 5) && int4range(4, 8) AS overlaps,
       int4range(1, 5) * int4range(3, 8) AS intersection, upper(int4range(NULL, 3)) AS ub,
       '{[1,3), [5,8), [7,10)}'::int4multirange AS multirange,
       tstzrange('2024-01-01 00:00+00', '2024-01-02 00:00+00') AS tstzr;
SELECT point(1.5, 2) AS pt, '((0,0),(1,1))'::box AS bx, circle(point(0, 0), 2) AS circ,
       'fat & rat'::tsquery AS tsq, to_tsvector('simple', 'The quick brown fox') AS tsv;

-- ===================================================================
-- NULLs and empty strings
-- ===================================================================
SELECT NULL;
SELECT NULL::int AS n_int, NULL::text AS n_text, NULL::jsonb AS n_jsonb, NULL::int[] AS n_arr;
SELECT '' IS NULL AS empty_is_null, NULL::text IS NULL AS null_is_null, length('') AS len_empty,
       length(NULL::text) AS len_null, coalesce(NULL, '', 'x') AS coalesced,
       nullif('', '') AS nullif_empty, '' = '' AS empty_eq, NULL = NULL AS null_eq,
       NULL IS NOT DISTINCT FROM NULL AS null_indistinct, concat('a', NULL, 'b') AS concat_null,
       'a' || NULL AS pipe_null;

-- ===================================================================
-- Unicode
-- ===================================================================
SELECT '日本語テキスト' AS cjk, '😀👍🏽👨‍👩‍👧‍👦' AS emoji, U&'e\0301 n\0303 a\030a' AS combining,
       'مرحبا بالعالم' AS arabic, 'שלום עולם' AS hebrew, 'Ελληνικά' AS greek,
       U&'\0041\00e9\+01F600' AS uescape;
SELECT length('😀👍🏽') AS emoji_chars, octet_length('😀👍🏽') AS emoji_bytes,
       length(U&'e\0301') AS comb_len, normalize(U&'e\0301', NFC) = U&'\00e9' AS nfc_eq,
       upper('straße ÿ') AS upper_de, reverse('abc日本') AS rev, left('日本語テキスト', 3) AS lft;
CREATE TABLE "表" ("名前" text PRIMARY KEY, "値" int);
INSERT INTO "表" VALUES ('一', 1), ('二', 2), ('😀', NULL), ('', 0);
SELECT * FROM "表" ORDER BY "名前" COLLATE "C";

-- ===================================================================
-- DDL: types, domains, sequences, tables, constraints, indexes
-- ===================================================================
DROP TABLE IF EXISTS nonexistent_table;
DROP VIEW IF EXISTS nonexistent_view;
DROP FUNCTION IF EXISTS nonexistent_fn(int);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
ALTER TYPE mood ADD VALUE 'ecstatic' AFTER 'happy';
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE SEQUENCE ticket_seq START 100 INCREMENT 5;
SELECT nextval('ticket_seq') AS n1, nextval('ticket_seq') AS n2, currval('ticket_seq') AS cur;
SELECT setval('ticket_seq', 1000), nextval('ticket_seq');
ALTER SEQUENCE ticket_seq RESTART WITH 7;
SELECT nextval('ticket_seq');

CREATE TABLE accounts (
    id          serial PRIMARY KEY,
    email       varchar(64) NOT NULL UNIQUE,
    name        text,
    balance     numeric(20, 4) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    mood        mood,
    tags        text[],
    profile     jsonb,
    created     timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);
CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  int NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    qty         posint NOT NULL,
    price       numeric(12, 2) NOT NULL,
    total       numeric(14, 2) GENERATED ALWAYS AS (qty * price) STORED,
    placed      date NOT NULL,
    note        text
);
CREATE INDEX orders_account_idx ON orders (account_id, placed);
CREATE UNIQUE INDEX accounts_lower_email_idx ON accounts (lower(email));
CREATE INDEX accounts_profile_gin ON accounts USING gin (profile);
ALTER TABLE accounts ADD COLUMN phone text;
ALTER TABLE accounts RENAME COLUMN phone TO phone_number;
ALTER TABLE accounts ALTER COLUMN phone_number SET DEFAULT 'n/a';
ALTER TABLE accounts DROP COLUMN phone_number;
ALTER TABLE orders ADD CONSTRAINT orders_price_positive CHECK (price > 0);
ALTER TABLE orders ALTER COLUMN note TYPE varchar(200);

-- ===================================================================
-- DML with RETURNING, upsert
-- ===================================================================
INSERT INTO accounts (email, name, balance, mood, tags, profile) VALUES
    ('alice@example.com', 'Alice', 100.5, 'happy', ARRAY['admin', 'dev'], '{"age": 30, "langs": ["rust", "sql"]}'),
    ('bob@example.com', 'Bob', 0, 'sad', ARRAY[]::text[], '{"age": 41}'),
    ('carol@example.com', NULL, 2500.1234, NULL, NULL, NULL),
    ('dave@example.com', '', 42, 'ok', ARRAY[NULL, 'x'], '{"age": null, "nested": {"k": [1, {"z": true}]}}'),
    ('erin@example.com', 'Érin 日本', 7.77, 'ecstatic', ARRAY['a b', 'q"t', ''], '[]')
RETURNING id, email, balance, mood;
INSERT INTO accounts (email, name) VALUES ('frank@example.com', 'Frank') RETURNING *;
INSERT INTO accounts (email, name) VALUES ('alice@example.com', 'Dup Alice');
INSERT INTO accounts (email, name) VALUES ('ALICE@example.com', 'Upper Alice');
INSERT INTO accounts (email, name, balance) VALUES ('neg@example.com', 'Neg', -1);
INSERT INTO accounts (email, name) VALUES (NULL, 'No Email');
INSERT INTO accounts (email, mood) VALUES ('m@example.com', 'furious');
INSERT INTO accounts (email, name) VALUES ('this-email-address-is-far-too-long-for-the-varchar-64-column@example.com', 'Long');
INSERT INTO accounts (email, name) VALUES ('alice@example.com', 'Alice Again')
    ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name || ' (updated)'
    RETURNING id, email, name;
INSERT INTO accounts (email, name) VALUES ('bob@example.com', 'Ignored')
    ON CONFLICT (email) DO NOTHING RETURNING id;
INSERT INTO accounts (email, name) VALUES ('gina@example.com', 'Gina'), ('bob@example.com', 'Bob2')
    ON CONFLICT (email) DO NOTHING RETURNING id, email;

INSERT INTO orders (account_id, qty, price, placed, note) VALUES
    (1, 2, 10.00, '2024-01-05', 'first'),
    (1, 1, 99.99, '2024-01-20', NULL),
    (2, 5, 3.50, '2024-02-01', ''),
    (3, 10, 1.25, '2024-02-14', 'valentine ❤'),
    (3, 3, 20.00, '2024-03-01', NULL),
    (4, 7, 2.00, '2024-03-15', 'bulk'),
    (5, 1, 1000.00, '2024-03-31', 'big'),
    (1, 4, 5.00, '2024-04-01', NULL)
RETURNING id, account_id, total;
INSERT INTO orders (account_id, qty, price, placed) VALUES (1, 0, 1.00, '2024-05-01');
INSERT INTO orders (account_id, qty, price, placed) VALUES (999, 1, 1.00, '2024-05-01');
INSERT INTO orders (account_id, qty, price, placed) VALUES (1, 1, -5.00, '2024-05-01');
INSERT INTO orders (id, account_id, qty, price, placed) VALUES (50, 1, 1, 1.00, '2024-05-01');
UPDATE accounts SET balance = balance + 10 WHERE email = 'bob@example.com' RETURNING id, balance;
UPDATE accounts SET balance = balance - 1000 WHERE id = 2;
UPDATE orders SET note = coalesce(note, '(none)') || '!' WHERE account_id = 1 AND placed < '2024-02-01' RETURNING id, note;
DELETE FROM orders WHERE id = 8 RETURNING id, account_id, qty, price, total;
DELETE FROM orders WHERE id = 12345 RETURNING id;
UPDATE accounts SET name = 'nobody' WHERE false;

-- ===================================================================
-- Queries: joins, aggregates, grouping, subqueries, set ops, ordering
-- ===================================================================
SELECT a.id, a.email, a.name, a.balance, a.mood, a.tags, a.profile, a.created
FROM accounts a ORDER BY a.id;
SELECT a.name, o.id AS order_id, o.total
FROM accounts a JOIN orders o ON o.account_id = a.id
ORDER BY a.id, o.id;
SELECT a.id, a.name, o.id AS order_id
FROM accounts a LEFT JOIN orders o ON o.account_id = a.id
ORDER BY a.id, o.id NULLS FIRST;
SELECT a.id AS aid, o.id AS oid
FROM (SELECT id FROM accounts WHERE id <= 3) a
FULL JOIN (SELECT id, account_id FROM orders WHERE id >= 4) o ON o.account_id = a.id
ORDER BY a.id NULLS LAST, o.id NULLS LAST;
SELECT x.n, y.c FROM (VALUES (1), (2)) x(n) CROSS JOIN (VALUES ('a'), ('b')) y(c) ORDER BY 1, 2;
SELECT a.id, last_order.placed
FROM accounts a
CROSS JOIN LATERAL (SELECT placed FROM orders o WHERE o.account_id = a.id ORDER BY placed DESC LIMIT 1) last_order
ORDER BY a.id;
SELECT account_id, count(*) AS n, sum(total) AS revenue, avg(price) AS avg_price,
       min(placed) AS first, max(placed) AS last,
       string_agg(coalesce(note, '-'), ',' ORDER BY id) AS notes,
       array_agg(qty ORDER BY id) AS qtys
FROM orders GROUP BY account_id HAVING count(*) >= 1 ORDER BY account_id;
SELECT account_id, sum(total) FROM orders GROUP BY account_id HAVING sum(total) > 50 ORDER BY 2 DESC, 1;
SELECT date_trunc('month', placed)::date AS month, account_id, sum(qty) AS qty
FROM orders GROUP BY ROLLUP (1, 2) ORDER BY 1 NULLS LAST, 2 NULLS LAST;
SELECT mood, (balance > 50) AS rich, grouping(mood, (balance > 50)) AS grp, count(*)
FROM accounts GROUP BY CUBE (mood, (balance > 50)) ORDER BY 3, 1 NULLS FIRST, 2 NULLS FIRST;
SELECT count(*) AS all_rows, count(name) AS named, count(*) FILTER (WHERE balance > 10) AS over10,
       bool_and(balance >= 0) AS all_nonneg, bool_or(mood = 'sad') AS any_sad,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY balance) AS median,
       mode() WITHIN GROUP (ORDER BY mood) AS modal_mood
FROM accounts;
SELECT DISTINCT ON (account_id) account_id, id, total FROM orders ORDER BY account_id, total DESC, id;
SELECT id, email FROM accounts WHERE id IN (SELECT account_id FROM orders WHERE qty > 2) ORDER BY id;
SELECT id, email FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.account_id = a.id) ORDER BY id;
SELECT id, (SELECT count(*) FROM orders o WHERE o.account_id = a.id) AS n_orders,
       balance > ALL (SELECT total FROM orders) AS richer_than_all
FROM accounts a ORDER BY id;
SELECT 1 AS v UNION SELECT 2 UNION SELECT 1 ORDER BY 1;
SELECT 1 AS v UNION ALL SELECT 2 UNION ALL SELECT 1 ORDER BY 1;
SELECT account_id FROM orders INTERSECT SELECT id FROM accounts WHERE id < 4 ORDER BY 1;
SELECT id FROM accounts EXCEPT SELECT account_id FROM orders ORDER BY 1;
SELECT name FROM accounts ORDER BY name NULLS FIRST, id;
SELECT name FROM accounts ORDER BY name DESC NULLS LAST, id;
SELECT id, email FROM accounts ORDER BY id LIMIT 2 OFFSET 1;
SELECT id FROM accounts ORDER BY id OFFSET 100;
SELECT g FROM generate_series(1, 10) g ORDER BY g LIMIT 0;
SELECT g % 3 AS bucket FROM generate_series(1, 10) g ORDER BY g % 3 FETCH FIRST 2 ROWS WITH TIES;
SELECT CASE WHEN balance = 0 THEN 'zero' WHEN balance < 50 THEN 'low' ELSE 'high' END AS tier,
       count(*) FROM accounts GROUP BY 1 ORDER BY 1;
SELECT greatest(1, NULL, 3) AS g, least('b', 'a', NULL) AS l, 7 % 3 AS m, -7 / 2 AS idiv,
       7.0 / 2 AS ndiv, abs(-5), power(2, 10), 5 & 3 AS band, 1 << 4 AS shl;

-- ===================================================================
-- Window functions
-- ===================================================================
SELECT id, account_id, total,
       row_number() OVER (ORDER BY total DESC, id) AS rn,
       rank() OVER (PARTITION BY account_id ORDER BY total DESC) AS rnk,
       dense_rank() OVER (ORDER BY account_id) AS drnk,
       sum(total) OVER (PARTITION BY account_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,
       lag(total) OVER (ORDER BY id) AS prev, lead(total, 2, 0) OVER (ORDER BY id) AS next2
FROM orders ORDER BY id;
SELECT g, ntile(3) OVER w AS tile, first_value(g) OVER w AS fv, last_value(g) OVER w AS lv,
       percent_rank() OVER w AS pr, cume_dist() OVER w AS cd,
       avg(g) OVER (ORDER BY g ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS moving_avg
FROM generate_series(1, 7) g
WINDOW w AS (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
ORDER BY g;

-- ===================================================================
-- CTEs: plain, recursive, data-modifying
-- ===================================================================
WITH spend AS (SELECT account_id, sum(total) AS s FROM orders GROUP BY account_id)
SELECT a.email, s.s FROM accounts a JOIN spend s ON s.account_id = a.id ORDER BY s.s DESC, a.id;
WITH RECURSIVE fib(n, a, b) AS (
    SELECT 1, 0::numeric, 1::numeric
    UNION ALL
    SELECT n + 1, b, a + b FROM fib WHERE n < 100
)
SELECT n, a FROM fib WHERE n % 20 = 0 ORDER BY n;
CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree (id), label text);
INSERT INTO tree VALUES (1, NULL, 'root'), (2, 1, 'a'), (3, 1, 'b'), (4, 2, 'a.1'), (5, 4, 'a.1.x'), (6, 3, 'b.1');
WITH RECURSIVE walk AS (
    SELECT id, label, 0 AS depth, label AS path FROM tree WHERE parent IS NULL
    UNION ALL
    SELECT t.id, t.label, w.depth + 1, w.path || '/' || t.label FROM tree t JOIN walk w ON t.parent = w.id
)
SELECT repeat('  ', depth) || label AS indented, depth, path FROM walk ORDER BY path;
CREATE TABLE archived_orders (LIKE orders INCLUDING DEFAULTS);
ALTER TABLE archived_orders ALTER COLUMN total DROP EXPRESSION IF EXISTS;
WITH moved AS (
    DELETE FROM orders WHERE placed < '2024-02-01' RETURNING id, account_id, qty, price, total, placed, note
), ins AS (
    INSERT INTO archived_orders (id, account_id, qty, price, total, placed, note)
    SELECT id, account_id, qty, price, total, placed, note FROM moved RETURNING id, total
)
SELECT id, total FROM ins ORDER BY id;
WITH upd AS (UPDATE accounts SET balance = balance * 2 WHERE mood = 'happy' RETURNING id, balance)
SELECT * FROM upd ORDER BY id;
SELECT (SELECT count(*) FROM orders) AS live, (SELECT count(*) FROM archived_orders) AS archived;

-- ===================================================================
-- JSON / JSONB
-- ===================================================================
SELECT '{"b": 1, "a": [1, 2, null], "b": 2}'::json AS j, '{"b": 1, "a": [1, 2, null], "b": 2}'::jsonb AS jb;
SELECT profile -> 'langs' AS langs, profile ->> 'age' AS age, profile #> '{nested,k,1}' AS deep,
       profile @> '{"age": 30}' AS is30, jsonb_typeof(profile) AS typ
FROM accounts ORDER BY id;
SELECT jsonb_pretty('{"name": "日本", "list": [1, 2.5, true, null, {"x": "y"}], "empty": {}}'::jsonb);
SELECT jsonb_set('{"a": {"b": 1}}', '{a,c}', '"new"') AS set, '{"a":1}'::jsonb || '{"b":[2]}' AS concat,
       '{"a":1,"b":2}'::jsonb - 'a' AS minus, jsonb_build_object('k', NULL, 'u', '😀') AS built,
       json_build_array(1, 'two', NULL, 3.0) AS arr, to_jsonb(ARRAY[[1,2],[3,4]]) AS arr2d;
SELECT key, value FROM jsonb_each('{"z": 1, "a": [true], "m": null}') ORDER BY key;
SELECT jsonb_path_query('{"items": [{"p": 5}, {"p": 15}, {"p": 25}]}', '$.items[*] ? (@.p > 10).p') AS p;
SELECT jsonb_agg(jsonb_build_object('id', id, 'email', email) ORDER BY id) FROM accounts WHERE id <= 3;
SELECT jsonb_object_agg(email, balance ORDER BY email) FROM accounts WHERE balance > 10;
SELECT '{bad json'::jsonb;
SELECT '1e400'::jsonb AS huge_num, '"\u00e9\ud83d\ude00"'::jsonb AS escaped_unicode;

-- ===================================================================
-- Arrays
-- ===================================================================
SELECT ARRAY[[1, 2], [3, NULL]] AS multidim, '{{a,b},{c,NULL}}'::text[] AS text2d,
       '[0:2]={10,20,30}'::int[] AS lower_bound, ARRAY['', NULL, 'a b', 'q"t', 'back\slash', 'NULL'] AS tricky,
       array_dims(ARRAY[[1,2,3],[4,5,6]]) AS dims, ARRAY[1,2,3] || 4 AS appended,
       array_position(ARRAY['x','y','z'], 'y') AS pos, cardinality(ARRAY[[1,2],[3,4]]) AS card;
SELECT (ARRAY[10, 20, 30])[2] AS elem, (ARRAY[10, 20, 30])[2:3] AS slice, (ARRAY[10, 20])[5] AS oob,
       ARRAY[1,2] @> ARRAY[2] AS contains, ARRAY[1,2] && ARRAY[3] AS overlap, '{}'::int[] AS empty;
SELECT * FROM unnest(ARRAY['x', NULL, 'z']) WITH ORDINALITY AS u(val, idx) ORDER BY idx;
SELECT ARRAY[[1,2],[3]];
SELECT array_to_string(ARRAY[1, NULL, 3], ',', '*') AS joined, string_to_array('a,,b', ',') AS split;
SELECT ARRAY[ROW(1, 'a')::pair, ROW(2, NULL)::pair] AS composite_arr, ROW(3, 'x y')::pair AS comp;

-- ===================================================================
-- Views, materialized views, functions, triggers
-- ===================================================================
CREATE VIEW account_totals AS
    SELECT a.id, a.email, coalesce(sum(o.total), 0) AS spent
    FROM accounts a LEFT JOIN orders o ON o.account_id = a.id GROUP BY a.id, a.email;
SELECT * FROM account_totals ORDER BY id;
CREATE OR REPLACE VIEW account_totals AS
    SELECT a.id, a.email, coalesce(sum(o.total), 0) AS spent, count(o.id) AS n
    FROM accounts a LEFT JOIN orders o ON o.account_id = a.id GROUP BY a.id, a.email;
SELECT * FROM account_totals WHERE n > 0 ORDER BY spent DESC, id;
CREATE MATERIALIZED VIEW mood_counts AS SELECT mood, count(*) AS n FROM accounts GROUP BY mood;
REFRESH MATERIALIZED VIEW mood_counts;
SELECT * FROM mood_counts ORDER BY mood NULLS LAST;
CREATE FUNCTION add_ints(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;
SELECT add_ints(2, 3), add_ints(NULL, 1);
CREATE FUNCTION classify(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text := '';
    i int;
BEGIN
    IF n IS NULL THEN
        RETURN 'null';
    END IF;
    FOR i IN 1..n LOOP
        result := result || CASE WHEN i % 2 = 0 THEN 'e' ELSE 'o' END;
    END LOOP;
    RETURN result;
END;
$$;
SELECT classify(5) AS c5, classify(0) AS c0, classify(NULL) AS cnull;
CREATE FUNCTION orders_for(acct int) RETURNS TABLE (order_id bigint, amount numeric) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT id, total FROM orders WHERE account_id = acct ORDER BY id;
END;
$$;
SELECT * FROM orders_for(3);
CREATE FUNCTION divmod(a int, b int, OUT q int, OUT r int) LANGUAGE plpgsql AS $$
BEGIN
    q := a / b;
    r := a % b;
END;
$$;
SELECT * FROM divmod(17, 5);
SELECT divmod(1, 0);
CREATE FUNCTION safe_div(a numeric, b numeric) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    RETURN a / b;
EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'safe_div: division by zero (a=%), returning NULL', a;
    RETURN NULL;
END;
$$;
SELECT safe_div(10, 4) AS ok, safe_div(1, 0) AS caught;
CREATE FUNCTION withdraw(acct int, amount numeric) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    bal numeric;
BEGIN
    SELECT balance INTO bal FROM accounts WHERE id = acct;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % not found', acct USING ERRCODE = 'no_data_found';
    END IF;
    IF bal < amount THEN
        RAISE EXCEPTION 'insufficient funds in account %', acct
            USING DETAIL = format('balance %s is below requested %s', bal, amount),
                  HINT = 'Deposit more money or request a smaller amount.';
    END IF;
    UPDATE accounts SET balance = balance - amount WHERE id = acct RETURNING balance INTO bal;
    RETURN bal;
END;
$$;
SELECT withdraw(3, 100);
SELECT withdraw(2, 1000000);
SELECT withdraw(424242, 1);
CREATE TABLE audit_log (seq serial PRIMARY KEY, op text, row_email text, old_balance numeric, new_balance numeric);
CREATE FUNCTION log_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (op, row_email, old_balance, new_balance)
    VALUES (TG_OP, NEW.email, CASE WHEN TG_OP = 'UPDATE' THEN OLD.balance END, NEW.balance);
    IF NEW.balance > 100000 THEN
        RAISE WARNING 'large balance % for %', NEW.balance, NEW.email;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER accounts_balance_trg AFTER INSERT OR UPDATE OF balance ON accounts
    FOR EACH ROW EXECUTE FUNCTION log_balance();
UPDATE accounts SET balance = 500000 WHERE id = 4;
INSERT INTO accounts (email, name, balance) VALUES ('hank@example.com', 'Hank', 12);
SELECT seq, op, row_email, old_balance, new_balance FROM audit_log ORDER BY seq;
DROP TRIGGER accounts_balance_trg ON accounts;

-- ===================================================================
-- Notices from DO blocks
-- ===================================================================
DO $$
BEGIN
    RAISE NOTICE 'plain notice';
    RAISE NOTICE 'notice with params: % and % (%)', 42, 'text', NULL;
    RAISE WARNING 'a warning with unicode: 日本 😀';
    RAISE INFO 'an info message';
    RAISE DEBUG 'debug is below client_min_messages and must not appear';
    RAISE NOTICE 'notice with detail' USING DETAIL = 'the detail', HINT = 'the hint';
END;
$$;
DO $$
DECLARE
    n int;
BEGIN
    SELECT count(*) INTO n FROM accounts;
    RAISE NOTICE 'accounts has % rows', n;
    FOR n IN SELECT id FROM accounts WHERE id <= 3 ORDER BY id LOOP
        RAISE NOTICE 'visiting %', n;
    END LOOP;
END;
$$;
DO $$
DECLARE
    msg text;
    st text;
BEGIN
    PERFORM 1 / 0;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, st = RETURNED_SQLSTATE;
    RAISE NOTICE 'caught % (%)', msg, st;
END;
$$;
DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING ERRCODE = 'check_violation', DETAIL = 'do-block detail', HINT = 'do-block hint'; END; $$;
DO $$
BEGIN
    EXECUTE 'CREATE TABLE wide (' ||
        (SELECT string_agg(format('c%s int DEFAULT %s', g, g), ', ' ORDER BY g) FROM generate_series(1, 60) g) || ')';
    RAISE NOTICE 'wide table created';
END;
$$;
INSERT INTO wide DEFAULT VALUES;
INSERT INTO wide (c1, c30, c60) VALUES (NULL, NULL, -60);
SELECT * FROM wide ORDER BY c60;
SELECT repeat('w', 3000) AS wide_a, repeat('日', 1000) AS wide_b, repeat('é', 500) AS wide_c;

-- ===================================================================
-- Errors (psql keeps going with ON_ERROR_STOP=0)
-- ===================================================================
SELEC 1;
SELECT 1 +;
SELECT 1 / 0;
SELECT 1.5 / 0.0;
SELECT * FROM no_such_table;
SELECT no_such_column FROM accounts;
SELECT 'abc'::int;
SELECT '2024-13-45'::date;
SELECT 'not-a-uuid'::uuid;
SELECT '999.999.1.1'::inet;
SELECT 5::posint, (-5)::posint;
SELECT no_such_function(1);
SELECT 'x' + 1;
SELECT 'abcd'::varchar(3), CAST('abcd' AS char(2));
INSERT INTO tree VALUES (7, 99, 'orphan');
CREATE TABLE accounts (id int);
SELECT "unterminated;
";
SELECT $$dollar quoted ; with ; semicolons$$ AS dq, 'it''s' AS sq;

-- ===================================================================
-- Transactions
-- ===================================================================
BEGIN;
INSERT INTO tree VALUES (10, 1, 'tx');
SAVEPOINT sp1;
INSERT INTO tree VALUES (10, 1, 'dup in tx');
ROLLBACK TO SAVEPOINT sp1;
INSERT INTO tree VALUES (11, 1, 'after savepoint');
RELEASE SAVEPOINT sp1;
COMMIT;
SELECT id, label FROM tree WHERE id >= 10 ORDER BY id;
BEGIN;
DELETE FROM tree WHERE id >= 10;
SELECT count(*) FROM tree;
ROLLBACK;
SELECT count(*) FROM tree;
BEGIN;
SELECT 1 / 0;
SELECT 'this fails because the transaction is aborted';
INSERT INTO tree VALUES (12, 1, 'never');
ROLLBACK;
BEGIN;
INSERT INTO tree VALUES (13, 1, 'lost');
SELECT * FROM missing_relation;
COMMIT;
SELECT count(*) FROM tree WHERE id = 13;
COMMIT;
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY;
SHOW transaction_isolation;
SHOW transaction_read_only;
INSERT INTO tree VALUES (14, 1, 'read only');
ROLLBACK;
BEGIN;
SET LOCAL TimeZone = 'America/New_York';
SELECT '2024-07-01 12:00:00+00'::timestamptz AS ny_time;
COMMIT;
SELECT '2024-07-01 12:00:00+00'::timestamptz AS utc_again;
START TRANSACTION;
SAVEPOINT a;
SAVEPOINT b;
SELECT 'nested';
ROLLBACK TO a;
ROLLBACK TO b;
ROLLBACK;

-- ===================================================================
-- Prepared statements
-- ===================================================================
PREPARE acct_by_id(int) AS SELECT id, email, balance FROM accounts WHERE id = $1;
EXECUTE acct_by_id(1);
EXECUTE acct_by_id(3);
EXECUTE acct_by_id(NULL);
PREPARE ins_tree(int, text) AS INSERT INTO tree (id, parent, label) VALUES ($1, 1, $2) RETURNING *;
EXECUTE ins_tree(20, 'prepared');
EXECUTE ins_tree(20, 'prepared again');
EXECUTE acct_by_id('not a number');
PREPARE acct_by_id(int) AS SELECT 1;
DEALLOCATE acct_by_id;
EXECUTE acct_by_id(1);
DEALLOCATE ins_tree;
DEALLOCATE no_such_prepared;

-- ===================================================================
-- psql variables and \gset
-- ===================================================================
SELECT count(*) AS n_accounts, max(id) AS max_id, 'gset ok' AS tag FROM accounts \gset
\echo n_accounts=:n_accounts max_id=:max_id tag=:tag
SELECT :n_accounts * 2 AS doubled, :'tag' AS tag_literal;
SELECT email FROM accounts WHERE id = :max_id;
\set ident accounts
SELECT count(*) FROM :ident;

-- ===================================================================
-- COPY
-- ===================================================================
CREATE TABLE copy_t (id int PRIMARY KEY, name text, score numeric, seen date, tags text[]);
COPY copy_t FROM STDIN;
1	alpha	1.5	2024-01-01	{a,b}
2	\N	\N	\N	\N
3	tab\there	-0.25	2024-12-31	{}
4	日本語 😀	1e3	1999-01-01	{"x y",NULL}
\.
COPY copy_t FROM STDIN WITH (FORMAT csv, HEADER true);
id,name,score,seen,tags
5,"comma, quoted",7,2020-02-29,"{q}"
6,,0,,
7,"",1,,"{}"
\.
COPY copy_t FROM STDIN WITH (FORMAT csv);
8,ok,1,2024-01-01,{}
9,bad,not_a_number,2024-01-01,{}
\.
COPY copy_t FROM STDIN;
1	duplicate	0	2024-01-01	{}
\.
SELECT id, name, name IS NULL AS name_null, score, seen, tags FROM copy_t ORDER BY id;
COPY (SELECT * FROM copy_t ORDER BY id) TO STDOUT;
COPY (SELECT id, name, score FROM copy_t ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true, NULL 'NULL');
COPY (SELECT id, label FROM tree ORDER BY id) TO STDOUT WITH (DELIMITER '|');
COPY no_such_copy_table TO STDOUT;

-- ===================================================================
-- Output formatting (client-side, same bytes from the server)
-- ===================================================================
\x on
SELECT id, email, tags, profile FROM accounts WHERE id IN (1, 4) ORDER BY id;
\x off
\pset format unaligned
SELECT id, label FROM tree WHERE id <= 3 ORDER BY id;
\pset format aligned
SELECT E'multi\nline\nvalue' AS ml, 'single' AS s;
EXPLAIN (COSTS OFF) SELECT g FROM generate_series(1, 3) g ORDER BY g DESC;
EXPLAIN (COSTS OFF) SELECT 1 AS one;

-- ===================================================================
-- Large values (> 1 MiB)
-- ===================================================================
SELECT length(repeat('x', 2000000)) AS len_2m;
SELECT md5(v), length(v) FROM (SELECT repeat('abcdefghij', 150000) AS v) s;
CREATE TABLE big (id int PRIMARY KEY, payload text, blob bytea);
INSERT INTO big VALUES (1, repeat('0123456789abcdef', 80000), convert_to(repeat('ÿ', 700000), 'UTF8')) RETURNING id, length(payload), octet_length(blob);
INSERT INTO big SELECT 2, string_agg(to_char(g, 'FM0000000'), ',' ORDER BY g), NULL FROM generate_series(1, 200000) g RETURNING id, length(payload);
SELECT id, md5(payload) AS md5_payload, length(payload) AS len, md5(blob) AS md5_blob, octet_length(blob) AS blob_len FROM big ORDER BY id;
UPDATE big SET payload = payload || payload WHERE id = 1 RETURNING id, length(payload), md5(payload);
SELECT repeat('z', 1200000);
-- a > 1 MiB value sent from the client in the query text (Query message > 2 MiB)
SELECT repeat('q', 1100000) || 'END' AS bigq \gset
SELECT md5(:'bigq') AS md5_client_text, length(:'bigq') AS len_client_text;
INSERT INTO big VALUES (3, :'bigq', NULL) RETURNING id, md5(payload), length(payload);
PREPARE big_lookup(text) AS SELECT id, length($1) AS arg_len FROM big WHERE payload = $1;
EXECUTE big_lookup(:'bigq');
DEALLOCATE big_lookup;
SELECT id, substr(payload, 1000000, 40) AS middle FROM big ORDER BY id;

-- ===================================================================
-- Cleanup DDL
-- ===================================================================
DROP VIEW account_totals;
DROP MATERIALIZED VIEW mood_counts;
DROP INDEX accounts_profile_gin;
DROP FUNCTION classify(int);
DROP TABLE accounts;
DROP TABLE accounts CASCADE;
DROP TYPE mood;
DROP TABLE orders;
DROP DOMAIN posint;
DROP TABLE archived_orders;
DROP DOMAIN posint;
DROP SEQUENCE ticket_seq;
DROP TABLE IF EXISTS wide, nonexistent_table;
SELECT 'done' AS status;
