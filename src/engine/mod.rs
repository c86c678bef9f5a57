//! The engine: actions (deploy, restart, destroy, rollback) turned into
//! staged plans and run, emitting events the CLI and the console render.
//! It knows no UI. Not built yet: the engine issue fills this in.
