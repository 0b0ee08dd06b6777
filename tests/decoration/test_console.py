"""The merchant console's decoration pages: the list, adding a custom page, the editor."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shop.decoration.models import Page
from tests.conftest import english, in_shop, owner_client, shop_client

pytestmark = pytest.mark.django_db


def test_the_console_nav_and_the_list_show_the_home_page(alpha: Any) -> None:
    client = english(owner_client(alpha))
    home = client.get("/console/")
    assert 'href="/console/pages/"' in home.content.decode()
    response = client.get("/console/pages/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-slug="home"' in page and "Not published" in page


def test_adding_a_custom_page_opens_its_editor(alpha: Any) -> None:
    client = english(owner_client(alpha))
    response = client.post("/console/pages/", {"slug": "about-us", "title": "About us"})
    assert response.status_code == 302 and response["Location"] == "/console/pages/about-us/"
    editor = client.get("/console/pages/about-us/")
    assert editor.status_code == 200
    html = editor.content.decode()
    assert 'src="/pages/about-us/?preview=draft"' in html and 'width="390"' in html
    assert "decoration/editor.js" in html
    config = json.loads(html.split('<script id="deco-config" type="application/json">')[1].split("</script>")[0])
    assert config["api"] == "/api/v1/console/pages/about-us/"
    assert config["strings"]["saved"] == "Draft saved."


def test_the_home_editor_previews_the_storefront_root(alpha: Any) -> None:
    html = owner_client(alpha).get("/console/pages/home/").content.decode()
    assert 'src="/?preview=draft"' in html


def test_a_bad_new_page_shows_field_errors_and_adds_nothing(alpha: Any) -> None:
    client = english(owner_client(alpha))
    response = client.post("/console/pages/", {"slug": "Not OK", "title": ""})
    assert response.status_code == 400
    page = response.content.decode()
    assert "lowercase letters" in page and 'value="Not OK"' in page
    with in_shop(alpha):
        assert list(Page.objects.values_list("slug", flat=True)) == ["home"]


def test_console_pages_need_a_console_login_and_the_right_shop(alpha: Any, beta: Any) -> None:
    assert shop_client(alpha).get("/console/pages/").status_code == 302  # to the login page
    owner_client(alpha).post("/console/pages/", {"slug": "alpha-page", "title": "A"})
    assert owner_client(beta).get("/console/pages/alpha-page/").status_code == 404
    assert owner_client(alpha).get("/console/pages/alpha-page/").status_code == 200


def test_a_custom_page_is_deleted_from_the_list_but_never_the_home_page(alpha: Any) -> None:
    client = english(owner_client(alpha))
    client.post("/console/pages/", {"slug": "old-sale", "title": "Old sale"})
    listing = client.get("/console/pages/").content.decode()
    assert 'name="delete" value="old-sale"' in listing and 'name="delete" value="home"' not in listing
    response = client.post("/console/pages/", {"delete": "old-sale"}, follow=True)
    assert "Page deleted." in response.content.decode()
    refused = client.post("/console/pages/", {"delete": "home"}, follow=True)
    assert "The home page cannot be deleted." in refused.content.decode()
    assert client.post("/console/pages/", {"delete": "no-such-page"}).status_code == 404
    with in_shop(alpha):
        assert list(Page.objects.values_list("slug", flat=True)) == ["home"]
