"""The auditor's commands speak Chinese or English from the catalogs every interface shares.

``petition --lang zh audit …`` against a real server prints Chinese, ``--lang en`` English
(whatever the locale says); PETITION_LANG chooses the same way. The statistics report, which
once had a catalog of its own (client/locales/…/stats.po), now takes its words from the shared
catalogs (cli_support/locales): one catalog system for the commands and the web UI.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from deployment import BUREAU_ID, Deployment
from harness import utc_today, verified_directory

from cli_support import i18n
from client.stats_report import render_html, render_table
from crypto.case_stats import count_leaves

CJK = re.compile(r"[\u4e00-\u9fff]")
CODE_LINE = re.compile(r"^\s*(1[0-9A-Z]{3}(?:-[0-9A-Z]{4}){6})\s*$", re.MULTILINE)
#: A Chinese locale: ``--lang en`` must still win over it.
ZH_LOCALE = {"LANG": "zh_CN.UTF-8"}


@pytest.fixture(scope="module")
def code(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One petition in the log, so that the auditor has an entry and a receipt to check."""
    body = tmp_path_factory.mktemp("petition") / "body.txt"
    body.write_text("本人工资被拖欠八个月。\n", encoding="utf-8")
    out = deployment.ok(
        "petitioner", "--lang", "en", "submit", "--bureau", BUREAU_ID, "--name", "张三",
        "--id-number", "11010519491231002X", "--contact", "手机 13800000000",
        "--subject", "关于拖欠工资的投诉", "--category", "劳动与社会保障",
        "--region", "北京市西城区", "--body-file", str(body),
    )  # fmt: skip
    found = CODE_LINE.search(out)
    assert found is not None, out
    return found.group(1)


def test_audit_log_and_receipt_in_chinese(deployment: Deployment, code: str) -> None:
    log = deployment.ok("auditor", "--lang", "zh", "audit", "log")
    assert f"{deployment.url} 的日志：共 " in log, log
    assert "检查点由已固定名录中的日志密钥签名" in log
    assert "信任策略不要求见证方联署签名（信任策略：名录）" in log  # quorum none, the directory's
    assert re.search(r"已根据 [0-9]+ 条记录重新计算根哈希（1 份提交，.*）：一致", log), log
    assert "root recomputed" not in log
    assert "policy:" not in log
    receipt = deployment.ok("auditor", "--lang", "zh", "audit", "receipt", code)
    assert re.search(r"信访件 [0-9a-f]{32} 的回执：仍在日志中", receipt), receipt
    assert "当前检查点是回执所附检查点（共 " in receipt
    assert re.search(r"第 1 条记录（叶索引 0，[0-9-]+ 提交给信访部门 national）", receipt), receipt


def test_the_same_commands_in_english_under_a_chinese_locale(
    deployment: Deployment, code: str
) -> None:
    log = deployment.ok("auditor", "--lang", "en", "audit", "log", env=ZH_LOCALE)
    assert "checkpoint signed by the log key from the pinned directory" in log
    assert "(policy: the directory)" in log
    assert re.search(r"root recomputed from [0-9]+ entries \(1 submissions, ", log), log
    assert not CJK.search(log.replace(deployment.url, "")), log
    receipt = deployment.ok("auditor", "--lang", "en", "audit", "receipt", code, env=ZH_LOCALE)
    assert "still in the log" in receipt
    # Without a flag the locale decides, and PETITION_LANG over it.
    assert "的日志：共" in deployment.ok("auditor", "audit", "log", env=ZH_LOCALE)
    chosen = deployment.ok("auditor", "audit", "log", env={"PETITION_LANG": "zh"})
    assert "检查点由已固定名录中的日志密钥签名" in chosen


def test_files_written_and_refused_in_chinese(deployment: Deployment, tmp_path: Path) -> None:
    policy = tmp_path / "log.policy"
    written = deployment.ok("auditor", "--lang", "zh", "audit", "policy", "--out", str(policy))
    assert "的信任策略已写入" in written, written
    assert "个见证方，所需见证数 none" in written, written
    again = deployment.run("auditor", "--lang", "zh", "audit", "policy", "--out", str(policy))
    assert again.returncode == 1
    # The one-line prefix stays the same in every language; the sentence is Chinese.
    assert f"petition: error: {policy} 已存在；请换一个新的文件名" in again.stderr, again.stderr
    english = deployment.run("auditor", "--lang", "en", "audit", "policy", "--out", str(policy))
    assert f"{policy} already exists; choose a new file name" in english.stderr


def test_the_threat_model_frame_in_both_languages(deployment: Deployment) -> None:
    """No --server and no --data: the rows that need them say why, in the reader's language."""
    zh = deployment.ok("auditor", "--lang", "zh", "audit", "threat-model")
    assert zh.startswith("威胁模型审计（无服务器，无数据目录，本设备的 PETITION_HOME）")
    assert re.search(r"^T-[A-Z]+-[0-9]+ +此处无法检查 ", zh, re.M), zh
    assert "需要服务器（--server URL）" in zh
    assert re.search(r"^威胁模型：共 [0-9]+ 项威胁，通过 [0-9]+ 项，未通过 0 项", zh, re.M), zh
    en = deployment.ok("auditor", "--lang", "en", "audit", "threat-model", env=ZH_LOCALE)
    assert en.startswith("Threat model audit (no server, no data directory, this device's")
    assert re.search(r"^threat model: [0-9]+ threats, [0-9]+ PASS, 0 FAIL, ", en, re.M), en


def test_the_statistics_report_comes_from_the_shared_catalog(deployment: Deployment) -> None:
    """The former stats.po is gone; its words are the shared catalogs' (one catalog system)."""
    assert not resources.files("client").joinpath("locales").is_dir()
    directory = verified_directory(deployment.client, deployment.fingerprint)
    stats = count_leaves([], directory, period="all", today=utc_today())
    zh = i18n.Translator("zh", i18n.load_translations())
    table = render_table(stats, zh)
    counted = zh.gettext(
        "Counted on %(today)s, by %(period)s; every figure of a petition is in the period of "
        "its receipt",
        today=stats.today.isoformat(),
        period=zh.gettext("all time"),
    )
    nothing = zh.gettext("No petition has been received yet.")
    for translated in (counted, nothing):
        assert CJK.search(translated), translated
        assert translated in table, table
    assert "核查：所有签名均有效" in table
    report = render_html(stats, zh)
    assert '<html lang="zh-Hans">' in report
    assert "<h1>信访统计</h1>" in report
    en = i18n.Translator("en", i18n.load_translations())
    assert "No petition has been received yet." in render_table(stats, en)


def test_audit_stats_in_chinese_against_the_server(deployment: Deployment, code: str) -> None:
    """`audit stats --lang` (the subcommand's own flag) and `petition --lang` agree."""
    table = deployment.ok("auditor", "--lang", "zh", "audit", "stats", "--period", "all")
    assert "已对照检查点验证" in table, table
    assert "全部机构" in table
    assert "目前逾期" in table
    own_flag = deployment.ok("auditor", "audit", "stats", "--period", "all", "--lang", "zh")
    assert own_flag == table
    english = deployment.ok("auditor", "--lang", "en", "audit", "stats", "--period", "all")
    assert "All bureaus" in english
    assert "Overdue now" in english
