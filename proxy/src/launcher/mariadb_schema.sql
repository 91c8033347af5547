-- Sample data for `sluice demo` on MariaDB: the same rows as the
-- PostgreSQL `sample_schema.sql`. All people, SSNs and emails are fictional;
-- card numbers are well-known Luhn-valid test numbers, never real cards.

-- TIMESTAMP literals below are UTC, whatever the server's system zone is.
SET time_zone = '+00:00';

-- Children first: orders has a foreign key into customers.
DROP TABLE IF EXISTS orders, customers, employees;

CREATE TABLE customers (
    id          INT AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    email       VARCHAR(255),
    ssn         VARCHAR(11),
    card_number VARCHAR(19),
    birth_date  DATE,
    created_at  TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO customers (name, email, ssn, card_number, birth_date, created_at) VALUES
    ('Alice Johnson',    'alice.johnson@example.com',    '123-45-6789', '4111111111111111', '1985-03-14', '2023-01-05 09:12:00'),
    ('Bob Martinez',     'bob.martinez@example.com',     '234-56-7890', '5555555555554444', '1990-07-22', '2023-01-18 14:40:00'),
    ('Carol Chen',       'carol.chen@example.com',       '345-67-8901', '378282246310005',  '1978-11-02', '2023-02-02 11:05:00'),
    ('David Okafor',     'david.okafor@example.com',     '456-78-9012', '6011111111111117', '1995-01-30', '2023-02-27 16:20:00'),
    ('Emma Schmidt',     'emma.schmidt@example.com',     '567-89-0123', '4012888888881881', '1988-05-09', '2023-03-11 08:55:00'),
    ('Farid Haddad',     'farid.haddad@example.com',     '678-90-1234', '5105105105105100', '1972-09-17', '2023-03-29 19:03:00'),
    ('Grace Kim',        'grace.kim@example.com',        '789-01-2345', '371449635398431',  '1999-12-25', '2023-04-14 10:30:00'),
    ('Hiro Tanaka',      'hiro.tanaka@example.com',      '890-12-3456', '3566002020360505', '1983-06-06', '2023-05-01 13:47:00'),
    ('Isabel Rossi',     'isabel.rossi@example.com',     '901-23-4567', '4242424242424242', '1991-02-11', '2023-05-20 07:15:00'),
    ('Jamal Wright',     'jamal.wright@example.com',     '012-34-5678', '5200828282828210', '1969-08-03', '2023-06-08 17:25:00'),
    ('Katarzyna Nowak',  'kasia.nowak@example.com',      '147-25-8369', '6011000990139424', '1987-04-19', '2023-06-30 12:00:00'),
    ('Liam O''Brien',    'liam.obrien@example.com',      '258-36-9147', '4000056655665556', '1993-10-08', '2023-07-15 09:45:00'),
    ('Maria Garcia',     'maria.garcia@example.com',     '369-14-7258', '2223003122003222', '1980-12-01', '2023-08-02 15:10:00'),
    ('Noah Fischer',     'noah.fischer@example.com',     '159-26-3748', '3056930009020004', '1976-03-27', '2023-08-21 18:35:00'),
    ('Olivia Brown',     'olivia.brown@example.com',     '267-38-4915', '36227206271667',   '2001-06-15', '2023-09-09 11:50:00'),
    ('Pedro Alves',      'pedro.alves@example.com',      '378-49-1526', '6200000000000005', '1984-09-29', '2023-10-04 08:05:00'),
    ('Quinn Taylor',     NULL,                           '489-51-2637', '4000002500003155', '1997-01-13', '2023-10-27 14:22:00'),
    ('Ravi Patel',       'ravi.patel@example.com',       '591-62-3748', '5425233430109903', '1975-07-07', '2023-11-16 16:58:00'),
    ('Sofia Lindqvist',  'sofia.lindqvist@example.com',  '612-73-4859', '4263982640269299', '1989-11-21', '2023-12-03 10:10:00'),
    ('Tomás Novak',      'tomas.novak@example.com',      '723-84-5961', NULL,               '1994-02-28', '2024-01-09 09:00:00');

CREATE TABLE orders (
    id          INT AUTO_INCREMENT PRIMARY KEY,
    customer_id INT,
    amount      DECIMAL(10,2),
    status      VARCHAR(32),
    ordered_at  DATETIME,
    CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- 40 deterministic orders spread over customers, amounts and statuses
-- (same formulas as the PostgreSQL generate_series version).
INSERT INTO orders (customer_id, amount, status, ordered_at)
WITH RECURSIVE g (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 40)
SELECT (n * 7) % 20 + 1,
       ROUND(((n * 3779) % 50000) / 100.0 + 4.99, 2),
       ELT(n % 5 + 1, 'pending', 'paid', 'shipped', 'delivered', 'refunded'),
       TIMESTAMP '2024-01-02 08:00:00' + INTERVAL n * (3 * 24 * 60 + 5 * 60 + 17) MINUTE
FROM g
ORDER BY n;

CREATE TABLE employees (
    id     INT AUTO_INCREMENT PRIMARY KEY,
    name   VARCHAR(255),
    salary DECIMAL(10,2)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO employees (name, salary) VALUES
    ('Uma Reyes',       98000.00),
    ('Victor Dubois',  124500.00),
    ('Wendy Park',      87250.50),
    ('Xavier Mensah',  143000.00),
    ('Yara Costa',      72900.00);
