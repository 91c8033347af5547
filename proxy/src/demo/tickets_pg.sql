-- Demo-only free text for the detectors: card numbers, emails and SSNs typed into a ticket body,
-- a column no mask names. All values are fictional (the card is a well-known test number).
CREATE TABLE support_tickets (
    id          serial PRIMARY KEY,
    customer_id int REFERENCES customers (id),
    body        text
);
INSERT INTO support_tickets (customer_id, body) VALUES
    (1, 'Charged twice on card 4111 1111 1111 1111, please refund. Reach me at alice.johnson@example.com.'),
    (2, 'The invoice shows my SSN 234-56-7890, please remove it.'),
    (5, 'Parcel arrived late again; nothing personal in this one.');
