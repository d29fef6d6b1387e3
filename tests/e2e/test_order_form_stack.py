"""The order form in the running stack: form → Pub/Sub → crm_writer → the `orders` view."""

from __future__ import annotations

import re
import uuid

import requests

from tests.conftest import Crm
from tests.e2e.conftest import form_field, signed_in

ROWS_OF = "SELECT event_id FROM {ds}.order_events WHERE order_id = @id"


def new_order(session: requests.Session, url: str, **overrides: str) -> dict[str, str]:
    page = session.get(url + "/", timeout=10)
    assert page.status_code == 200
    values = {
        "csrf_token": form_field(page.text, "csrf_token"),
        "form_token": form_field(page.text, "form_token"),
        "action": "order",
        "customer_name": f"E2E {uuid.uuid4().hex[:6]}",
        "phone": "+1 201 555 0123",
        "address": "1 Main St",
        "delivery_method": "courier",
        "channel": "messenger",
        "lines-0-title": "Gift wrap",
        "lines-0-quantity": "2",
        "lines-0-price": "3.50",
    }
    values.update(overrides)
    return values


def order_number(html: str) -> str:
    match = re.search(r'id="order-number">([^<]+)<', html)
    assert match, "no order number on the page"
    return match.group(1)


def test_a_signed_in_order_lands_once_in_the_orders_view(
    stack: dict[str, str], stack_crm: Crm
) -> None:
    url = stack["ORDER_FORM_URL"]
    session, _ = signed_in(stack)
    values = new_order(session, url)

    saved = session.post(url + "/", data=values, timeout=10)
    assert saved.status_code == 201
    number = order_number(saved.text)
    rows = stack_crm.wait_for(
        "SELECT source, manager, attribution.channel AS channel FROM {ds}.orders"
        " WHERE order_id = @id",
        lambda rows: len(rows) == 1,
        id=number,
    )
    assert rows == [{"source": "manual", "manager": "demo", "channel": "messenger"}]

    again = session.post(url + "/", data=values, timeout=10)
    assert again.status_code == 200 and order_number(again.text) == number

    # A later order landing shows the pipeline has moved on; the repeat added nothing.
    later = order_number(session.post(url + "/", data=new_order(session, url), timeout=10).text)
    stack_crm.wait_for(ROWS_OF, lambda rows: len(rows) == 1, id=later)
    assert len(stack_crm.query(ROWS_OF, id=number)) == 1


def test_a_bad_phone_gets_the_form_back_and_no_row(stack: dict[str, str], stack_crm: Crm) -> None:
    from orderhub.sources.manual import order_id_for

    url = stack["ORDER_FORM_URL"]
    session, _ = signed_in(stack)
    values = new_order(session, url, phone="555")
    refused = session.post(url + "/", data=values, timeout=10)
    assert refused.status_code == 422
    assert 'id="phone-error"' in refused.text and 'value="555"' in refused.text

    later = order_number(session.post(url + "/", data=new_order(session, url), timeout=10).text)
    stack_crm.wait_for(ROWS_OF, lambda rows: len(rows) == 1, id=later)
    refused_id = order_id_for(stack["SHOPIFY_SHOP_DOMAIN"], values["form_token"])
    assert stack_crm.query(ROWS_OF, id=refused_id) == []


def test_no_sign_in_never_gets_the_form(stack: dict[str, str]) -> None:
    url = stack["ORDER_FORM_URL"]
    page = requests.get(url + "/", timeout=10, allow_redirects=False)
    assert page.status_code == 303
    posted = requests.post(url + "/", data={"customer_name": "x"}, timeout=10)
    assert posted.status_code == 401 and 'name="form_token"' not in posted.text
    forged = requests.get(url + "/", cookies={"oh_session": "demo"}, timeout=10)
    assert 'name="form_token"' not in forged.text


def test_a_post_without_csrf_token_is_refused(stack: dict[str, str]) -> None:
    url = stack["ORDER_FORM_URL"]
    session, _ = signed_in(stack)
    values = new_order(session, url)
    del values["csrf_token"]
    assert session.post(url + "/", data=values, timeout=10).status_code == 403


def test_a_double_tap_sent_at_once_records_one_order(stack: dict[str, str], stack_crm: Crm) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = stack["ORDER_FORM_URL"]
    session, _ = signed_in(stack)
    values = new_order(session, url)
    taps = []
    for _ in range(2):  # two connections, as two taps on a phone would make
        tap = requests.Session()
        tap.cookies.update(session.cookies)
        taps.append(tap)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda tap: tap.post(url + "/", data=values, timeout=10), taps))
    assert sorted(a.status_code for a in answers) == [200, 201]
    numbers = {order_number(a.text) for a in answers}
    assert len(numbers) == 1

    later = order_number(session.post(url + "/", data=new_order(session, url), timeout=10).text)
    stack_crm.wait_for(ROWS_OF, lambda rows: len(rows) == 1, id=later)
    assert len(stack_crm.query(ROWS_OF, id=numbers.pop())) == 1


def test_the_test_stack_signs_in_at_its_own_lower_scrypt_cost(stack: dict[str, str]) -> None:
    """The test stacks' functions hash at ``TEST_SCRYPT_N`` (``sessions.LOCAL_SCRYPT_N_ENV``):
    a sign-in keeps the demo manager's cheap hash instead of replacing it at OWASP's cost."""
    from google.cloud import firestore

    from devstack.stack import MANAGERS_DATABASE, TEST_SCRYPT_N

    client = firestore.Client(project=stack["GOOGLE_CLOUD_PROJECT"], database=MANAGERS_DATABASE)
    demo = client.collection("managers").document(stack["ORDER_FORM_DEMO_MANAGER"])
    signed_in(stack)  # the password checked against the stored hash, and kept
    assert demo.get().get("password_hash").split("$")[1] == str(TEST_SCRYPT_N)
