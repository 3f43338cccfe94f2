"""A pack's own store tables come through the pack's migrations: the core store creates none of them, the
pack creates them when it first touches a store, `db migrate` and `db copy` create every installed pack's,
and a store made while the core still created the CEP pack's tables keeps its rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.store import Store
from chainjudge.core.store.copy import tables
from chainjudge.packs.cep.state_tables import StateTables

OLD_STORE = Path(__file__).parent / "data" / "stores" / "before-pack-tables.db"
cli = CliRunner()


def test_a_new_store_holds_no_pack_table(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert "states" not in tables(store) and "state_annotations" not in tables(store)
        assert not [name for name in store.migrations() if ":" in name]


def test_the_cep_pack_makes_its_tables_when_it_first_uses_a_store(tmp_path):
    with Store(tmp_path / "s.db") as store:
        states = StateTables(store)
        assert {"states", "state_annotations"} <= set(tables(store))
        assert store.migrations()[-1] == "cep:001_states"
        assert states.save_states([("u1", "history", "{}")]) == 1
    with Store(tmp_path / "s.db") as store:  # applied once: opening again changes nothing
        StateTables(store)
        assert store.query("SELECT COUNT(*) FROM migrations WHERE name LIKE 'cep:%'") == [(1,)]
        assert [row[0] for row in StateTables(store).states()] == ["u1"]


@pytest.mark.parametrize("owner", ["", "CEP", "cep:x", "1cep", "c" * 41])
def test_a_migration_owner_is_a_pack_name(tmp_path, owner):
    with Store(tmp_path / "s.db") as store, pytest.raises(ValueError, match="owner"):
        store.apply_migrations(owner, [("001", "SELECT 1")])


def test_a_store_made_while_the_core_created_the_states_keeps_them(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(OLD_STORE, db)
    with Store(db) as store:
        states = StateTables(store)
        assert [row[0] for row in states.states()] == ["u1", "u2"]
        assert states.state_annotations() == [("u1", "ana", '{"action":"wait"}')]
        states.add_state_annotation("u2", "bo", '{"action":"send"}')
        assert "cep:001_states" in store.migrations()


def test_db_migrate_makes_every_installed_packs_tables(tmp_path):
    db = tmp_path / "s.db"
    result = cli.invoke(app, ["db", "migrate", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "packs' tables: cep" in result.output and "the newest 020_verifiers" in result.output
    with Store(db) as store:
        assert "states" in tables(store)


def test_db_copy_of_an_old_store_keeps_the_packs_rows(tmp_path):
    source, target = tmp_path / "old.db", tmp_path / "new.db"
    shutil.copy(OLD_STORE, source)
    result = cli.invoke(app, ["db", "copy", str(source), str(target)])
    assert result.exit_code == 0, result.output
    with Store(target) as store:
        assert [row[0] for row in StateTables(store).states()] == ["u1", "u2"]
        assert StateTables(store).state_annotations() == [("u1", "ana", '{"action":"wait"}')]


def test_a_pack_migration_that_fails_is_named_and_not_recorded(tmp_path, monkeypatch):
    import chainjudge.core.plugins as plugins
    from chainjudge.core.store import StoreUnavailable

    broken = [("001_ok", "CREATE TABLE tidy (id TEXT PRIMARY KEY)"), ("002_broken", "CREATE TABLE oops (")]
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(StoreUnavailable, match="migration 002_broken of the 'tidy' pack failed"):
            store.apply_migrations("tidy", broken)
        assert "tidy:001_ok" in store.migrations() and "tidy:002_broken" not in store.migrations()
    monkeypatch.setattr(plugins, "pack_migrations", lambda: {"tidy": broken})
    result = cli.invoke(app, ["db", "migrate", "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 2 and "migration 002_broken of the 'tidy' pack failed" in result.output, result.output
    assert "Traceback" not in result.output
