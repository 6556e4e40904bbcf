-- The sources a grounded answer cited (docs/knowledge.md): a JSON array,
-- sealed with the owner's key like the message text. NULL: not grounded.
ALTER TABLE messages ADD COLUMN citations BYTEA;
