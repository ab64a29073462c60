-- The SQLite schema the migrations produce (service/migrations).
-- Generated: python -m service.adapters.db.sqlite_schema --write

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE child_bundles (
	child_id VARCHAR(32) NOT NULL, 
	data BLOB NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (child_id), 
	FOREIGN KEY(child_id) REFERENCES children (id) ON DELETE CASCADE
);

CREATE TABLE children (
	id VARCHAR(32) NOT NULL, 
	session_id VARCHAR(16) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	component VARCHAR(64) NOT NULL, 
	position INTEGER NOT NULL, 
	spec JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	round INTEGER NOT NULL, 
	branch VARCHAR(255) NOT NULL, 
	start_sha VARCHAR(64), 
	"commit" VARCHAR(64), 
	attempts INTEGER NOT NULL, 
	tests_passed INTEGER NOT NULL, 
	tests_failed INTEGER NOT NULL, 
	tests_errors INTEGER NOT NULL, 
	tests_skipped INTEGER NOT NULL, 
	changed_files JSON, 
	message TEXT NOT NULL, 
	run_id BIGINT, 
	job_id BIGINT, 
	run_url VARCHAR(1024), 
	dispatched_at DATETIME, 
	finished_at DATETIME, 
	updated_at DATETIME NOT NULL, cost_usd FLOAT DEFAULT '0' NOT NULL, input_tokens BIGINT DEFAULT '0' NOT NULL, output_tokens BIGINT DEFAULT '0' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE, 
	CONSTRAINT uq_children_session_component UNIQUE (session_id, component)
);

CREATE TABLE dispatches (
	id INTEGER NOT NULL, 
	session_id VARCHAR(16) NOT NULL, 
	round INTEGER NOT NULL, 
	chunk INTEGER NOT NULL, 
	mode VARCHAR(16) NOT NULL, 
	child_ids JSON NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	run_id BIGINT, 
	run_url VARCHAR(1024), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE, 
	CONSTRAINT uq_dispatch_chunk UNIQUE (session_id, round, chunk, mode)
);

CREATE TABLE installations (
	id BIGINT NOT NULL, 
	account VARCHAR(255) NOT NULL, 
	active BOOLEAN NOT NULL, 
	repositories JSON, 
	updated_at DATETIME NOT NULL, status VARCHAR(16) DEFAULT 'active' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE interactions (
	id INTEGER NOT NULL, 
	session_id VARCHAR(16) NOT NULL, 
	step VARCHAR(32) NOT NULL, 
	command TEXT NOT NULL, 
	result TEXT NOT NULL, 
	ok BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE TABLE seen_tokens (
	jti VARCHAR(255) NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (jti)
);

CREATE TABLE session_events (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	session_id VARCHAR(16) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	child_id VARCHAR(32), 
	status VARCHAR(32), 
	data JSON, 
	created_at DATETIME NOT NULL, 
	FOREIGN KEY(session_id) REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE TABLE "sessions" (
	id VARCHAR(16) NOT NULL, 
	repository VARCHAR(512) NOT NULL, 
	installation_id BIGINT, 
	context VARCHAR(64) NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	branch VARCHAR(255) NOT NULL, 
	base_ref VARCHAR(255) NOT NULL, 
	base_sha VARCHAR(64), 
	manifest_path VARCHAR(255) NOT NULL, 
	requested_components JSON, 
	issue_number INTEGER, 
	requested_by VARCHAR(255), 
	source VARCHAR(16) NOT NULL, 
	push BOOLEAN NOT NULL, 
	parallel INTEGER, 
	round INTEGER NOT NULL, 
	message TEXT NOT NULL, 
	merged_commit VARCHAR(64), 
	final_commit VARCHAR(64), 
	pull_request_url VARCHAR(1024), 
	tracking_comment_id BIGINT, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	budget JSON, 
	spawned_at DATETIME, 
	delivery_id VARCHAR(80), active_children INTEGER DEFAULT '0' NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_sessions_repository_branch UNIQUE (repository, branch), 
	CONSTRAINT uq_sessions_delivery UNIQUE (delivery_id)
);

CREATE TABLE webhook_deliveries (
	delivery_id VARCHAR(64) NOT NULL, 
	event VARCHAR(64) NOT NULL, 
	received_at DATETIME NOT NULL, payload JSON, done_at DATETIME, 
	PRIMARY KEY (delivery_id)
);

CREATE INDEX ix_children_run ON children (run_id);

CREATE INDEX ix_children_session ON children (session_id);

CREATE INDEX ix_children_session_kind ON children (session_id, kind);

CREATE INDEX ix_children_status_updated ON children (status, updated_at);

CREATE INDEX ix_interactions_session ON interactions (session_id, id);

CREATE INDEX ix_session_events_session ON session_events (session_id, id);

CREATE INDEX ix_sessions_repository_created ON sessions (repository, created_at);

CREATE INDEX ix_sessions_status ON sessions (status);

INSERT INTO alembic_version (version_num) VALUES ('0008');

