SET search_path = diff;
-- psql client features through the proxy.  Run with:
--   psql -X -a -v ON_ERROR_STOP=1 -v copyfile=/tmp/xyz.csv -f psql_features.sql
-- `\copy` takes the rest of its line verbatim (no :'var' interpolation), so the
-- \copy commands are assembled in psql variables and then invoked as `:var`:
-- psql rescans an interpolated value, so it may contain a backslash command.
-- The file path never appears in the output.
SET TimeZone = 'UTC';
SET client_encoding = 'UTF8';
\pset null '(null)'

CREATE TABLE psql_copy_src (id int PRIMARY KEY, label text, amount numeric(10, 2), seen date);
INSERT INTO psql_copy_src
SELECT g,
       CASE WHEN g % 5 = 0 THEN NULL WHEN g = 7 THEN '' ELSE 'row ' || g || ', "q" ✓ 日本' END,
       g * 1.25,
       CASE WHEN g % 3 = 0 THEN NULL ELSE date '2024-01-01' + g END
FROM generate_series(1, 50) g;
CREATE TABLE psql_copy_dst (LIKE psql_copy_src INCLUDING ALL);

-- \copy out to the file named by -v copyfile=..., then back in
\set copy_out '\\copy psql_copy_src to ' :'copyfile' ' with (format csv, header)'
\set copy_in '\\copy psql_copy_dst from ' :'copyfile' ' with (format csv, header)'
:copy_out
:copy_in

-- multi-statement query line
SELECT count(*) AS src_rows FROM psql_copy_src; SELECT count(*) AS dst_rows FROM psql_copy_dst;

-- \gset and \echo
SELECT count(*) AS copied_rows, sum(amount) AS copied_sum, count(label) AS copied_labels FROM psql_copy_dst \gset
\echo copied_rows=:copied_rows copied_sum=:copied_sum copied_labels=:copied_labels

-- proof of the round trip: same count and sum, identical contents (NULLs and '' preserved)
SELECT count(*) AS n, sum(amount) AS total,
       count(*) FILTER (WHERE label IS NULL) AS null_labels,
       count(*) FILTER (WHERE label = '') AS empty_labels,
       NOT EXISTS (SELECT * FROM psql_copy_src EXCEPT ALL SELECT * FROM psql_copy_dst)
   AND NOT EXISTS (SELECT * FROM psql_copy_dst EXCEPT ALL SELECT * FROM psql_copy_src) AS identical
FROM psql_copy_dst;
