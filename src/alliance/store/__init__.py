"""Tables, migrations and the operations that write and read clinical data.

Every operation takes a SQLAlchemy Connection and an `Actor` (user id + ip), applies the pure
rules from alliance.domain, writes all-or-nothing (a savepoint inside the caller's transaction)
and appends a hash-chained audit event. Call them inside `with engine.begin() as conn:` so the
audit event of a read is committed too.

- engine.make_engine, migrate.upgrade: the database itself
- people: create_organisation, create_user, create_client, set_client_identity, set_supervisor
- episodes: open_episode, record_consent, move_stage, close_episode
- goals: add_goal, set_goal_status, add_task, set_task_status
- sessions: record_session; administrations: record_administration
- worksheets: add_worksheet; relational: record_boundary_event, report_boundary_incident,
  add_relational_note
- reads: caseload, episode_detail, client_identity, supervisees
- audit: record, events, verify; demo: populate
"""
