"""The operator's tool says what a rules file reads, and exactly what is missing."""

from devstack import email_rules_try
from tests.conftest import FIXTURES, ROOT

RULES = ROOT / "functions" / "orderhub" / "sources" / "email_rules" / "smakuy.yaml"


def test_a_complete_mail_shows_its_converted_fields(capsys):
    status = email_rules_try.main([str(RULES), str(FIXTURES / "email" / "smakuy_one_item.eml")])
    out = capsys.readouterr().out
    assert status == 0
    assert "+380671234567" in out and "245.00 UAH" in out
    assert "would publish order.created" in out


def test_a_broken_mail_lists_what_is_missing(capsys):
    status = email_rules_try.main([str(RULES), str(FIXTURES / "email" / "smakuy_broken.eml")])
    out = capsys.readouterr().out
    assert status == 1
    assert "phone          -- not found" in out
    assert "- missing phone" in out


def test_a_wrong_rules_file_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: Not Valid\n", encoding="utf-8")
    assert email_rules_try.main([str(bad), str(FIXTURES / "email" / "smakuy_broken.eml")]) == 2
    assert "service must match" in capsys.readouterr().err


KIIRE = ROOT / "functions" / "orderhub" / "sources" / "email_rules" / "kiire.yaml"


def test_text_shows_the_mail_as_the_rules_regexes_see_it(capsys):
    """Each table cell on a line of its own: what a "label, then value" regex must match."""
    mail = FIXTURES / "email" / "kiire_two_items_fee_discount.eml"
    assert email_rules_try.main(["--text", str(KIIRE), str(mail)]) == 0
    lines = [
        line.split("| ", 1)[1] for line in capsys.readouterr().out.splitlines() if "| " in line
    ]
    telefone = lines.index("Telefone")
    assert lines[telefone + 1] == "912 345 678"
    assert "Total" in lines and "9,73 €" in lines


def test_a_mail_with_two_orders_shows_each_order(capsys):
    mail = FIXTURES / "email" / "kiire_two_orders_nested_tables.eml"
    assert email_rules_try.main([str(KIIRE), str(mail)]) == 0
    out = capsys.readouterr().out
    assert "orders   2 in this mail" in out
    first, second = out.split("-- order 2 of 2")
    assert "K-8A1B2" in first and "7.70 EUR" in first and "K-8A1B3" not in first
    assert "K-8A1B3" in second and "9.00 EUR" in second
