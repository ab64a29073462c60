"""The migrations form one line: one head, every revision reachable, numbered in order."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from service.adapters.db.engine import alembic_config


def test_the_migrations_form_one_chain_in_number_order():
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert scripts.get_heads() == [max(r.revision for r in scripts.walk_revisions())]
    chain = [r.revision for r in scripts.walk_revisions()]  # head first, down to the base
    assert chain == sorted(chain, reverse=True)
    assert [int(revision) for revision in reversed(chain)] == list(range(1, len(chain) + 1))
