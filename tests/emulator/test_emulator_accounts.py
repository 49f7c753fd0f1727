"""Accounts and organisations of the emulator: creation rules, the demo accounts, and ids that
stay the same across restarts over the same data folder."""

from __future__ import annotations

import json
import stat
import uuid

import pytest

from cocalc_widgets.emulator import Emulator


def test_seed_demo_accounts_and_org_survive_a_restart(tmp_path):
    data = tmp_path / "data"
    first = Emulator(data_dir=data, account_id=str(uuid.uuid4()))
    projects = first.seed_demo()
    accounts = dict(first.demo_accounts)
    assert sorted(accounts) == [f"Student {i}" for i in range(1, 6)]
    student = first.state.accounts[accounts["Student 3"]]
    assert (student.first_name, student.last_name) == ("Student", "3")
    assert student.email_address == "student3@example.com" and student.password is None
    assert student.org == "demo"
    assert first.state.orgs["demo"].admin_account_ids == [first.account_id]
    assert first.state.is_collaborator(accounts["Student 3"], projects["Student 3"])
    assert not first.state.is_collaborator(accounts["Student 3"], projects["Student 4"])
    first.stop()

    second = Emulator(data_dir=data)  # a new key owner: the demo org gets it as admin too
    assert second.seed_demo() == projects
    assert second.demo_accounts == accounts
    assert second.state.orgs["demo"].admin_account_ids[-1] == second.account_id
    meta = data / ".cocalc-emulator.json"
    assert stat.S_IMODE(meta.stat().st_mode) == 0o600
    assert second.account_id not in json.loads(meta.read_text())["accounts"]  # the key's owner
    second.stop()


def test_create_account_and_org_rules(tmp_path):
    emu = Emulator(data_dir=tmp_path)
    boss = emu.create_account("Boss", email_address="boss@example.com", password="pw")
    assert emu.state.find_account("boss@example.com").account_id == boss
    assert emu.state.find_account(boss).first_name == "Boss"
    with pytest.raises(ValueError, match=r"email address 'boss@example\.com' exists"):
        emu.create_account("Again", email_address="boss@example.com")
    with pytest.raises(ValueError, match="no organization named 'nope'"):
        emu.create_account("X", org="nope")
    assert emu.create_org("school", admins=[boss]) == "school"
    with pytest.raises(ValueError, match="organization named 'school' exists"):
        emu.create_org("school")
    with pytest.raises(ValueError, match="no account with id"):
        emu.create_org("other", admins=[str(uuid.uuid4())])
    assert emu.state.accounts[emu.create_account("Pupil", org="school")].org == "school"
    assert emu.site_admin and not Emulator(data_dir=tmp_path / "b", site_admin=False).site_admin
