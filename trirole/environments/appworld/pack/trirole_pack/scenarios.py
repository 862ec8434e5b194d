"""The pack's scenarios. Each scenario is one instruction template with three variants (tasks
`<scenario_id>_1..3`), a ground-truth solution written the way an agent would (through the apps'
APIs only; the module solutions/<slug>.py), and AppWorld-style evaluation checks over the
start/end databases (the module evaluations/<slug>.py, the same for every variant).

Every variant reads the shared world (world.World); nothing here imports trirole.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .common import MONTHS, login_preamble, solution_names
from .evaluations import Evaluation, evaluation
from .solutions import all_pages, body_source, helper_source, solve_function
from .world import World


@dataclass
class TaskSpec:
    instruction: str
    public_data: dict
    private_data: dict
    answer: Any
    perturbation: str  # agent-style code that alters something the task must leave alone


@dataclass
class Scenario:
    slug: str
    title: str
    difficulty: int
    apps: list[str]  # required apps (the supervisor app is implied)
    kind: str  # "question" | "action"
    make_variants: Callable[[World], list[TaskSpec]]

    def evaluation(self) -> Evaluation:
        """evaluations/<slug>.py: the checks of every variant."""
        return evaluation(self.slug)

    def solution_body(self) -> str:
        """solutions/<slug>.py's solve() as one code block: the logins that define its access
        tokens, the paging helper when it uses it, then its statements (which set `answer`)."""
        solve = solve_function(self.slug)
        unknown = set(inspect.signature(solve).parameters) - set(solution_names(self.apps))
        if unknown:
            raise ValueError(f"solutions/{self.slug}.py: solve() takes {sorted(unknown)}, which the task's "
                             f"solution does not define; it may take {solution_names(self.apps)}")
        statements = body_source(solve)
        body = login_preamble(self.apps)
        if "all_pages(" in statements:
            body += "\n" + helper_source(all_pages)
        return body + "\n" + statements


def _perturb(apps: list[str], code: str) -> str:
    return login_preamble(apps) + "\n" + code.strip("\n")


def _sup_user_id(world: World, app: str) -> int:
    return world.data["user_ids"][app]


def _time12(hhmm: str) -> str:
    hour, minute = (int(x) for x in hhmm.split(":"))
    suffix = "AM" if hour < 12 else "PM"
    return f"{(hour - 1) % 12 + 1}:{minute:02d} {suffix}"


# =========================================================================== difficulty 1

def _notelookup(world: World) -> list[TaskSpec]:
    templates = {
        "Home Network": "What is the Wi-Fi password saved in my Simple Note note titled '{t}'?",
        "Gym Membership": "What's my gym locker combination? It is in my Simple Note note called '{t}'.",
        "Bike Stuff": "I need my bike lock code. Look it up in my Simple Note note '{t}' and tell me what it is.",
    }
    specs = []
    for title, template in templates.items():
        lookup = world.data["note_lookups"][title]
        specs.append(TaskSpec(
            instruction=template.format(t=title),
            public_data={"note_title": title, "field": lookup["field"]},
            private_data={"note_id": world.data["notes"][title]},
            answer=lookup["value"],
            perturbation=_perturb(["simple_note"], f"""
apis.simple_note.delete_note(note_id={world.data['notes']['Books to Read']}, access_token=simple_note_access_token)
"""),
        ))
    return specs


NOTELOOKUP = Scenario(
    slug="notelookup", title="Look up a value saved in a note", difficulty=1,
    apps=["simple_note"], kind="question", make_variants=_notelookup)


def _playlistlen(world: World) -> list[TaskSpec]:
    specs = []
    for title in ["Morning Run", "Rainy Sunday", "Dinner Party"]:
        playlist = world.data["playlists"][title]
        specs.append(TaskSpec(
            instruction=f"How many songs are in my Spotify playlist titled '{title}'?",
            public_data={"playlist_title": title},
            private_data={"playlist_id": playlist["id"]},
            answer=len(playlist["song_ids"]),
            perturbation=_perturb(["spotify"], f"""
apis.spotify.remove_song_from_playlist(
    playlist_id={world.data['playlists']['Focus Flow']['id']},
    song_id={world.data['playlists']['Focus Flow']['song_ids'][0]},
    access_token=spotify_access_token,
)
"""),
        ))
    return specs


PLAYLISTLEN = Scenario(
    slug="playlistlen", title="Count the songs of one of my playlists", difficulty=1,
    apps=["spotify"], kind="question", make_variants=_playlistlen)


def _todoistdone(world: World) -> list[TaskSpec]:
    projects = world.data["todoist_projects"]
    specs = []
    for project, task in [("Errands", "Renew car registration"), ("Work", "Submit Q2 expense report"),
                          ("Home", "Fix the leaking kitchen faucet")]:
        task_id = projects[project]["tasks"][task]
        specs.append(TaskSpec(
            instruction=f"I've finished '{task}' from my '{project}' project in Todoist. Mark it as completed.",
            public_data={"project_name": project, "task_title": task},
            private_data={"task_id": task_id},
            answer=None,
            perturbation=_perturb(["todoist"], f"""
apis.todoist.update_task(task_id={projects['Personal']['tasks']['Call grandma']}, is_completed=True, access_token=todoist_access_token)
"""),
        ))
    return specs


TODOISTDONE = Scenario(
    slug="todoistdone", title="Mark a Todoist task as completed", difficulty=1,
    apps=["todoist"], kind="action", make_variants=_todoistdone)


def _phonealarm(world: World) -> list[TaskSpec]:
    weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"]
    week = weekdays + ["saturday", "sunday"]
    variants = [
        ("06:15", "Morning run", weekdays, "every weekday (Monday to Friday)"),
        ("21:30", "Take vitamins", week, "on every day of the week"),
        ("07:45", "Farmers market", ["saturday", "sunday"], "on Saturdays and Sundays"),
    ]
    specs = []
    for time, label, days, phrase in variants:
        specs.append(TaskSpec(
            instruction=f"Set a new alarm on my phone for {_time12(time)}, labeled '{label}', that repeats {phrase}.",
            public_data={"time": time, "label": label, "repeat_days": days},
            private_data={"user_id": _sup_user_id(world, "phone")},
            answer=None,
            perturbation=_perturb(["phone"], """
alarms = apis.phone.show_alarms(access_token=phone_access_token, page_limit=20)
wake_up = [a for a in alarms if a["label"] == "Wake up"][0]
apis.phone.update_alarm(alarm_id=wake_up["alarm_id"], enabled=False, access_token=phone_access_token)
"""),
        ))
    return specs


PHONEALARM = Scenario(
    slug="phonealarm", title="Create a repeating phone alarm", difficulty=1,
    apps=["phone"], kind="action", make_variants=_phonealarm)


def _filemove(world: World) -> list[TaskSpec]:
    home = f"/home/{world.supervisor.first_name.lower()}"
    specs = []
    for name, folder, description in [("lease_renewal_2024.pdf", "housing", "housing documents"),
                                      ("w2_form_2023.pdf", "taxes", "tax documents"),
                                      ("vaccination_record.pdf", "health", "health documents")]:
        specs.append(TaskSpec(
            instruction=(f"Move the file '{name}' from my downloads folder (~/downloads) into my "
                         f"{description} folder (~/documents/{folder})."),
            public_data={"file_name": name, "destination_directory": f"~/documents/{folder}"},
            private_data={
                "user_id": _sup_user_id(world, "file_system"),
                "source_path": f"{home}/downloads/{name}",
                "destination_path": f"{home}/documents/{folder}/{name}",
                "content": world.data["downloads"][name],
            },
            answer=None,
            perturbation=_perturb(["file_system"], """
apis.file_system.delete_file(file_path="~/downloads/resume_draft.docx", access_token=file_system_access_token)
"""),
        ))
    return specs


FILEMOVE = Scenario(
    slug="filemove", title="Move a downloaded file into a documents folder", difficulty=1,
    apps=["file_system"], kind="action", make_variants=_filemove)

# =========================================================================== difficulty 2


def _venmosent(world: World) -> list[TaskSpec]:
    specs = []
    for key in ["friend1", "roommate2", "sister"]:
        person = world.people[key]
        info = world.data["venmo_sent_totals"][key]
        month = MONTHS[info["month"] - 1]
        specs.append(TaskSpec(
            instruction=f"How much money did I send to {person.name} on Venmo in {month} 2024?",
            public_data={"person_name": person.name, "month": info["month"], "year": 2024},
            private_data={"person_email": person.email},
            answer=info["total"],
            perturbation=_perturb(["venmo"], f"""
apis.venmo.create_transaction(
    receiver_email="{world.people['friend3'].email}", amount=3.5, description="coffee", access_token=venmo_access_token
)
"""),
        ))
    return specs


VENMOSENT = Scenario(
    slug="venmosent", title="Total sent to a person on Venmo in a month", difficulty=2,
    apps=["venmo"], kind="question", make_variants=_venmosent)


def _splitowe(world: World) -> list[TaskSpec]:
    specs = []
    for group in ["Lake Tahoe Trip", "Office Lunch Fund", "Family Reunion"]:
        info = world.data["splitwise_groups"][group]
        specs.append(TaskSpec(
            instruction=f"How much do I owe in total to the other members of my Splitwise group '{group}'?",
            public_data={"group_name": group},
            private_data={"group_id": info["id"], "you_owe": info["you_owe"]},
            answer=round(sum(info["you_owe"].values()), 2),
            perturbation=_perturb(["splitwise"], f"""
apis.splitwise.update_group(
    group_id={world.data['splitwise_groups']['Concert Crew']['id']}, description="Concerts 2024", access_token=splitwise_access_token
)
"""),
        ))
    return specs


SPLITOWE = Scenario(
    slug="splitowe", title="What I owe in a Splitwise group", difficulty=2,
    apps=["splitwise"], kind="question", make_variants=_splitowe)


def _notesongs(world: World) -> list[TaskSpec]:
    specs = []
    variants = [("Wedding Playlist Ideas", "Wedding Dance Floor"), ("Road Trip Songs", "Highway 1 Drive"),
                ("Study Music", "Deep Focus")]
    for (note, playlist), song_ids in zip(variants, world.data["song_lists"], strict=True):
        specs.append(TaskSpec(
            instruction=(f"Create a private Spotify playlist called '{playlist}' and add all the songs "
                         f"listed in my Simple Note note '{note}' to it."),
            public_data={"note_title": note, "playlist_title": playlist},
            private_data={"song_ids": sorted(song_ids), "user_id": _sup_user_id(world, "spotify")},
            answer=None,
            perturbation=_perturb(["spotify"], f"""
throwbacks = {world.data['playlists']['Throwbacks']['id']}
apis.spotify.add_song_to_playlist(playlist_id=throwbacks, song_id={_not_in(world, 'Throwbacks')}, access_token=spotify_access_token)
"""),
        ))
    return specs


def _not_in(world: World, playlist: str) -> int:
    inside = set(world.data["playlists"][playlist]["song_ids"])
    return min(song_id for song_id in world.data["songs"] if song_id not in inside)


NOTESONGS = Scenario(
    slug="notesongs", title="Build a playlist from the songs listed in a note", difficulty=2,
    apps=["simple_note", "spotify"], kind="action", make_variants=_notesongs)


def _textcode(world: World) -> list[TaskSpec]:
    specs = []
    for key, vendor_key in [("sister", "skylark"), ("roommate1", "harborview"), ("friend2", "riverside")]:
        person = world.people[key]
        vendor = world.data["vendors"][vendor_key]
        relation = person.relationships[0]
        specs.append(TaskSpec(
            instruction=(f"My {relation} {person.first_name} needs the {vendor['field']} from the "
                         f"{vendor['first']} email in my Gmail inbox. Text it to them on my phone."),
            public_data={"person_first_name": person.first_name, "relationship": relation,
                         "sender_name": vendor["first"], "field": vendor["field"]},
            private_data={"code": vendor["value"], "receiver_user_id": world.data["phone_user_ids"][key],
                          "sender_user_id": _sup_user_id(world, "phone")},
            answer=None,
            perturbation=_perturb(["phone"], f"""
messages = apis.phone.search_text_messages(access_token=phone_access_token, phone_number="{world.people['roommate1'].phone_number}", page_limit=20)
oldest = min(messages, key=lambda message: message["text_message_id"])
apis.phone.delete_text_message(text_message_id=oldest["text_message_id"], access_token=phone_access_token)
"""),
        ))
    return specs


TEXTCODE = Scenario(
    slug="textcode", title="Text someone a booking code found in an email", difficulty=2,
    apps=["gmail", "phone"], kind="action", make_variants=_textcode)


def _notetasks(world: World) -> list[TaskSpec]:
    projects = world.data["todoist_projects"]
    specs = []
    for note, project in [("Moving Checklist", "Move to Oak Street"), ("Party Prep", "Birthday Party"),
                          ("Garden To-Do", "Garden")]:
        specs.append(TaskSpec(
            instruction=(f"Add each item on my Simple Note checklist '{note}' as a separate task in my "
                         f"Todoist project '{project}'."),
            public_data={"note_title": note, "project_name": project},
            private_data={"project_id": projects[project]["id"], "items": world.data["checklists"][note]},
            answer=None,
            perturbation=_perturb(["todoist"], f"""
apis.todoist.delete_task(task_id={projects['Personal']['tasks']['Book a dentist appointment']}, access_token=todoist_access_token)
"""),
        ))
    return specs


NOTETASKS = Scenario(
    slug="notetasks", title="Turn a checklist note into Todoist tasks", difficulty=2,
    apps=["simple_note", "todoist"], kind="action", make_variants=_notetasks)

# =========================================================================== difficulty 3


def _splitpay(world: World) -> list[TaskSpec]:
    specs = []
    for group in ["Apartment 4B", "Ski Weekend", "Team Offsite"]:
        info = world.data["splitwise_groups"][group]
        specs.append(TaskSpec(
            instruction=(f"I still owe people money from our '{group}' group on Splitwise. Using Venmo, "
                         "pay each person I owe exactly the amount Splitwise says I owe them."),
            public_data={"group_name": group},
            private_data={"group_id": info["id"], "payments": info["you_owe"],
                          "sender_user_id": _sup_user_id(world, "venmo")},
            answer=None,
            perturbation=_perturb(["venmo"], """
sent = apis.venmo.show_transactions(access_token=venmo_access_token, direction="sent", page_limit=20)
oldest = min(sent, key=lambda transaction: transaction["transaction_id"])
apis.venmo.update_transaction(transaction_id=oldest["transaction_id"], description="edited", access_token=venmo_access_token)
"""),
        ))
    return specs


SPLITPAY = Scenario(
    slug="splitpay", title="Pay back on Venmo what Splitwise says I owe in a group", difficulty=3,
    apps=["splitwise", "venmo"], kind="action", make_variants=_splitpay)


def _splitrequest(world: World) -> list[TaskSpec]:
    specs = []
    for group, description in [("Big Sur Camping", "Big Sur camping"), ("Board Game Nights", "Game night snacks"),
                               ("Concert Crew", "Concert costs")]:
        info = world.data["splitwise_groups"][group]
        specs.append(TaskSpec(
            instruction=(f"Some people in my Splitwise group '{group}' still owe me money. Send each of them a "
                         f"payment request on Venmo for exactly what they owe me, with the description "
                         f"'{description}'."),
            public_data={"group_name": group, "description": description},
            private_data={"group_id": info["id"], "requests": info["owe_you"],
                          "requester_user_id": _sup_user_id(world, "venmo")},
            answer=None,
            perturbation=_perturb(["venmo"], """
pending = apis.venmo.show_received_payment_requests(access_token=venmo_access_token, status="pending", page_limit=20)
apis.venmo.deny_payment_request(payment_request_id=pending[0]["payment_request_id"], access_token=venmo_access_token)
"""),
        ))
    return specs


SPLITREQUEST = Scenario(
    slug="splitrequest", title="Request on Venmo what people owe me in a Splitwise group", difficulty=3,
    apps=["splitwise", "venmo"], kind="action", make_variants=_splitrequest)


def _birthdaytasks(world: World) -> list[TaskSpec]:
    projects = world.data["todoist_projects"]
    # (period phrase, first and last MM-DD of the window, project)
    variants = [("in the next 7 days", "06-14", "06-21", "Personal"),
                ("in July", "07-01", "07-31", "Gifts"),
                ("in August", "08-01", "08-31", "Family & Friends")]
    specs = []
    for phrase, start, end, project in variants:
        expected = {
            f"Buy birthday gift for {p.name}": f"2024-{p.birthday[5:]}"
            for p in world.people.values()
            if start <= p.birthday[5:] <= end
        }
        assert 2 <= len(expected) <= 3, (phrase, expected)
        specs.append(TaskSpec(
            instruction=(f"For every contact on my phone whose birthday is {phrase}, add a task titled "
                         f"'Buy birthday gift for <their full name>' to my Todoist project '{project}', "
                         "due on their birthday this year."),
            public_data={"project_name": project, "start": f"2024-{start}", "end": f"2024-{end}"},
            private_data={"project_id": projects[project]["id"], "tasks": expected},
            answer=None,
            perturbation=_perturb(["todoist"], f"""
apis.todoist.update_task(task_id={projects['Home']['tasks']['Deep clean the fridge']}, is_completed=True, access_token=todoist_access_token)
"""),
        ))
    return specs


BIRTHDAYTASKS = Scenario(
    slug="birthdaytasks", title="Gift reminders for contacts with upcoming birthdays", difficulty=3,
    apps=["phone", "todoist"], kind="action", make_variants=_birthdaytasks)


def _receiptsplit(world: World) -> list[TaskSpec]:
    specs = []
    for folder, group in [("apartment", "Apartment 4B"), ("ski_weekend", "Ski Weekend"),
                          ("big_sur", "Big Sur Camping")]:
        info = world.data["splitwise_groups"][group]
        member_ids = [world.data["splitwise_user_ids"][k] for k in ["supervisor", *info["members"]]]
        receipts = world.data["receipts"][folder]
        specs.append(TaskSpec(
            instruction=(f"The receipts for our '{group}' expenses are in ~/documents/receipts/{folder}. Add each "
                         f"receipt as an expense in my Splitwise group '{group}': paid by me, split equally among "
                         "everyone in the group (me included), with the merchant name as the description."),
            public_data={"directory": f"~/documents/receipts/{folder}", "group_name": group},
            private_data={
                "group_id": info["id"], "payer_id": world.data["splitwise_user_ids"]["supervisor"],
                "member_ids": sorted(member_ids),
                "expenses": sorted([r["merchant"].lower(), r["total"]] for r in receipts),
            },
            answer=None,
            perturbation=_perturb(["splitwise"], f"""
expenses = apis.splitwise.show_group_expenses(group_id={world.data['splitwise_groups']['Office Lunch Fund']['id']}, access_token=splitwise_access_token)
apis.splitwise.delete_expense(expense_id=expenses[0]["expense_id"], access_token=splitwise_access_token)
"""),
        ))
    return specs


RECEIPTSPLIT = Scenario(
    slug="receiptsplit", title="Split saved receipts equally in a Splitwise group", difficulty=3,
    apps=["file_system", "splitwise"], kind="action", make_variants=_receiptsplit)


def _venmoapprove(world: World) -> list[TaskSpec]:
    pending = world.data["venmo_pending_requests"]
    specs = []
    for relationship, plural in [("roommate", "roommates"), ("coworker", "coworkers"), ("friend", "friends")]:
        keys = {p.key for p in world.by_relationship(relationship)}
        expected = {rid: key for label, rid in pending.items() if (key := label.split(":")[0]) in keys}
        assert len(expected) >= 2, (relationship, expected)
        amounts = sorted(
            [world.people[key].email, amount]
            for label, rid in pending.items()
            for key, amount in [(label.split(":")[0], world.data["venmo_request_amounts"][rid])]
            if key in keys
        )
        specs.append(TaskSpec(
            instruction=(f"Approve all the pending Venmo payment requests I have received from my {plural} "
                         "(as listed in my phone contacts). Leave every other request as it is."),
            public_data={"relationship": relationship},
            private_data={"request_ids": sorted(expected), "payments": amounts,
                          "user_id": _sup_user_id(world, "venmo")},
            answer=None,
            perturbation=_perturb(["venmo"], f"""
apis.venmo.deny_payment_request(payment_request_id={pending['stranger2:Refund please']}, access_token=venmo_access_token)
"""),
        ))
    return specs


VENMOAPPROVE = Scenario(
    slug="venmoapprove", title="Approve pending Venmo requests from one circle of contacts", difficulty=3,
    apps=["phone", "venmo"], kind="action", make_variants=_venmoapprove)


SCENARIOS: list[Scenario] = [
    NOTELOOKUP, PLAYLISTLEN, TODOISTDONE, PHONEALARM, FILEMOVE,
    VENMOSENT, SPLITOWE, NOTESONGS, TEXTCODE, NOTETASKS,
    SPLITPAY, SPLITREQUEST, BIRTHDAYTASKS, RECEIPTSPLIT, VENMOAPPROVE,
]  # fmt: skip

# Whole scenarios per dataset split (two per difficulty in dev and test, one in train).
SPLITS: dict[str, list[str]] = {
    "train": ["phonealarm", "textcode", "receiptsplit"],
    "dev": ["notelookup", "todoistdone", "venmosent", "notetasks", "splitrequest", "venmoapprove"],
    "test": ["playlistlen", "filemove", "splitowe", "notesongs", "splitpay", "birthdaytasks"],
}
