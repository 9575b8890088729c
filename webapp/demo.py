"""The demo data set: one county bureau with a town office below it, a few hundred
enterprises, a realistic item list, this month's plan, visits in every state, and flags.

Reference data is inserted directly; visits, scans, decisions, reports and resolutions go
through the same service functions the app uses, at simulated times, so the demo's
history (and its audit chain) is what real use would have produced.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency, Credential, Inspector
from webapp.audit import service as audit
from webapp.auth import security
from webapp.auth.models import User
from webapp.config import Settings
from webapp.db import begin_write
from webapp.enterprises import uscc
from webapp.enterprises.models import Enterprise
from webapp.enums import (
    AgencyLevel,
    Approval,
    CredentialStatus,
    EnterpriseClass,
    ExtraReason,
    FindingOutcome,
    FlagKind,
    PlanKind,
    Role,
)
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry
from webapp.web import to_local, tz

DEMO_PASSWORD = "demo-pass-2026"

ITEMS: list[tuple[str, str, str, int | None]] = [
    (
        "AQ-001",
        "安全生产责任制建立和落实情况",
        "《中华人民共和国安全生产法》第二十一条、第二十二条",
        None,
    ),
    (
        "AQ-002",
        "安全生产管理机构设置和安全生产管理人员配备情况",
        "《中华人民共和国安全生产法》第二十四条",
        None,
    ),
    (
        "AQ-003",
        "主要负责人和安全生产管理人员安全生产知识和管理能力考核情况",
        "《中华人民共和国安全生产法》第二十七条",
        2,
    ),
    ("AQ-004", "从业人员安全生产教育和培训情况", "《中华人民共和国安全生产法》第二十八条", None),
    ("AQ-005", "特种作业人员持证上岗情况", "《中华人民共和国安全生产法》第三十条", None),
    (
        "AQ-006",
        "建设项目安全设施“三同时”情况",
        "《中华人民共和国安全生产法》第三十一条至第三十四条",
        1,
    ),
    ("AQ-007", "安全警示标志设置情况", "《中华人民共和国安全生产法》第三十五条", None),
    ("AQ-008", "安全设备维护、保养和定期检测情况", "《中华人民共和国安全生产法》第三十六条", None),
    ("AQ-009", "重大危险源登记建档、检测评估和监控情况", "《中华人民共和国安全生产法》第四十条", 4),
    (
        "AQ-010",
        "安全风险分级管控和事故隐患排查治理情况",
        "《中华人民共和国安全生产法》第四十一条",
        None,
    ),
    (
        "AQ-011",
        "生产经营场所和员工宿舍安全出口、疏散通道情况",
        "《中华人民共和国安全生产法》第四十二条",
        None,
    ),
    (
        "AQ-012",
        "动火、受限空间等危险作业现场安全管理情况",
        "《中华人民共和国安全生产法》第四十三条",
        None,
    ),
    ("AQ-013", "劳动防护用品配备和使用情况", "《中华人民共和国安全生产法》第四十五条", None),
    (
        "AQ-014",
        "生产安全事故应急救援预案制定和演练情况",
        "《中华人民共和国安全生产法》第八十一条",
        2,
    ),
    (
        "WH-001",
        "危险化学品储存、使用安全管理情况",
        "《危险化学品安全管理条例》第二十条、第二十四条",
        None,
    ),
    (
        "WH-002",
        "危险化学品重大危险源安全包保责任落实情况",
        "《危险化学品重大危险源监督管理暂行规定》第五条",
        4,
    ),
    ("GM-001", "粉尘防爆安全管理情况", "《工贸企业粉尘防爆安全规定》第五条至第十四条", None),
    (
        "GM-002",
        "有限空间作业安全管理情况",
        "《工贸企业有限空间作业安全规定》第五条至第十九条",
        None,
    ),
]

PLACES = [
    "城关",
    "东湖",
    "新港",
    "南山",
    "青石",
    "白沙",
    "柳河",
    "金桥",
    "西岭",
    "北塘",
    "花园",
    "大王庄",
]
CORES = [
    "华泰",
    "金源",
    "宏达",
    "鑫盛",
    "永安",
    "恒丰",
    "瑞祥",
    "德润",
    "中晟",
    "天成",
    "明远",
    "嘉禾",
    "兴业",
    "广利",
    "长青",
    "博远",
    "聚丰",
    "新锐",
    "正阳",
    "合力",
]
INDUSTRIES: list[tuple[str, str, EnterpriseClass]] = [
    ("化工", "危险化学品", EnterpriseClass.hazchem_metallurgy),
    ("精细化工", "危险化学品", EnterpriseClass.hazchem_metallurgy),
    ("冶金", "冶金", EnterpriseClass.hazchem_metallurgy),
    ("机械制造", "机械", EnterpriseClass.other),
    ("食品", "轻工", EnterpriseClass.other),
    ("纺织", "纺织", EnterpriseClass.other),
    ("建材", "建材", EnterpriseClass.other),
    ("仓储物流", "商贸", EnterpriseClass.other),
    ("家具", "轻工", EnterpriseClass.other),
    ("电子", "机械", EnterpriseClass.other),
    ("印刷包装", "轻工", EnterpriseClass.other),
]
STREETS = ["工业大道", "滨江路", "长江路", "迎宾大道", "科技园路", "建设路", "纬三路", "经五路"]


@dataclass
class Reference:
    county: Agency
    town: Agency
    inspectors: dict[str, Inspector]
    enterprises: list[Enterprise]
    items: dict[str, InspectionItem]
    plan_entries: list[PlanEntry]
    users: dict[str, User]


def is_empty(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is None


def avatar(seed: int) -> bytes:
    """A plain head-and-shoulders silhouette on a coloured ground (no real faces)."""
    rng = random.Random(seed)
    bg = (rng.randint(150, 210), rng.randint(170, 215), rng.randint(190, 235))
    img = Image.new("RGB", (150, 200), bg)
    d = ImageDraw.Draw(img)
    d.ellipse([45, 35, 105, 100], fill=(245, 245, 245))
    d.rounded_rectangle([20, 110, 130, 220], radius=40, fill=(30, 60, 110))
    d.polygon([(65, 110), (85, 110), (75, 140)], fill=(245, 245, 245))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _shift_month(now: datetime, offset: int) -> tuple[int, int]:
    local = to_local(now)
    index = local.year * 12 + local.month - 1 + offset
    return index // 12, index % 12 + 1


def load_reference(
    session: Session,
    *,
    now: datetime,
    created_at: datetime | None = None,
    enterprises: int = 300,
) -> Reference:
    """Agencies, inspectors, enterprises, items, plans and the demo accounts. `now` sets
    this month's plan and credential validity; `created_at` stamps the records."""
    begin_write(session)
    stamp = created_at or now
    rng = random.Random(2026)
    city = Agency(code="320500", name="示例市应急管理局", level=AgencyLevel.city, created_at=stamp)
    session.add(city)
    session.flush()
    county = Agency(
        code="320581",
        name="示例县应急管理局",
        level=AgencyLevel.county,
        parent_id=city.id,
        created_at=stamp,
    )
    session.add(county)
    session.flush()
    town = Agency(
        code="320581101",
        name="城关镇应急管理所",
        level=AgencyLevel.town,
        parent_id=county.id,
        created_at=stamp,
    )
    session.add(town)
    session.flush()

    today = now.date()
    people: list[tuple[str, Agency, date, date, CredentialStatus]] = [
        (
            "李明",
            county,
            today - timedelta(days=700),
            today + timedelta(days=400),
            CredentialStatus.valid,
        ),
        (
            "王芳",
            county,
            today - timedelta(days=500),
            today + timedelta(days=600),
            CredentialStatus.valid,
        ),
        (
            "张伟",
            county,
            today - timedelta(days=300),
            today + timedelta(days=800),
            CredentialStatus.valid,
        ),
        (
            "刘洋",
            county,
            today - timedelta(days=200),
            today + timedelta(days=900),
            CredentialStatus.valid,
        ),
        (
            "陈静",
            county,
            today - timedelta(days=1100),
            today - timedelta(days=20),
            CredentialStatus.valid,
        ),
        (
            "赵磊",
            county,
            today - timedelta(days=400),
            today + timedelta(days=300),
            CredentialStatus.suspended,
        ),
        (
            "孙强",
            town,
            today - timedelta(days=250),
            today + timedelta(days=700),
            CredentialStatus.valid,
        ),
        (
            "周敏",
            town,
            today - timedelta(days=150),
            today + timedelta(days=750),
            CredentialStatus.valid,
        ),
    ]
    inspectors: dict[str, Inspector] = {}
    for n, (name, agency, valid_from, valid_until, status) in enumerate(people, start=1):
        inspector = Inspector(
            name=name,
            agency_id=agency.id,
            photo=avatar(n),
            photo_type="image/jpeg",
            created_at=stamp,
        )
        session.add(inspector)
        session.flush()
        session.add(
            Credential(
                number=f"苏应急执字{32058100 + n:08d}号",
                inspector_id=inspector.id,
                issuing_agency_id=county.id,
                valid_from=valid_from,
                valid_until=valid_until,
                status=status,
                created_at=stamp,
            )
        )
        inspectors[name] = inspector

    items: dict[str, InspectionItem] = {}
    for code, title, basis, max_per_year in ITEMS:
        item = InspectionItem(
            code=code,
            title=title,
            legal_basis=basis,
            description="",
            max_per_year=max_per_year,
            created_at=stamp,
        )
        session.add(item)
        items[code] = item

    ents: list[Enterprise] = []
    names: set[str] = set()
    while len(ents) < enterprises:
        place, core = rng.choice(PLACES), rng.choice(CORES)
        industry, sector, klass = rng.choice(INDUSTRIES)
        name = f"示例县{place}{core}{industry}有限公司"
        if name in names:
            continue
        names.add(name)
        grade = rng.choice(["1", "2", "2", "3", "3", "none"])
        ent = Enterprise(
            name=name,
            uscc=uscc.generate(rng),
            address=f"示例县{place}{rng.choice(STREETS)}{rng.randint(1, 399)}号",
            industry=sector,
            enterprise_class=klass,
            risk_grade=grade,
            agency_id=town.id if place == "城关" else county.id,
            created_at=stamp,
        )
        session.add(ent)
        ents.append(ent)
    session.flush()

    general = [items[c] for c in ("AQ-001", "AQ-004", "AQ-010", "AQ-013")]
    chem = [items[c] for c in ("AQ-001", "AQ-009", "WH-001", "WH-002")]
    town_ents = [e for e in ents if e.agency_id == town.id][:8]
    entries: list[PlanEntry] = []
    # Last month's, this month's and next month's plans, so the demo history never falls
    # outside a plan at a month's edge.
    for offset in (-1, 0, 1):
        year, mon = _shift_month(now, offset)
        month = f"{year:04d}-{mon:02d}"
        for agency, planned in ((county, ents[:40]), (town, town_ents)):
            plan = Plan(
                agency_id=agency.id,
                kind=PlanKind.monthly,
                year=year,
                month=mon,
                title=f"{agency.name}{year}年{mon}月执法检查计划",
                created_at=created_at,
            )
            session.add(plan)
            session.flush()
            for ent in planned:
                entry = PlanEntry(
                    plan_id=plan.id,
                    agency_id=agency.id,
                    enterprise_id=ent.id,
                    month=month,
                    created_at=created_at,
                )
                entry.items = (
                    chem if ent.enterprise_class == EnterpriseClass.hazchem_metallurgy else general
                )
                session.add(entry)
                if offset == 0 and agency is county:
                    entries.append(entry)
    session.flush()

    pw = security.hash_password(DEMO_PASSWORD)
    users = {
        "inspector1": User(
            username="inspector1",
            display_name="李明",
            password_hash=pw,
            role=Role.inspector,
            inspector_id=inspectors["李明"].id,
            agency_id=county.id,
            created_at=stamp,
        ),
        "inspector2": User(
            username="inspector2",
            display_name="王芳",
            password_hash=pw,
            role=Role.inspector,
            inspector_id=inspectors["王芳"].id,
            agency_id=county.id,
            created_at=stamp,
        ),
        "inspector3": User(
            username="inspector3",
            display_name="孙强",
            password_hash=pw,
            role=Role.inspector,
            inspector_id=inspectors["孙强"].id,
            agency_id=town.id,
            created_at=stamp,
        ),
        "manager1": User(
            username="manager1",
            display_name=f"{entries[0].enterprise.name[:6]}·安全员",
            password_hash=pw,
            role=Role.manager,
            enterprise_id=entries[0].enterprise_id,
            created_at=stamp,
        ),
        "manager2": User(
            username="manager2",
            display_name=f"{entries[1].enterprise.name[:6]}·安全员",
            password_hash=pw,
            role=Role.manager,
            enterprise_id=entries[1].enterprise_id,
            created_at=stamp,
        ),
        "supervisor1": User(
            username="supervisor1",
            display_name="法制审核科·吴静",
            password_hash=pw,
            role=Role.supervisor,
            agency_id=county.id,
            created_at=stamp,
        ),
        "admin": User(
            username="admin",
            display_name="系统管理员",
            password_hash=pw,
            role=Role.admin,
            created_at=stamp,
        ),
    }
    session.add_all(users.values())
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="demo.loaded",
        object_type="system",
        object_id="demo",
        now=now,
        data={"enterprises": len(ents), "plan_entries": len(entries)},
    )
    session.commit()
    return Reference(
        county=county,
        town=town,
        inspectors=inspectors,
        enterprises=ents,
        items=items,
        plan_entries=entries,
        users=users,
    )


def _local_at(now: datetime, days: int, hour: int, minute: int = 0) -> datetime:
    """`days` from today (local time), at hour:minute local, as UTC."""
    day = to_local(now).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz()).astimezone(UTC)


def load(session: Session, *, now: datetime, settings: Settings) -> None:
    """Reference data, then a history of visits in every state, made through the services
    at simulated times (so scans, flags and the audit chain are what real use produces)."""
    from webapp.checkin import passes
    from webapp.checkin import service as checkin
    from webapp.findings import service as findings
    from webapp.imports import hygiene
    from webapp.supervision import service as supervision
    from webapp.visits import service as visits
    from webapp.visits.models import Visit

    ref = load_reference(session, now=now, created_at=now - timedelta(days=45))
    users = ref.users
    ents = [e.enterprise for e in ref.plan_entries]
    entries = session.scalars(select(PlanEntry).where(PlanEntry.agency_id == ref.county.id))
    entry = {(e.enterprise_id, e.month): e for e in entries}

    def past(at: datetime) -> datetime:
        return min(at, now)

    staff = ref.inspectors
    pw = users["admin"].password_hash
    # One safety manager account for each enterprise the history touches.
    managers: dict[int, User] = {ents[0].id: users["manager1"], ents[1].id: users["manager2"]}
    for n, ent in enumerate(ents[2:10], start=3):
        mgr = User(
            username=f"manager{n}",
            display_name=f"{ent.name[3:9]}·安全员",
            password_hash=pw,
            role=Role.manager,
            enterprise_id=ent.id,
            created_at=now - timedelta(days=40),
        )
        session.add(mgr)
        managers[ent.id] = mgr
    session.commit()

    def register(
        who: str,
        ent: Enterprise,
        *,
        at: datetime,
        start: datetime,
        hours: int = 3,
        co: list[str] | None = None,
        extra: ExtraReason | None = None,
        text: str = "",
        items: list[str] | None = None,
    ) -> Visit:
        data = visits.RegistrationInput(
            enterprise_id=ent.id,
            plan_entry_id=None if extra else entry[ent.id, to_local(start).strftime("%Y-%m")].id,
            extra_reason=extra,
            extra_reason_text=text,
            co_inspector_ids=[staff[n].id for n in (co or ["王芳"])],
            item_ids=[ref.items[c].id for c in items] if items else [],
            window_start=start,
            window_end=start + timedelta(hours=hours),
        )
        return visits.register_visit(
            session, actor=users[who], data=data, now=at, settings=settings
        )

    def scan(
        visit: Visit,
        *,
        at: datetime,
        shown_at: datetime | None = None,
        by: Enterprise | None = None,
    ) -> None:
        shown = passes.current_pass(visit, now=shown_at or at, settings=settings)
        manager = managers[(by or visit.enterprise).id]
        checkin.scan_pass(
            session,
            actor=manager,
            presented=shown.url,
            device_time=at + timedelta(seconds=4),
            now=at,
            settings=settings,
            idempotency_key=None,
        )

    chem = ["AQ-001", "AQ-009", "WH-001", "WH-002"]
    # Last month: a re-check at manager1's enterprise, approved, then confirmed.
    recheck = register(
        "inspector1",
        ents[0],
        at=_local_at(now, -33, 15),
        start=_local_at(now, -32, 9),
        extra=ExtraReason.recheck,
        text="复查上次检查责令整改的动火作业管理问题",
        items=["AQ-012", "AQ-010"],
    )
    supervision.decide_extra_visit(
        session,
        actor=users["supervisor1"],
        public_id=recheck.public_id,
        decision=Approval.approved,
        note="同意复查",
        now=_local_at(now, -33, 17),
    )
    scan(recheck, at=_local_at(now, -32, 9, 40))

    # This month, planned and confirmed; one after a first try with an old screenshot.
    done = register(
        "inspector1", ents[2], at=_local_at(now, -7, 16), start=_local_at(now, -5, 9), co=["张伟"]
    )
    scan(done, at=_local_at(now, -5, 9, 35), shown_at=_local_at(now, -5, 9, 20))
    scan(done, at=_local_at(now, -5, 9, 36))
    # Registered only minutes before the scan.
    hasty = register(
        "inspector2",
        ents[3],
        at=_local_at(now, -3, 13, 50),
        start=_local_at(now, -3, 14),
        co=["刘洋"],
    )
    scan(hasty, at=_local_at(now, -3, 14, 2))
    # One valid credential only (陈静's expired): flagged at registration, still confirmed.
    thin = register(
        "inspector1", ents[9], at=_local_at(now, -4, 10), start=_local_at(now, -2, 14), co=["陈静"]
    )
    scan(thin, at=_local_at(now, -2, 14, 20))
    # Window passed, never confirmed.
    register(
        "inspector2", ents[4], at=_local_at(now, -4, 9), start=_local_at(now, -2, 9), co=["张伟"]
    )
    # Cancelled.
    gone = register("inspector1", ents[5], at=_local_at(now, -2, 9), start=_local_at(now, 2, 9))
    visits.cancel_visit(
        session,
        actor=users["inspector1"],
        public_id=gone.public_id,
        reason="企业停产检修，改期检查",
        now=_local_at(now, -1, 8),
    )
    # Extra visits: at the gate before approval (the scan refused, approved on the spot,
    # then confirmed: flagged), rejected, and pending.
    rushed = register(
        "inspector2",
        ents[7],
        at=_local_at(now, -1, 7, 30),
        start=_local_at(now, -1, 9),
        extra=ExtraReason.accident,
        co=["刘洋"],
        text="企业发生一起轻伤事故，到现场核查",
        items=["AQ-001", "AQ-012"],
    )
    scan(rushed, at=_local_at(now, -1, 9, 15))
    supervision.decide_extra_visit(
        session,
        actor=users["supervisor1"],
        public_id=rushed.public_id,
        decision=Approval.approved,
        note="现场补批：事故核查",
        now=_local_at(now, -1, 9, 40),
    )
    scan(rushed, at=_local_at(now, -1, 9, 45))
    refused = register(
        "inspector1",
        ents[8],
        at=_local_at(now, -1, 16),
        start=_local_at(now, 1, 9),
        extra=ExtraReason.referral,
        text="市局转办：群众反映夜间生产",
        items=["AQ-001"],
    )
    supervision.decide_extra_visit(
        session,
        actor=users["supervisor1"],
        public_id=refused.public_id,
        decision=Approval.rejected,
        note="已列入下月计划，不另行检查",
        now=past(_local_at(now, 0, 8)),
    )
    pending = register(
        "inspector2",
        ents[6],
        at=past(_local_at(now, 0, 8, 30)),
        start=_local_at(now, 1, 14),
        extra=ExtraReason.complaint,
        co=["张伟"],
        text="12345热线举报：仓库堆放危化品",
        items=chem,
    )
    del pending
    # A pass shown at the wrong enterprise's gate.
    scan(done, at=_local_at(now, -5, 10, 30), by=ents[1])
    # An enterprise reports people who showed no valid pass.
    checkin.report_unregistered(
        session,
        actor=users["manager2"],
        occurred_at=_local_at(now, -2, 15, 10),
        who="两人自称县应急管理局执法人员，未出示执法证",
        what_they_said="称要检查消防通道，未出示二维码，拍照后离开",
        now=_local_at(now, -2, 16),
    )

    # What the inspections found: at ents[2] a hazard and a major hazard already past its
    # deadline, a case opened with a fine, the notice acknowledged; at ents[3] all compliant,
    # the notice still waiting for the enterprise.
    def record(
        visit: Visit, outcomes: list[tuple[str, str, int | None]], at: datetime, **more: Any
    ) -> Any:
        by_code = {i.code: i for i in visit.items}
        results = [
            findings.ItemResult(
                item_id=item.id,
                outcome=FindingOutcome(outcome),
                note=note,
                rectify_by=(to_local(at) + timedelta(days=days)).date() if days else None,
            )
            for item, (outcome, note, days) in zip(
                [by_code[c] for c in sorted(by_code)], outcomes, strict=False
            )
        ]
        results += [
            findings.ItemResult(item_id=i.id, outcome=FindingOutcome.compliant)
            for i in sorted(visit.items, key=lambda i: i.code)[len(outcomes) :]
        ]
        return findings.record_inspection(
            session,
            actor=users[more.pop("who", "inspector1")],
            public_id=visit.public_id,
            results=results,
            now=at,
            **more,
        )

    found = record(
        done,
        [
            ("hazard", "安全管理台账未按月更新", 20),
            ("major_hazard", "危化品仓库禁忌物料混存", 3),
        ],
        _local_at(now, -5, 16),
        summary="发现一般隐患1项、重大事故隐患1项，已下达责令限期整改指令书",
        case_opened=True,
        case_number="示县应急罚〔2026〕18号",
        fine_yuan="30000",
    )
    findings.acknowledge_notice(
        session,
        actor=managers[ents[2].id],
        inspection_id=found.id,
        note="已收到，立即整改",
        now=_local_at(now, -4, 9),
    )
    record(hasty, [], _local_at(now, -3, 17), who="inspector2", summary="未发现问题")
    findings.sweep_overdue_hazards(session, now=now)
    # The same enterprise put twice into this month's plan (a second section's entry): the
    # supervisor is told, with the merge proposed.
    this_month = to_local(now).strftime("%Y-%m")
    twice = entry[ents[12].id, this_month]
    session.add(
        PlanEntry(
            plan_id=twice.plan_id,
            agency_id=twice.agency_id,
            enterprise_id=twice.enterprise_id,
            month=this_month,
            note="危化品专项科室另报",
            created_at=now - timedelta(days=40),
        )
    )
    session.flush()
    hygiene.raise_plan_flags(session, months=[this_month], now=now - timedelta(days=40))
    session.commit()

    # Today: inspector1's visit at manager1's enterprise (the tour's pass), and an upcoming
    # one at manager2's.
    register(
        "inspector1",
        ents[0],
        at=now - timedelta(days=1),
        start=max(
            (now - timedelta(hours=1)).replace(second=0, microsecond=0), _local_at(now, 0, 0, 30)
        ),
    )
    upcoming = register(
        "inspector1", ents[1], at=now - timedelta(hours=20), start=_local_at(now, 1, 9)
    )
    # The town office joins it (a joint visit: one entry, each office its own items).
    visits.join_visit(
        session,
        actor=users["inspector3"],
        public_id=upcoming.public_id,
        inspector_ids=[staff["周敏"].id],
        item_ids=[ref.items["AQ-012"].id],
        now=now - timedelta(hours=2),
    )

    supervision.sweep_unconfirmed(session, now=now)
    flags = supervision.list_flags(session, actor=users["supervisor1"], kind=FlagKind.short_notice)
    for row in flags.items[:1]:
        supervision.resolve_flag(
            session,
            actor=users["supervisor1"],
            flag_id=row.flag.id,
            note="已核实：企业临时停产窗口，当日补报备，予以认可。",
            now=now,
        )
