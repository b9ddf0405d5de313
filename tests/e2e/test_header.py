"""The header stays on one line at 1280 px for every role, with the longest team and person
names the app allows (cut with an ellipsis, the whole name as the title), with and without
the team switcher; and removing a member asks first, in the browser."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from aigsec.accounts.models import Membership, Role, Team, User
from aigsec.accounts.services import membership_add

LONG_TEAM = "Demo AI Ltd " + "Long Team Name " * 8  # 120 characters, the column's limit
PEOPLE = ("admin@demo.test", "risk@demo.test", "auditor@demo.test", "manager@demo.test")


@pytest.fixture
def long_names(demo):
    Team.objects.filter(pk=demo.team.pk).update(name=LONG_TEAM[:120])
    for email in (*PEOPLE, "stranger@other.test"):
        User.objects.filter(email=email).update(full_name=("Wolfeschlegelsteinhausen " * 6)[:150])
    # The manager also belongs to the other team: the header shows the team switcher.
    membership_add(team=demo.other_team, email="manager@demo.test", role=Role.AUDITOR, actor=None)
    return demo


def _assert_one_line(page: Page) -> None:
    header = page.locator("header.site-header")
    items = header.locator("nav > ul > li")
    expect(items.first).to_be_visible()
    boxes = [b for b in (items.nth(i).bounding_box() for i in range(items.count())) if b]
    tops = {round(b["y"] + b["height"] / 2) for b in boxes}
    # Every item of the header on one line: their vertical centres within a few pixels.
    assert max(tops) - min(tops) <= 6, (page.url, sorted(tops))
    height = header.bounding_box()["height"]
    assert height < 2.2 * max(b["height"] for b in boxes), height
    # Nothing pushed past the right edge (no sideways scrolling).
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    last = max(b["x"] + b["width"] for b in boxes)
    assert last <= 1280, last


@pytest.mark.parametrize("email", PEOPLE)
def test_header_fits_one_line_at_1280_with_long_names(long_names, open_page, email):
    page = open_page(email)
    for url in (reverse("home"), reverse("evidence_list"), reverse("search") + "?q=x"):
        page.goto(url)
        _assert_one_line(page)
    # The long names are cut, and whole in the title.
    name = page.locator("summary.user-name")
    assert name.get_attribute("title").startswith("Wolfeschlegelsteinhausen")
    assert page.evaluate("(el) => el.scrollWidth > el.clientWidth", name.element_handle()), (
        "the long name should be cut with an ellipsis"
    )
    if email == "manager@demo.test":
        expect(page.locator("#team-select")).to_be_visible()
    else:
        assert page.locator(".team-name").get_attribute("title").startswith("Demo AI Ltd Long")


def test_removing_a_member_asks_first(long_names, open_page):
    m = Membership.objects.get(user__email="risk2@demo.test", team=long_names.team)
    page = open_page("admin@demo.test")
    page.goto(reverse("members", args=[long_names.team.pk]))
    _assert_one_line(page)
    page.get_by_role("button", name="Remove risk2@demo.test").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove this member?")
    page.get_by_role("link", name="Cancel").click()
    assert Membership.objects.filter(pk=m.pk).exists()
    page.get_by_role("button", name="Remove risk2@demo.test").click()
    page.get_by_role("button", name="Remove Robin Owner").click()
    expect(page.locator(".messages")).to_contain_text("risk2@demo.test removed")
    assert not Membership.objects.filter(pk=m.pk).exists()
