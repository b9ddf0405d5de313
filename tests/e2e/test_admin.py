"""Journey 4, the team admin: signs in with password and authenticator code, adds a member,
changes their role, and finds the change in the audit trail page."""

from __future__ import annotations

from playwright.sync_api import expect

from .helpers import user

NEWCOMER = "nadia.new@demo.test"


def test_admin_adds_a_member_changes_the_role_and_sees_it_in_the_audit_trail(demo, open_page):
    page = open_page("admin@demo.test")  # through the second step: see helpers.log_in
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Members of {demo.team.name}")

    page.get_by_label("E-mail").fill(NEWCOMER)
    page.get_by_role("combobox", name="Role", exact=True).select_option(label="Auditor")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text(f"{NEWCOMER} added to {demo.team.name}")
    row = page.get_by_role("row").filter(has_text=NEWCOMER)
    expect(row.locator("td").nth(1)).to_have_text("Auditor")

    row.get_by_label(f"Role of {NEWCOMER}").select_option(label="Risk owner")
    row.get_by_role("button", name="Change").click()
    expect(page.get_by_role("status")).to_contain_text(f"{NEWCOMER} is now Risk owner")
    expect(row.locator("td").nth(1)).to_have_text("Risk owner")

    nav.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    newcomer = user(NEWCOMER)
    changed = page.get_by_role("row").filter(has_text="member.role_changed")
    expect(changed).to_have_count(1)
    expect(changed).to_contain_text("admin@demo.test")
    expect(changed).to_contain_text(f"user:{newcomer.pk}")
    expect(changed).to_contain_text('"new":"risk_owner"')
    expect(changed).to_contain_text('"old":"auditor"')
    added = page.get_by_role("row").filter(has_text="member.added").filter(has_text=NEWCOMER)
    expect(added).to_have_count(1)
