-- An answer to an agent's question (`ask_human`) is a decision too: its
-- text is in `feedback`, and `question` says what it answers.
ALTER TABLE decisions ADD COLUMN question TEXT;

-- A task awaiting an answer keeps the question in `reason` and when it
-- stops waiting in `not_before`; the rescuer looks for the late ones.
CREATE INDEX tasks_asking ON tasks (not_before) WHERE status = 'awaiting_input';
