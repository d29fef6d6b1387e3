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
