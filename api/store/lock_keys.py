"""A session's lock as PostgreSQL shows it: a bigint advisory lock keyed on the hash of the
session id, which pg_locks shows as its high and low 32 bits (api/store/locks.py takes it)."""

# The condition on a row of pg_locks that it is the lock of the session whose id (as text) is
# `{key}`, held.
SESSION_LOCK = (
    "locktype = 'advisory' AND objsubid = 1 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = ((hashtextextended({key}, 0) >> 32) & 4294967295)::oid"
    " AND objid = (hashtextextended({key}, 0) & 4294967295)::oid"
)
# Whether some process holds that lock.
LOCK_HELD = "EXISTS (SELECT 1 FROM pg_locks WHERE " + SESSION_LOCK + ")"
