SET time_zone = '+00:00'; SET NAMES utf8mb4;
SET sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';
-- sluice MySQL/MariaDB differential corpus: run directly against MariaDB 10.11
-- and through the proxy with
--   mariadb --database=diff --force --batch --raw < mysql_differential.sql
--   mariadb --database=diff --force --table     < mysql_differential.sql
-- capturing stdout+stderr; the outputs must be byte-identical.  Everything is
-- deterministic: no NOW(), RAND(), UUID(), CONNECTION_ID(), host/port/version,
-- processlist or status counters.  Every multi-row result has a total ORDER BY.

-- ===================================================================
-- Session settings
-- ===================================================================
SELECT @@session.time_zone, @@session.sql_mode, @@session.character_set_client, @@session.collation_connection;
SELECT DATABASE();
SELECT 1; SELECT 2; SELECT 'three' AS third;
SELECT 1 AS a, 'b' AS b, NULL AS c, '' AS d;

-- ===================================================================
-- Integer types with min/max values
-- ===================================================================
CREATE TABLE ints (
  id INT NOT NULL PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED,
  si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED
) ENGINE=InnoDB;
INSERT INTO ints VALUES
  (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0),
  (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615),
  (3, 0, 1, -1, 1, -1, 1, -1, 1, -1, 1),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM ints ORDER BY id;
SELECT id, bi + 0, biu DIV 2, CAST(biu AS CHAR), -ti FROM ints ORDER BY id;
INSERT INTO ints (id, ti) VALUES (5, 128);
INSERT INTO ints (id, tiu) VALUES (5, -1);
INSERT INTO ints (id, biu) VALUES (5, 18446744073709551616);
SELECT 9223372036854775807 + 1;
SELECT CAST(18446744073709551615 AS UNSIGNED) + 1;
SELECT ~0, -9223372036854775807 - 1, 18446744073709551615 DIV 3;

-- ===================================================================
-- DECIMAL, FLOAT, DOUBLE, BIT
-- ===================================================================
CREATE TABLE nums (
  id INT PRIMARY KEY,
  d65 DECIMAL(65,30),
  d10 DECIMAL(10,2),
  f FLOAT,
  dbl DOUBLE,
  b1 BIT(1),
  b8 BIT(8),
  b64 BIT(64)
);
INSERT INTO nums VALUES
  (1, 99999999999999999999999999999999999.999999999999999999999999999999, 12345678.91, 3.40282e38, 1.7976931348623157e308, b'1', b'10101010', b'1111111111111111111111111111111111111111111111111111111111111111'),
  (2, -99999999999999999999999999999999999.999999999999999999999999999999, -12345678.91, -1.17549e-38, 2.2250738585072014e-308, b'0', b'00000000', b'0'),
  (3, 0.000000000000000000000000000001, 0.01, 0.1, 0.1, NULL, b'1', b'1000000000000000000000000000000000000000000000000000000000000000'),
  (4, 0, -0.00, -0.0, 1e-300, b'1', NULL, NULL),
  (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT id, d65, d10, f, dbl FROM nums ORDER BY id;
SELECT id, HEX(b1), HEX(b8), HEX(b64), b8 + 0, BIN(b8), b64 + 0 FROM nums ORDER BY id;
SELECT SUM(d10), AVG(d10), MIN(d65), MAX(d65), COUNT(*), COUNT(d10) FROM nums;
INSERT INTO nums (id, d10) VALUES (6, 123456789.12);
SELECT 0.1 + 0.2, 0.1e0 + 0.2e0, 1/3, 1e0/3, ROUND(2.5), ROUND(-2.5), ROUND(2.5e0), TRUNCATE(123.4567, 2);
SELECT 1e308 * 10;
SELECT CAST(1.23456789012345678901234567890 AS DECIMAL(65,30)), CAST(-0.5 AS DECIMAL(3,0)), 10 % 3, -10 % 3, MOD(10.5, 3);
SELECT POW(2, 64), SQRT(2), PI(), EXP(1), LN(10), LOG2(1024), SIGN(-3), ABS(-9223372036854775807);

-- ===================================================================
-- Date and time types
-- ===================================================================
CREATE TABLE dt (
  id INT PRIMARY KEY,
  d DATE,
  t TIME,
  t6 TIME(6),
  dt0 DATETIME,
  dt6 DATETIME(6),
  ts6 TIMESTAMP(6) NULL DEFAULT NULL,
  y YEAR
);
INSERT INTO dt VALUES
  (1, '2024-02-29', '13:14:15', '-838:59:59.000000', '2024-02-29 13:14:15', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.123456', 2024),
  (2, '1000-01-01', '-838:59:59', '838:59:59.000000', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', 1901),
  (3, '9999-12-31', '838:59:59', '00:00:00.000001', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', 2155),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, '2000-01-01', '00:00:00', '12:34:56.5', '2000-01-01 00:00:00', '2000-01-01 00:00:00.5', '2000-01-01 00:00:00.5', 0);
SELECT * FROM dt ORDER BY id;
SET time_zone = '+02:00';
SELECT id, ts6, dt6 FROM dt WHERE id IN (1, 3) ORDER BY id;
SET time_zone = '+00:00';
SELECT id, DATE_FORMAT(dt6, '%Y/%m/%d %H.%i.%s.%f'), DAYNAME(d), DAYOFYEAR(d), WEEK(d), UNIX_TIMESTAMP(ts6) FROM dt ORDER BY id;
SELECT DATE_ADD('2024-01-31', INTERVAL 1 MONTH), DATE_SUB('2024-03-01', INTERVAL 1 DAY), DATEDIFF('2024-12-25', '2024-01-01'), TIMEDIFF('23:00:00', '01:30:00.25');
SELECT FROM_UNIXTIME(0), FROM_UNIXTIME(2147483647.999999), TIMESTAMPDIFF(SECOND, '2024-01-01', '2024-01-02'), MAKEDATE(2024, 60), SEC_TO_TIME(3661);
SELECT CONVERT_TZ('2024-06-01 12:00:00', '+00:00', '+05:30'), LAST_DAY('2023-02-10'), STR_TO_DATE('31/12/1999', '%d/%m/%Y'), EXTRACT(YEAR_MONTH FROM '2024-07-04');
INSERT INTO dt (id, d) VALUES (6, '2023-02-29');
INSERT INTO dt (id, t) VALUES (6, '839:00:00');
SELECT CAST('2023-02-30' AS DATE);
SHOW WARNINGS;

-- ===================================================================
-- String types, utf8mb4, binary types
-- ===================================================================
CREATE TABLE strs (
  id INT PRIMARY KEY,
  c CHAR(10),
  vc VARCHAR(20),
  tx TEXT,
  mt MEDIUMTEXT,
  lt LONGTEXT,
  bn BINARY(4),
  vb VARBINARY(16),
  bl BLOB
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO strs VALUES
  (1, 'abc', 'hello world', 'text value', 'medium', 'long', X'01020304', X'DEADBEEF', X'00FF00FF'),
  (2, '', '', '', '', '', X'00', X'', X''),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, '日本語', '中文字符测试', '한국어 텍스트', 'Ελληνικά', 'кириллица', 'ab', 'tab	here', 'line1\nline2'),
  (5, '🚀🎉', '👨‍👩‍👧‍👦 family', 'é vs é', 'e' 'é', 'Zalgo: Z̴̡a̵l̶g̷o̸', X'FFFFFFFF', X'0A0D09', X'5C27'),
  (6, 'pad  ', 'trail  ', ' lead', 'quote''s', 'back\\slash', 'x', 'NUL\0byte', 'percent%_');
SELECT id, c, vc, tx, mt, lt FROM strs ORDER BY id;
SELECT id, HEX(bn), HEX(vb), HEX(bl), LENGTH(bn), LENGTH(vb), LENGTH(bl) FROM strs ORDER BY id;
SELECT id, LENGTH(c), CHAR_LENGTH(c), LENGTH(vc), CHAR_LENGTH(vc), HEX(tx) FROM strs ORDER BY id;
SELECT id, c IS NULL AS c_null, c = '' AS c_empty, COALESCE(vc, '(null)') AS vc2, IFNULL(tx, 'N/A'), NULLIF(mt, '') FROM strs ORDER BY id;
SELECT UPPER('straße'), LOWER('ÀÉÎÕÜ'), REVERSE('abc😀d'), LEFT('日本語テキスト', 3), RIGHT('🚀🎉✨', 2), SUBSTRING('héllo wörld', 2, 4);
SELECT CONCAT('a', NULL, 'b'), CONCAT_WS('-', 'a', NULL, 'b'), LPAD('7', 3, '0'), RPAD('ab', 5, '.'), REPEAT('ab', 3), SPACE(3), INSERT('Quadratic', 3, 4, 'What');
SELECT LOCATE('bar', 'foobarbar'), INSTR('日本語', '語'), REPLACE('aaa', 'a', 'bb'), TRIM('  x  '), LTRIM('  x'), RTRIM('x  '), TRIM(BOTH 'x' FROM 'xxaxx');
SELECT HEX('é'), HEX(_utf8mb4'🚀'), UNHEX('E697A5'), CHAR(0x41, 0x42), ASCII('A'), ORD('🚀'), BIT_LENGTH('🚀'), OCTET_LENGTH('日本');
SELECT 'abc' = 'ABC', 'abc' = BINARY 'ABC', 'a' < 'b', STRCMP('a', 'b'), 'café' LIKE 'caf_', 'x%y' LIKE 'x\%y', 'abc' REGEXP '^a.c$';
SELECT REGEXP_REPLACE('a1b22c333', '[0-9]+', '#'), REGEXP_SUBSTR('key=value; k2=v2', '[a-z0-9]+=[a-z0-9]+'), SOUNDEX('Robert'), FORMAT(1234567.891, 2), FORMAT(1234567.891, 2, 'de_DE');
SELECT TO_BASE64('sluice'), FROM_BASE64('c2x1aWNl'), MD5('sluice'), SHA1('sluice'), SHA2('sluice', 256), CRC32('sluice');
SELECT CONVERT('日本' USING latin1), CAST('🚀' AS BINARY), HEX(CONVERT('é' USING utf16)), CHARSET(CONVERT('x' USING ascii)), COLLATION(_utf8mb4'x' COLLATE utf8mb4_bin);
SELECT QUOTE('it''s'), QUOTE(NULL), ELT(2, 'a', 'b', 'c'), FIELD('b', 'a', 'b'), FIND_IN_SET('b', 'a,b,c'), MAKE_SET(5, 'a', 'b', 'c'), EXPORT_SET(5, 'Y', 'N', ',', 4);
INSERT INTO strs (id, c) VALUES (7, 'this is far too long for char ten');
INSERT INTO strs (id, vb) VALUES (7, X'000102030405060708090A0B0C0D0E0F10');
INSERT IGNORE INTO strs (id, c, vc) VALUES (7, 'truncated value here', 'ok');
SHOW WARNINGS;
SELECT id, c, vc FROM strs WHERE id = 7;

-- ===================================================================
-- ENUM, SET, JSON columns
-- ===================================================================
CREATE TABLE es (
  id INT PRIMARY KEY AUTO_INCREMENT,
  size ENUM('small', 'medium', 'large') NOT NULL DEFAULT 'medium',
  flags SET('read', 'write', 'exec') DEFAULT '',
  doc JSON
);
INSERT INTO es (size, flags, doc) VALUES
  ('small', 'read', '{"a": 1, "b": [1, 2, 3], "c": {"d": "x"}}'),
  ('large', 'read,write,exec', '[1, "two", 3.5, null, true]'),
  (DEFAULT, '', NULL),
  ('medium', 'exec,read', '{"name": "日本", "emoji": "🚀", "nested": {"deep": {"deeper": [10, 20]}}}'),
  (2, 3, '"just a string"');
SELECT id, size, size + 0 AS size_idx, flags, flags + 0 AS flags_bits, doc FROM es ORDER BY id;
INSERT INTO es (size) VALUES ('huge');
INSERT INTO es (flags) VALUES ('read,delete');
INSERT INTO es (doc) VALUES ('{not json}');
SELECT size, COUNT(*) FROM es GROUP BY size ORDER BY size;
SELECT id FROM es WHERE FIND_IN_SET('write', flags) > 0 ORDER BY id;
SELECT id, JSON_EXTRACT(doc, '$.a'), JSON_EXTRACT(doc, '$.b[1]'), JSON_UNQUOTE(JSON_EXTRACT(doc, '$.c.d')), JSON_VALUE(doc, '$.name') FROM es ORDER BY id;
SELECT id, JSON_TYPE(doc), JSON_VALID(doc), JSON_LENGTH(doc), JSON_DEPTH(doc), JSON_KEYS(doc) FROM es WHERE doc IS NOT NULL ORDER BY id;
SELECT JSON_OBJECT('id', 1, 'name', 'sluice', 'tags', JSON_ARRAY('a', 'b'), 'nothing', NULL), JSON_ARRAY(1, 2.5, 'x', NULL, TRUE);
SELECT JSON_SET('{"a": 1}', '$.b', 2), JSON_INSERT('{"a": 1}', '$.a', 9, '$.c', 3), JSON_REPLACE('{"a": 1}', '$.a', 'one'), JSON_REMOVE('[1, 2, 3]', '$[1]');
SELECT JSON_CONTAINS('{"a": [1, 2]}', '2', '$.a'), JSON_CONTAINS_PATH('{"a": 1}', 'one', '$.a', '$.z'), JSON_SEARCH('["x", "y", "x"]', 'all', 'x'), JSON_QUOTE('he said "hi"');
SELECT JSON_MERGE_PATCH('{"a": 1, "b": 2}', '{"b": null, "c": 3}'), JSON_MERGE_PRESERVE('[1]', '[2]'), JSON_COMPACT('{ "a" :  [ 1 , 2 ] }'), JSON_DETAILED('{"a":[1,2]}');
SELECT JSON_ARRAYAGG(id ORDER BY id), JSON_OBJECTAGG(id, size) FROM es;
SELECT j.* FROM JSON_TABLE('[{"k": 1, "v": "one"}, {"k": 2, "v": "two"}, {"k": 3, "v": null}]', '$[*]' COLUMNS (k INT PATH '$.k', v VARCHAR(10) PATH '$.v')) AS j ORDER BY j.k;
SELECT JSON_EXTRACT('{"a": 1}', '$[');

-- ===================================================================
-- DDL: ALTER, indexes, generated columns, CHECK constraints
-- ===================================================================
CREATE TABLE products (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  sku VARCHAR(16) NOT NULL,
  name VARCHAR(100) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  qty INT NOT NULL DEFAULT 0,
  total DECIMAL(12,2) AS (price * qty) STORED,
  name_upper VARCHAR(100) AS (UPPER(name)) VIRTUAL,
  CONSTRAINT chk_price CHECK (price >= 0),
  CONSTRAINT chk_qty CHECK (qty BETWEEN 0 AND 10000),
  UNIQUE KEY uk_sku (sku)
);
CREATE INDEX idx_name ON products (name);
ALTER TABLE products ADD COLUMN category VARCHAR(20) NULL AFTER name, ADD INDEX idx_cat_price (category, price);
ALTER TABLE products MODIFY COLUMN qty INT NOT NULL DEFAULT 1;
SHOW CREATE TABLE products;
SHOW INDEX FROM products;
DESCRIBE products;
INSERT INTO products (sku, name, category, price, qty) VALUES
  ('A-1', 'widget', 'tools', 2.50, 10),
  ('A-2', 'gadget', 'tools', 10.00, 3),
  ('B-1', 'doohickey', 'misc', 0.99, 100),
  ('B-2', 'thingamajig', 'misc', 7.25, 0),
  ('C-1', 'gizmo', NULL, 15.00, 2),
  ('C-2', 'whatsit', 'toys', 3.33, 7);
SELECT LAST_INSERT_ID();
SELECT id, sku, name, category, price, qty, total, name_upper FROM products ORDER BY id;
INSERT INTO products (sku, name, price, qty) VALUES ('A-1', 'dup', 1.00, 1);
INSERT INTO products (sku, name, price, qty) VALUES ('X-1', 'negative', -1.00, 1);
INSERT INTO products (sku, name, price, qty) VALUES ('X-2', 'too many', 1.00, 20000);
INSERT INTO products (sku, name, price, qty, total) VALUES ('X-3', 'gen', 1.00, 1, 5.00);
INSERT INTO products (sku, name, price) VALUES ('X-4', NULL, 1.00);
INSERT INTO products (sku, name, price, qty) VALUES ('D-1', 'sprocket', 4.00, 5)
  ON DUPLICATE KEY UPDATE qty = qty + VALUES(qty);
INSERT INTO products (sku, name, price, qty) VALUES ('A-1', 'widget', 2.50, 5), ('A-2', 'gadget', 11.00, 1)
  ON DUPLICATE KEY UPDATE qty = qty + VALUES(qty), price = VALUES(price);
SELECT ROW_COUNT();
REPLACE INTO products (id, sku, name, category, price, qty) VALUES (5, 'C-1', 'gizmo v2', 'toys', 16.00, 4);
SELECT id, sku, name, category, price, qty, total FROM products ORDER BY id;
UPDATE products SET price = price * 1.10 WHERE category = 'tools' ORDER BY id LIMIT 1;
SELECT ROW_COUNT();
UPDATE products SET qty = qty - 1 WHERE qty > 0 ORDER BY qty DESC, id LIMIT 2;
DELETE FROM products WHERE category = 'misc' ORDER BY price ASC LIMIT 1;
SELECT ROW_COUNT();
SELECT id, sku, price, qty, total FROM products ORDER BY id;
ALTER TABLE products DROP INDEX idx_name, RENAME COLUMN category TO cat;
ALTER TABLE products ADD CONSTRAINT chk_sku CHECK (sku <> '');
ALTER TABLE products ADD CONSTRAINT chk_bad CHECK (price > 100);
SELECT id, sku, cat FROM products WHERE cat IS NULL OR cat = 'toys' ORDER BY id;

-- ===================================================================
-- Joins, grouping, ROLLUP, window functions, CTEs, subqueries
-- ===================================================================
CREATE TABLE customers (
  id INT PRIMARY KEY,
  name VARCHAR(50) NOT NULL,
  country CHAR(2)
);
CREATE TABLE orders (
  id INT PRIMARY KEY AUTO_INCREMENT,
  customer_id INT,
  product_id INT UNSIGNED,
  amount DECIMAL(10,2),
  placed DATE,
  KEY (customer_id),
  CONSTRAINT fk_cust FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE SET NULL
) ENGINE=InnoDB;
INSERT INTO customers VALUES (1, 'Alice', 'US'), (2, 'Bob', 'DE'), (3, 'Chloé', 'FR'), (4, '王芳', 'CN'), (5, 'Nobody', NULL);
INSERT INTO orders (customer_id, product_id, amount, placed) VALUES
  (1, 1, 25.00, '2024-01-05'), (1, 2, 10.00, '2024-01-20'), (2, 1, 7.50, '2024-02-01'),
  (3, 6, 99.99, '2024-02-14'), (3, 6, 0.01, '2024-03-01'), (4, 5, 42.00, '2024-03-15'),
  (NULL, 2, 5.00, '2024-03-31'), (2, 3, 12.34, '2024-04-01');
INSERT INTO orders (customer_id, amount) VALUES (99, 1.00);
SELECT c.name, o.id, o.amount FROM customers c JOIN orders o ON o.customer_id = c.id ORDER BY c.id, o.id;
SELECT c.name, o.id, o.amount FROM customers c LEFT JOIN orders o ON o.customer_id = c.id ORDER BY c.id, o.id;
SELECT c.name, o.id FROM orders o RIGHT JOIN customers c ON o.customer_id = c.id WHERE o.id IS NULL ORDER BY c.id;
SELECT c.name, p.sku, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id ORDER BY o.id;
SELECT a.name AS a, b.name AS b FROM customers a CROSS JOIN customers b WHERE a.id < b.id AND b.id <= 3 ORDER BY a.id, b.id;
SELECT country, COUNT(*) AS n, GROUP_CONCAT(name ORDER BY name SEPARATOR '|') AS names FROM customers GROUP BY country ORDER BY country;
SELECT c.country, c.name, SUM(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.country, c.name WITH ROLLUP;
SELECT customer_id, COUNT(*), SUM(amount), MIN(amount), MAX(amount) FROM orders GROUP BY customer_id HAVING SUM(amount) > 10 ORDER BY customer_id;
SELECT id, customer_id, amount,
  ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY id) AS rn,
  RANK() OVER (ORDER BY amount DESC) AS rnk,
  DENSE_RANK() OVER (ORDER BY customer_id) AS drnk,
  SUM(amount) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,
  LAG(amount) OVER (ORDER BY id) AS prev_amt,
  LEAD(amount, 2) OVER (ORDER BY id) AS next_amt
FROM orders ORDER BY id;
SELECT id, amount, NTILE(3) OVER (ORDER BY id) AS tile, FIRST_VALUE(amount) OVER w AS fv, LAST_VALUE(amount) OVER w AS lv,
  ROUND(PERCENT_RANK() OVER (ORDER BY amount), 4) AS pr, ROUND(CUME_DIST() OVER (ORDER BY amount), 4) AS cd
FROM orders WINDOW w AS (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) ORDER BY id;
WITH big AS (SELECT customer_id, SUM(amount) AS s FROM orders GROUP BY customer_id)
SELECT c.name, big.s FROM big JOIN customers c ON c.id = big.customer_id WHERE big.s > 20 ORDER BY c.id;
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 10) SELECT n, n * n AS sq FROM seq ORDER BY n;
WITH RECURSIVE fib(i, a, b) AS (SELECT 1, CAST(0 AS DECIMAL(30,0)), CAST(1 AS DECIMAL(30,0)) UNION ALL SELECT i + 1, b, a + b FROM fib WHERE i < 90) SELECT i, a FROM fib WHERE i IN (1, 2, 10, 50, 90) ORDER BY i;
WITH RECURSIVE dates(d) AS (SELECT DATE'2024-02-26' UNION ALL SELECT d + INTERVAL 1 DAY FROM dates WHERE d < '2024-03-02') SELECT d, DAYNAME(d) FROM dates ORDER BY d;
SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE amount > 20) ORDER BY name;
SELECT name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY name;
SELECT name, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) AS n_orders, (SELECT MAX(amount) FROM orders o WHERE o.customer_id = c.id) AS max_amt FROM customers c ORDER BY id;
SELECT t.customer_id, t.s FROM (SELECT customer_id, SUM(amount) AS s FROM orders GROUP BY customer_id) AS t WHERE t.s = (SELECT MAX(s) FROM (SELECT SUM(amount) AS s FROM orders GROUP BY customer_id) AS u);
SELECT amount FROM orders WHERE amount > ALL (SELECT amount FROM orders WHERE customer_id = 1) ORDER BY amount;
SELECT (SELECT id FROM customers);
SELECT country FROM customers WHERE country IS NOT NULL UNION SELECT 'US' UNION SELECT 'JP' ORDER BY 1;
SELECT customer_id FROM orders UNION ALL SELECT id FROM customers ORDER BY 1;
SELECT id FROM customers INTERSECT SELECT customer_id FROM orders ORDER BY 1;
SELECT id FROM customers EXCEPT SELECT customer_id FROM orders ORDER BY 1;
(SELECT 'a' AS x, 1 AS y) UNION (SELECT 'b', 2) ORDER BY y DESC LIMIT 1;
SELECT id, name, CASE WHEN country IN ('US', 'DE', 'FR') THEN 'west' WHEN country IS NULL THEN 'unknown' ELSE 'east' END AS region, IF(id % 2 = 0, 'even', 'odd') AS parity FROM customers ORDER BY id;
SELECT id FROM orders ORDER BY amount DESC, id LIMIT 3 OFFSET 2;
SELECT DISTINCT customer_id FROM orders ORDER BY customer_id;
SELECT COUNT(DISTINCT customer_id), COUNT(customer_id), COUNT(*) FROM orders;
SELECT * FROM orders WHERE 1 = 0;
SELECT 1 AS one LIMIT 0;
SELECT COUNT(*), SUM(amount), MAX(placed) FROM orders WHERE amount < 0;
SELECT * FROM no_such_table;
SELECT no_such_column FROM customers;
SELECT id FROM customers JOIN orders ON orders.customer_id = customers.id;
DELETE FROM customers WHERE id = 1;
SELECT id, customer_id FROM orders WHERE customer_id IS NULL ORDER BY id;
UPDATE orders o JOIN customers c ON c.id = o.customer_id SET o.amount = o.amount + 1 WHERE c.country = 'DE';
SELECT ROW_COUNT();
DELETE o FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL AND o.placed >= '2024-03-31';
SELECT id, customer_id, amount FROM orders ORDER BY id;

-- ===================================================================
-- Views
-- ===================================================================
CREATE VIEW v_customer_totals AS
  SELECT c.id, c.name, COALESCE(SUM(o.amount), 0) AS total, COUNT(o.id) AS n
  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
SELECT * FROM v_customer_totals ORDER BY id;
CREATE OR REPLACE VIEW v_customer_totals AS SELECT id, name FROM customers WHERE country IS NOT NULL;
SELECT * FROM v_customer_totals ORDER BY id;
CREATE VIEW v_customer_totals AS SELECT 1;
DROP VIEW v_customer_totals;
DROP VIEW v_customer_totals;
DROP VIEW IF EXISTS v_customer_totals;
SHOW WARNINGS;

-- ===================================================================
-- INSERT ... SELECT, CREATE TABLE ... SELECT, TRUNCATE
-- ===================================================================
CREATE TABLE order_archive LIKE orders;
INSERT INTO order_archive SELECT * FROM orders WHERE placed < '2024-03-01';
SELECT ROW_COUNT();
SELECT id, customer_id, amount, placed FROM order_archive ORDER BY id;
CREATE TABLE summary AS SELECT customer_id, SUM(amount) AS s FROM orders GROUP BY customer_id;
SELECT * FROM summary ORDER BY customer_id;
TRUNCATE TABLE summary;
SELECT COUNT(*) FROM summary;
DROP TABLE summary, order_archive;
DROP TABLE summary;
DROP TABLE IF EXISTS summary;
CREATE TEMPORARY TABLE tmp_kv (k VARCHAR(10) PRIMARY KEY, v INT);
INSERT INTO tmp_kv VALUES ('a', 1), ('b', 2);
INSERT INTO tmp_kv SELECT 'a', 100 UNION ALL SELECT 'c', 3 ON DUPLICATE KEY UPDATE v = tmp_kv.v + 10;
SELECT * FROM tmp_kv ORDER BY k;
RENAME TABLE tmp_kv TO tmp_kv2;
ALTER TABLE tmp_kv ADD COLUMN extra INT;
DROP TEMPORARY TABLE tmp_kv;
CREATE TABLE renamed_src (a INT, b INT, c INT);
INSERT INTO renamed_src VALUES (1, 2, 3);
ALTER TABLE renamed_src DROP COLUMN b, ADD COLUMN d VARCHAR(5) DEFAULT 'dflt' FIRST;
RENAME TABLE renamed_src TO renamed_dst;
SELECT * FROM renamed_dst;
SELECT * FROM renamed_src;
DROP TABLE renamed_dst;

-- ===================================================================
-- Division by zero and strict mode
-- ===================================================================
CREATE TABLE divz (id INT PRIMARY KEY, v DECIMAL(10,2));
SELECT 1 / 0 AS no_warning_mode;
SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';
SELECT @@session.sql_mode;
SELECT 1 / 0, 1 DIV 0, 1 % 0, 0 / 0;
SHOW WARNINGS;
SHOW COUNT(*) WARNINGS;
INSERT INTO divz VALUES (1, 10 / 0);
INSERT INTO divz VALUES (2, 'abc');
INSERT INTO divz VALUES (3, 123456789012);
SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';
INSERT INTO divz VALUES (1, 10 / 0);
INSERT IGNORE INTO divz VALUES (2, 'abc'), (3, 123456789012), (4, 1.005);
SHOW WARNINGS;
SELECT * FROM divz ORDER BY id;

-- ===================================================================
-- Transactions and savepoints
-- ===================================================================
CREATE TABLE acct (id INT PRIMARY KEY, balance INT NOT NULL) ENGINE=InnoDB;
INSERT INTO acct VALUES (1, 100), (2, 50);
START TRANSACTION;
UPDATE acct SET balance = balance - 30 WHERE id = 1;
UPDATE acct SET balance = balance + 30 WHERE id = 2;
COMMIT;
SELECT * FROM acct ORDER BY id;
START TRANSACTION;
SELECT balance FROM acct WHERE id = 1 FOR UPDATE;
DELETE FROM acct;
SELECT COUNT(*) FROM acct;
ROLLBACK;
SELECT * FROM acct ORDER BY id;
BEGIN;
INSERT INTO acct VALUES (3, 10);
SAVEPOINT sp1;
INSERT INTO acct VALUES (4, 20);
SAVEPOINT sp2;
UPDATE acct SET balance = 0;
ROLLBACK TO SAVEPOINT sp2;
INSERT INTO acct VALUES (5, 30);
ROLLBACK TO sp1;
RELEASE SAVEPOINT sp1;
ROLLBACK TO sp2;
COMMIT;
SELECT * FROM acct ORDER BY id;
SELECT @@autocommit, @@in_transaction;
SET autocommit = 0;
INSERT INTO acct VALUES (6, 60);
SELECT @@in_transaction;
ROLLBACK;
SET autocommit = 1;
SELECT * FROM acct ORDER BY id;
START TRANSACTION READ ONLY;
INSERT INTO acct VALUES (7, 70);
COMMIT;

-- ===================================================================
-- User variables and prepared statements
-- ===================================================================
SET @a = 10, @b = 'text', @c = NULL, @d = 1.5, @e = X'CAFE', @f = _utf8mb4'🚀';
SELECT @a, @b, @c, @d, HEX(@e), @f, @undefined;
SELECT @a := @a + 1, @a;
SELECT @rank := 0;
SELECT id, name FROM customers WHERE id > @a - 10 ORDER BY id;
SELECT SUM(amount) INTO @sum FROM orders;
SELECT @sum;
PREPARE stmt FROM 'SELECT ? + ? AS s, CONCAT(?, ''!'') AS c';
SET @x = 2, @y = 40, @z = 'hi';
EXECUTE stmt USING @x, @y, @z;
SET @y = 0.5;
EXECUTE stmt USING @x, @y, @z;
EXECUTE stmt USING @x;
DEALLOCATE PREPARE stmt;
EXECUTE stmt USING @x, @y, @z;
PREPARE ins FROM 'INSERT INTO acct (id, balance) VALUES (?, ?)';
SET @id = 10, @bal = 1000;
EXECUTE ins USING @id, @bal;
EXECUTE ins USING @id, @bal;
DEALLOCATE PREPARE ins;
SET @sql = CONCAT('SELECT id, balance FROM acct WHERE balance >= ', 60, ' ORDER BY id');
PREPARE dyn FROM @sql;
EXECUTE dyn;
DEALLOCATE PREPARE dyn;
PREPARE bad FROM 'SELEC 1';
EXECUTE IMMEDIATE 'SELECT ? * 2 AS doubled' USING 21;

-- ===================================================================
-- Stored procedures, functions, triggers, SIGNAL
-- ===================================================================
DELIMITER //
CREATE FUNCTION fn_greet(who VARCHAR(50)) RETURNS VARCHAR(100) DETERMINISTIC
BEGIN
  RETURN CONCAT('Hello, ', COALESCE(who, 'stranger'), '!');
END//
CREATE PROCEDURE p_multi(IN min_amount DECIMAL(10,2))
BEGIN
  SELECT COUNT(*) AS n_customers FROM customers;
  SELECT id, amount FROM orders WHERE amount >= min_amount ORDER BY id;
  SELECT 'done' AS status, min_amount AS threshold;
END//
CREATE PROCEDURE p_fail(IN code INT)
BEGIN
  IF code = 1 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'custom failure from p_fail', MYSQL_ERRNO = 3100;
  ELSEIF code = 2 THEN
    SIGNAL SQLSTATE '22012' SET MESSAGE_TEXT = 'pretend division by zero';
  ELSEIF code = 3 THEN
    SIGNAL SQLSTATE '01000' SET MESSAGE_TEXT = 'just a warning';
  END IF;
  SELECT code AS passed;
END//
CREATE PROCEDURE p_out(IN a INT, OUT doubled INT, INOUT acc INT)
BEGIN
  SET doubled = a * 2;
  SET acc = acc + a;
END//
CREATE PROCEDURE p_loop(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  DECLARE s VARCHAR(200) DEFAULT '';
  WHILE i < n DO
    SET i = i + 1;
    SET s = CONCAT(s, i, IF(i < n, ',', ''));
  END WHILE;
  SELECT s AS sequence;
END//
CREATE PROCEDURE p_handler()
BEGIN
  DECLARE CONTINUE HANDLER FOR 1062 SELECT 'duplicate caught' AS handled;
  INSERT INTO acct VALUES (1, 1);
  SELECT 'after handler' AS msg;
END//
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, acct_id INT, old_balance INT, new_balance INT)//
CREATE TRIGGER trg_acct_bu BEFORE UPDATE ON acct FOR EACH ROW
BEGIN
  IF NEW.balance < 0 THEN
    SIGNAL SQLSTATE '45001' SET MESSAGE_TEXT = 'balance cannot be negative';
  END IF;
END//
CREATE TRIGGER trg_acct_au AFTER UPDATE ON acct FOR EACH ROW
  INSERT INTO audit (acct_id, old_balance, new_balance) VALUES (OLD.id, OLD.balance, NEW.balance)//
DELIMITER ;
SELECT fn_greet('world'), fn_greet(NULL), fn_greet('世界🌏');
SELECT fn_greet(name) FROM customers ORDER BY id;
CALL p_multi(10);
CALL p_multi(1000);
CALL p_fail(0);
CALL p_fail(1);
CALL p_fail(2);
CALL p_fail(3);
SHOW WARNINGS;
SET @acc = 5;
CALL p_out(21, @dbl, @acc);
SELECT @dbl, @acc;
CALL p_loop(7);
CALL p_handler();
CALL p_nonexistent();
CALL p_multi();
UPDATE acct SET balance = balance + 1 WHERE id = 1;
UPDATE acct SET balance = -5 WHERE id = 2;
SELECT * FROM acct ORDER BY id;
SELECT acct_id, old_balance, new_balance FROM audit ORDER BY id;
SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'top-level signal';
DROP TRIGGER trg_acct_bu;
DROP PROCEDURE p_loop;
DROP FUNCTION fn_greet;
SELECT fn_greet('gone');

-- ===================================================================
-- Client-side oddities: empty statement, syntax errors, \G
-- ===================================================================
;
SELEC 1;
SELECT 1 +;
SELECT id, name, country FROM customers WHERE id = 3\G
SELECT 'after errors' AS still_running;
SELECT /* inline comment */ 42 AS answer; -- trailing comment
SELECT 'semi;colon' AS s, "double quoted" AS d, `id` FROM customers WHERE id = 2;
SELECT 'line1
line2' AS multiline, 'tab	tab' AS tabbed, 'back\\slash' AS bs, 'nul\0inside' AS nul;
SELECT NULL, NULL IS NULL, NULL = NULL, NULL <=> NULL, '' IS NULL, LENGTH(''), LENGTH(NULL);
SELECT TRUE, FALSE, TRUE + TRUE, 'abc' + 0, '12abc' + 0;
SHOW WARNINGS;
SHOW TABLES;
SHOW FULL TABLES;
SHOW COLUMNS FROM acct;
SELECT ROUTINE_NAME, ROUTINE_TYPE, DATA_TYPE, IS_DETERMINISTIC FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'diff' ORDER BY ROUTINE_NAME;
SELECT TRIGGER_NAME, EVENT_MANIPULATION, ACTION_TIMING, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'diff' ORDER BY TRIGGER_NAME;

-- ===================================================================
-- Large values (server max_allowed_packet must be > 2 MiB)
-- ===================================================================
SELECT LENGTH(REPEAT('x', 2000000));
SELECT MD5(REPEAT('abcdefghij', 150000));
SELECT REPEAT('z', 1200000);
CREATE TABLE big (id INT PRIMARY KEY, body LONGTEXT, bin LONGBLOB);
INSERT INTO big VALUES (1, REPEAT('0123456789abcdef', 70000), UNHEX(REPEAT('00FF7F80', 300000)));
INSERT INTO big VALUES (2, CONCAT(REPEAT('日本語🚀', 80000), 'end'), NULL);
SELECT id, LENGTH(body), CHAR_LENGTH(body), MD5(body), LENGTH(bin), MD5(bin), RIGHT(body, 5) FROM big ORDER BY id;
UPDATE big SET body = CONCAT(body, body) WHERE id = 1;
SELECT id, LENGTH(body), SHA1(body) FROM big ORDER BY id;
SELECT SUBSTRING(body, 1119990, 20) FROM big WHERE id = 1;

-- ===================================================================
-- Cleanup
-- ===================================================================
DROP TABLE orders, customers;
DROP TABLE big, divz, es, strs, dt, nums, ints, products, acct, audit;
DROP PROCEDURE p_multi;
DROP PROCEDURE IF EXISTS p_loop;
SHOW TABLES;
SELECT 'end of corpus' AS done;
