"""Policy rules: the shipped JDM graph fires each reason code on its own condition, collects every
reason that applies, refuses code nodes, and is identified by its content hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smelend.errors import InvalidInput
from smelend.products.loader import load_catalogue
from smelend.risk.features import FLAT_NAMES
from smelend.risk.policy import check_graph, load_rule_set

RISK = Path(__file__).resolve().parents[2] / "src/smelend/risk"
RULES = RISK / "rules/sme-policy.json"
ELIGIBILITY = {p.id: p.eligibility.model_dump(mode="json") for p in load_catalogue().values()}

CLEAN = dict.fromkeys(FLAT_NAMES) | {
    "identity_result": "match", "aml_result": "clear", "owner_age": 40, "registration_age_days": 2000,
    "registration_status": "active", "industry_section": "F", "dishonest_debtor": False, "court_judgements_24m": 0,
    "admin_penalties_24m": 0, "shareholder_changes_12m": 0, "legal_rep_matches": True, "tax_grade": "B",
    "tax_arrears_fen": 0, "bureau_current_overdue_fen": 0, "bureau_max_dpd_24m": 0, "bureau_inquiries_3m": 1,
} | {f"status_{s}": "ok" for s in ("identity", "aml", "bureau", "registration", "tax", "invoices", "cashflow", "relationship", "exposure")}


APPLICANT = {"province": "31", "customer_group": "data-rich"}


def evaluate(product: str = "tax-data-loan", **facts):
    rule_set = load_rule_set(RULES, "sme-policy", "1.0")
    return rule_set.evaluate({"facts": CLEAN | facts, "features": {}, "product": ELIGIBILITY[product], "application": APPLICANT})


def test_a_clean_applicant_fires_nothing():
    assert evaluate().hits == ()


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        ({"identity_result": "mismatch"}, "IDENTITY_MISMATCH"),
        ({"aml_result": "hit"}, "AML_HIT"),
        ({"owner_age": 21}, "OWNER_TOO_YOUNG"),
        ({"owner_age": 66}, "OWNER_TOO_OLD"),
        ({"registration_age_days": 700}, "ENTERPRISE_TOO_YOUNG"),
        ({"registration_status": "revoked"}, "ENTERPRISE_NOT_ACTIVE"),
        ({"industry_section": "B"}, "INDUSTRY_EXCLUDED"),
        ({"dishonest_debtor": True}, "DISHONEST_DEBTOR"),
        ({"court_judgements_24m": 3}, "COURT_JUDGEMENTS_MANY"),
        ({"tax_grade": "D"}, "TAX_GRADE_D"),
        ({"tax_arrears_fen": 1}, "TAX_ARREARS"),
        ({"bureau_current_overdue_fen": 100}, "CURRENT_OVERDUE"),
        ({"bureau_max_dpd_24m": 91}, "SEVERE_DELINQUENCY_24M"),
        ({"bureau_inquiries_3m": 9}, "TOO_MANY_INQUIRIES"),
    ],
)
def test_each_knock_out_fires_alone_and_declines(facts, code):
    result = evaluate(**facts)
    assert result.codes("decline") == (code,)
    assert result.codes("refer") == ()


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        ({"identity_result": "unknown"}, "IDENTITY_UNVERIFIED"),
        ({"aml_result": None}, "AML_UNVERIFIED"),
        ({"legal_rep_matches": False}, "LEGAL_REP_MISMATCH"),
        ({"court_judgements_24m": 2}, "COURT_JUDGEMENT"),
        ({"admin_penalties_24m": 2}, "ADMIN_PENALTIES"),
        ({"shareholder_changes_12m": 3}, "SHAREHOLDER_CHANGES"),
        ({"tax_grade": "C"}, "TAX_GRADE_C"),
        ({"bureau_max_dpd_24m": 45}, "PAST_DELINQUENCY_24M"),
        ({"bureau_inquiries_3m": 7}, "INQUIRIES_ELEVATED"),
        ({"status_tax": "unavailable"}, "DATA_MISSING_TAX"),
        ({"status_bureau": "not_requested"}, "DATA_MISSING_BUREAU"),
    ],
)
def test_each_refer_rule_fires_alone(facts, code):
    result = evaluate(**facts)
    assert result.codes("refer") == (code,)
    assert result.codes("decline") == ()


def test_missing_data_refers_only_for_products_that_need_it():
    assert evaluate("tax-data-loan", status_invoices="missing").hits == ()
    assert evaluate("invoice-loan", status_invoices="missing").codes("refer") == ("DATA_MISSING_INVOICES",)


def test_collect_reports_every_reason_and_the_trace_names_the_rules():
    result = evaluate(owner_age=19, tax_grade="D", dishonest_debtor=True, legal_rep_matches=False)
    assert set(result.codes("decline")) == {"OWNER_TOO_YOUNG", "TAX_GRADE_D", "DISHONEST_DEBTOR"}
    assert result.codes("refer") == ("LEGAL_REP_MISMATCH",)
    fired = {f["rule_id"] for node in result.trace.values() for f in node["fired"]}
    assert {"knockout-03", "knockout-10", "knockout-08"} <= fired


def test_no_shipped_rule_file_holds_code_nodes():
    files = sorted(RISK.rglob("*.json"))
    graphs = [json.loads(p.read_text()) for p in files]
    jdm = [g for g in graphs if isinstance(g, dict) and "nodes" in g]
    assert jdm, "the shipped rules must be found"
    for graph in jdm:
        assert all(node["type"] not in {"functionNode", "customNode"} for node in graph["nodes"])


def test_a_function_node_is_refused_on_load(tmp_path):
    graph = json.loads(RULES.read_text())
    graph["nodes"].append({"id": "js", "type": "functionNode", "name": "sneaky", "content": "export const handler = async (i) => i;"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(graph))
    with pytest.raises(InvalidInput, match="functionNode is not allowed"):
        load_rule_set(bad, "bad", "1")


def test_tables_must_collect_and_name_their_outputs():
    graph = json.loads(RULES.read_text())
    graph["nodes"][1]["content"]["hitPolicy"] = "first"
    graph["nodes"][2]["content"]["outputs"] = graph["nodes"][2]["content"]["outputs"][:1]
    with pytest.raises(InvalidInput) as caught:
        check_graph(graph, "x.json")
    reasons = " ".join(e.reason for e in caught.value.errors)
    assert "collect" in reasons and "'code' and 'text'" in reasons


def test_the_hash_follows_the_content(tmp_path):
    original = load_rule_set(RULES, "sme-policy", "1.0")
    changed = tmp_path / "sme-policy.json"
    changed.write_text(RULES.read_text().replace('"> 8"', '"> 9"'))
    edited = load_rule_set(changed, "sme-policy", "1.1")
    assert original.sha256 != edited.sha256
    assert edited.identity()["version"] == "1.1"
    assert edited.evaluate({"facts": CLEAN | {"bureau_inquiries_3m": 9}, "features": {}, "product": ELIGIBILITY["tax-data-loan"], "application": APPLICANT}).codes("decline") == ()


def test_region_and_customer_group_come_from_the_product():
    rule_set = load_rule_set(RULES, "sme-policy", "1.0")
    local = ELIGIBILITY["tax-data-loan"] | {"regions": ["31", "32"]}
    def codes(province, group, eligibility):
        context = {"facts": CLEAN, "features": {}, "product": eligibility, "application": {"province": province, "customer_group": group}}
        return rule_set.evaluate(context).codes("decline")
    assert codes("31", "data-rich", local) == ()
    assert codes("44", "data-rich", local) == ("REGION_NOT_SERVED",)
    assert codes("31", "thin-file", local) == ("CUSTOMER_GROUP_NOT_ELIGIBLE",)
    assert codes("31", "thin-file", ELIGIBILITY["owner-credit-loan"]) == ()
