"""Shared pieces of the task-pack generator. Runs inside the AppWorld virtual environment.

Nothing here imports trirole: the AppWorld venv (pydantic 1) does not have it installed.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from dataclasses import dataclass, field
from typing import Any

from appworld.apps import get_all_apps
from appworld.collections.apis import ApiCollection
from appworld.common.constants import CANARY_STRING
from appworld.common.datetime import DateTime
from appworld.common.utils import import_models_module
from munch import Munch

# The moment every task happens at (the supervisor's "now"). A Friday late morning.
WORLD_NOW = DateTime(2024, 6, 14, 10, 30, 0)

ALL_APPS: list[str] = list(get_all_apps())  # admin, api_docs, supervisor, amazon, phone, ...
# Apps every person in the world has an account on (login by email, except phone).
PERSON_APPS = ["gmail", "phone", "venmo", "splitwise", "spotify", "todoist", "simple_note"]
SUPERVISOR_APPS = ["amazon", "file_system", *PERSON_APPS]
SUPERVISOR_APPS = sorted(set(SUPERVISOR_APPS))

MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


def stable_id(slug: str) -> str:
    """AppWorld-style 7-hex scenario id, stable across seeds (depends on the slug only)."""
    return hashlib.sha1(f"trirole-pack:{slug}".encode()).hexdigest()[:7]


@dataclass
class Person:
    key: str  # role key inside the world, e.g. "roommate1"
    first_name: str
    last_name: str
    email: str
    phone_number: str
    sex: str
    birthday: str  # YYYY-MM-DD
    relationships: list[str] = field(default_factory=list)  # as seen from the supervisor
    passwords: dict[str, str] = field(default_factory=dict)  # app -> password
    apps: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def username(self, app: str) -> str:
        return self.phone_number if app == "phone" else self.email


class Ctx:
    """An ApiCollection + the apps' model modules bound to one in-memory database home."""

    def __init__(self, to_db_home_path: str, from_db_home_path: str, create_db: bool) -> None:
        self.db_home_path = to_db_home_path
        self.apis, self.requester = ApiCollection.load(
            to_db_home_path=to_db_home_path,
            from_db_home_path=from_db_home_path,
            load_apps=ALL_APPS,
            create_db=create_db,
            raise_on_failure=True,
            allow_datetime_change=True,
            max_num_requests=None,
            date_and_time=None,  # time is frozen by the generator itself
        )
        self.m = Munch({app: import_models_module(app) for app in ALL_APPS})
        self._tokens: dict[tuple[str, str], str] = {}

    def switch(self, to_db_home_path: str, from_db_home_path: str) -> None:
        """Point every app's models (and so the APIs) at another database home."""
        from appworld.apps.api_lib import set_local_dbs

        set_local_dbs(to_db_home_path, from_db_home_path, list(ALL_APPS))
        self.db_home_path = to_db_home_path
        self._tokens = {}

    def token(self, app: str, person: Person) -> str:
        key = (app, person.username(app))
        if key not in self._tokens:
            response = self.apis[app].login(
                username=person.username(app), password=person.passwords[app]
            )
            self._tokens[key] = response["access_token"]
        return self._tokens[key]

    def call(self, app: str, api: str, as_: Person | None = None, at: DateTime | None = None,
             **kwargs: Any) -> Any:
        if as_ is not None:
            kwargs["access_token"] = self.token(app, as_)
        if at is not None:
            kwargs["_system_datetime"] = at
        return self.apis[app][api](**kwargs)

    def user(self, app: str, person: Person):
        model = self.m[app].User
        if app == "phone":
            return model.find_one(phone_number=person.phone_number)
        return model.find_one(email=person.email)

    def close(self) -> None:
        self.requester.close()


# --------------------------------------------------------------------------------------
# Code templates for the ground truth files.
# --------------------------------------------------------------------------------------

def _canary(code: str) -> str:
    return f"# Canary String: {CANARY_STRING}\n" + code.lstrip()


def login_preamble(apps: list[str]) -> str:
    """Agent-style code that logs into the given apps as the supervisor."""
    lines = [
        "# the supervisor's profile and app passwords.",
        "supervisor_profile = apis.supervisor.show_profile()",
        "passwords = {",
        '    account_password["account_name"]: account_password["password"]',
        "    for account_password in apis.supervisor.show_account_passwords()",
        "}",
    ]
    for app in apps:
        username = 'supervisor_profile["phone_number"]' if app == "phone" else 'supervisor_profile["email"]'
        lines.append(
            f"{app}_access_token = apis.{app}.login(\n"
            f'    username={username}, password=passwords["{app}"]\n'
            ')["access_token"]'
        )
    return "\n".join(lines)


def solution_names(apps: list[str]) -> list[str]:
    """The names a solution's body can use: the arguments of solution.py's _solution and what
    login_preamble(apps) defines (so the parameters a solutions/<slug>.py solve() may take)."""
    return ["apis", "public_data", "supervisor_profile", "passwords", *(f"{app}_access_token" for app in apps)]


def indent(code: str, spaces: int = 4) -> str:
    return textwrap.indent(textwrap.dedent(code).strip("\n"), " " * spaces)


def solution_py(body: str) -> str:
    """solution.py in the official layout: solution(main_user, apis, requester, public_data)."""
    return _canary(
        "from munch import Munch\n\n"
        "from appworld.apps.admin.models import MainUserMunch\n"
        "from appworld.collections.apis import ApiCollection\n"
        "from appworld.common.types import AnswerType\n"
        "from appworld.requester import Requester\n\n\n"
        "def solution(\n"
        "    main_user: MainUserMunch, apis: ApiCollection, requester: Requester, public_data: Munch\n"
        ") -> AnswerType:\n"
        "    answer = _solution(main_user, apis, requester, public_data)\n"
        '    apis.supervisor.complete_task(answer=answer, status="success")\n'
        "    return answer\n\n\n"
        "def _solution(\n"
        "    main_user: MainUserMunch, apis: ApiCollection, requester: Requester, public_data: Munch\n"
        ") -> AnswerType:\n"
        f"{indent(body)}\n"
        "    return answer\n"
    )


def compiled_solution_py(body: str, public_data: dict) -> str:
    """Self-contained solution(apis, requester) with public_data inlined (as AppWorld's verify uses)."""
    public_data_literal = json.dumps(public_data, indent=4, sort_keys=True)
    return _canary(
        "from appworld.collections.apis import ApiCollection\n"
        "from appworld.requester import Requester\n\n\n"
        "def solution(apis: ApiCollection, requester: Requester) -> None:\n"
        f"{indent('public_data = ' + public_data_literal)}\n"
        f"{indent(body)}\n"
        "    # commit task completion\n"
        '    apis.supervisor.complete_task(answer=answer, status="success")\n'
    )


ANSWER_PROLOGUE = """
active_task = models.end.supervisor.Task.all()[0]
try:
    predicted_answer = json.loads(active_task.answer)
except json.JSONDecodeError:
    predicted_answer = active_task.answer
test.task_completed = active_task.status == "success"
"""


def evaluation_py(checks_body: str) -> str:
    """evaluation.py in the official layout: the answer prologue, then the scenario's checks
    (the statements of evaluations/<slug>.py's checks())."""
    body = indent(ANSWER_PROLOGUE) + "\n" + indent(checks_body)
    return _canary(
        "import json\n\n"
        "from munch import Munch\n\n"
        "from appworld.apps.admin.models import MainUserMunch\n"
        "from appworld.collections.models import ModelCollectionPair\n"
        "from appworld.common.types import AnswerType\n"
        "from appworld.common.utils import list_of, set_of\n"
        "from appworld.evaluator import TestTracker\n\n\n"
        "def evaluate(\n"
        "    test: TestTracker,\n"
        "    public_data: Munch,\n"
        "    private_data: Munch,\n"
        "    main_user: MainUserMunch,\n"
        "    models: ModelCollectionPair,\n"
        "    ground_truth_answer: AnswerType,\n"
        ") -> None:\n"
        f"{body}\n"
    )
