"""order_form's settings: a missing or malformed variable fails loudly, naming it."""

import pytest

from orderhub.errors import ConfigError
from orderhub.order_form.settings import OrderFormSettings

ENV = {
    "GOOGLE_CLOUD_PROJECT": "p",
    "BIGQUERY_DATASET": "crm",
    "SHOPIFY_SHOP_DOMAIN": "Shop.myshopify.com",
    "ORDER_FORM_SESSION_SECRET": "s" * 32,
}


def test_defaults_make_a_working_form_without_link_mode() -> None:
    settings = OrderFormSettings.from_env(ENV)
    assert settings.shop == "shop.myshopify.com"
    assert settings.default_country == "US" and settings.currency == "USD"
    assert settings.delivery_methods == ("courier", "post", "pickup")
    assert settings.shopify_admin_url == "https://shop.myshopify.com"
    assert settings.shopify_admin_token == "" and settings.base_path == ""


def test_settings_are_read_from_their_variables() -> None:
    settings = OrderFormSettings.from_env(
        {
            **ENV,
            "ORDER_FORM_DEFAULT_COUNTRY": "ua",
            "ORDER_FORM_CURRENCY": "uah",
            "ORDER_FORM_DELIVERY_METHODS": "Nova-Poshta, pickup",
            "ORDER_FORM_BASE_PATH": "/order_form/",
            "ORDER_FORM_SHOPIFY_TOKEN": "shpat_x",
        }
    )
    assert (settings.default_country, settings.currency) == ("UA", "UAH")
    assert settings.delivery_methods == ("nova-poshta", "pickup")
    assert settings.base_path == "/order_form"
    assert settings.shopify_admin_token == "shpat_x"


@pytest.mark.parametrize(
    "change,named",
    [
        ({"ORDER_FORM_SESSION_SECRET": ""}, "ORDER_FORM_SESSION_SECRET"),
        ({"ORDER_FORM_SESSION_SECRET": "short"}, "ORDER_FORM_SESSION_SECRET"),
        ({"SHOPIFY_SHOP_DOMAIN": ""}, "SHOPIFY_SHOP_DOMAIN"),
        ({"ORDER_FORM_DEFAULT_COUNTRY": "USA"}, "ORDER_FORM_DEFAULT_COUNTRY"),
        ({"ORDER_FORM_CURRENCY": "dollars"}, "ORDER_FORM_CURRENCY"),
    ],
)
def test_bad_settings_name_the_variable(change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        OrderFormSettings.from_env({**ENV, **change})
