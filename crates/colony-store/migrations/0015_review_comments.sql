-- The review comments `colony pr-fixes` made into tasks, one a task: the
-- pull request they are on (`forge`'s number `pull`, whose head branch
-- `head` the fixes are pushed to), the comment a reply goes to, and, once
-- `colony land --pr` has sent that reply, the commit it named: each
-- comment is answered once.
CREATE TABLE review_comments (
    plan     TEXT NOT NULL,
    task     TEXT NOT NULL,
    forge    TEXT NOT NULL,
    pull     BIGINT NOT NULL,
    head     TEXT NOT NULL,
    comment  TEXT NOT NULL,
    replied  TEXT,
    PRIMARY KEY (plan, task)
);
