"""The shared synthetic world: one supervisor, the people around them, and their app data.

Built in memory with AppWorld's own models (and, where the apps keep derived data, their own
APIs, acting as the person who would have done it), deterministic from the seed, then saved as
the base databases (data/base_dbs/<app>.db) that every task starts from.
Runs inside the AppWorld virtual environment; no trirole imports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from appworld.apps.api_lib import CompanyNotifier
from appworld.common.datetime import DateTime

from .common import ALL_APPS, PERSON_APPS, SUPERVISOR_APPS, WORLD_NOW, Ctx, Person

FEMALE_FIRST = [
    "Nadia", "Priya", "Elena", "Grace", "Maya", "Chloe", "Hannah", "Leah", "Sofia", "Zoe",
    "Ingrid", "Talia", "Rosa", "Naomi", "Keiko", "Amara", "Lucia", "Farah", "Greta", "Iris",
]  # fmt: skip
MALE_FIRST = [
    "Marcus", "Ethan", "Julian", "Omar", "Lucas", "Theo", "Daniel", "Rafael", "Kenji", "Owen",
    "Tobias", "Felix", "Andre", "Milo", "Hugo", "Samir", "Caleb", "Victor", "Jonah", "Elias",
]  # fmt: skip
LAST_NAMES = [
    "Okafor", "Lindqvist", "Moreau", "Castillo", "Whitaker", "Nakamura", "Brennan", "Haddad",
    "Kowalski", "Abernathy", "Delgado", "Fairbanks", "Gallagher", "Iverson", "Jablonski",
    "Kerrigan", "Lachance", "Mendoza", "Novak", "Oyelaran", "Pemberton", "Quintero", "Rasmussen",
    "Santoro", "Thibodeaux", "Valentin", "Westbrook", "Yamamoto", "Zielinski", "Ashworth",
]  # fmt: skip

# role key -> (sex, relationships seen from the supervisor, birthday MM-DD or None=random, age range)
ROLES: dict[str, tuple[str, list[str], str | None, tuple[int, int]]] = {
    "roommate1": ("any", ["roommate"], "08-02", (24, 34)),
    "roommate2": ("any", ["roommate"], "06-16", (24, 34)),
    "roommate3": ("any", ["roommate"], None, (24, 34)),
    "mother": ("female", ["mother"], "07-27", (55, 66)),
    "father": ("male", ["father"], "09-01", (56, 68)),
    "sister": ("female", ["sister"], "06-12", (22, 35)),
    "coworker1": ("any", ["coworker", "manager"], "07-18", (35, 50)),
    "coworker2": ("any", ["coworker"], None, (25, 45)),
    "coworker3": ("any", ["coworker"], "06-19", (25, 45)),
    "coworker4": ("any", ["coworker"], None, (25, 45)),
    "friend1": ("any", ["friend"], "06-23", (25, 36)),
    "friend2": ("any", ["friend"], "07-03", (25, 36)),
    "friend3": ("any", ["friend"], None, (25, 36)),
    "friend4": ("any", ["friend"], "08-21", (25, 36)),
}
# Venmo-only users who are not in the supervisor's contacts.
STRANGER_ROLES = ["stranger1", "stranger2"]

GENRES = ["pop", "rock", "indie", "jazz", "electronic", "hip hop", "folk", "r&b"]
TITLE_WORDS_A = [
    "Velvet", "Paper", "Neon", "Silver", "Golden", "Quiet", "Electric", "Hollow", "Crimson",
    "Midnight", "Wild", "Broken", "Lucky", "Northern", "Faded", "Burning", "Gentle", "Restless",
    "Crystal", "Endless", "Hidden", "Lonely", "Summer", "Winter", "Copper", "Violet",
]  # fmt: skip
TITLE_WORDS_B = [
    "Harbor", "Lanterns", "Highway", "Echoes", "Garden", "River", "Skyline", "Letters", "Static",
    "Horizon", "Satellite", "Tides", "Embers", "Avenue", "Mirrors", "Canyon", "Orchard", "Signals",
    "Parade", "Shadows", "Lighthouse", "Meadow", "Rooftops", "Compass", "Daydream", "Carousel",
]  # fmt: skip
ARTIST_NAMES = [
    "The Quiet Orchards", "Luna Vega", "Static Harbor", "Milo Grant", "Paper Kites Club",
    "Nova Reyes", "The Copper Lines", "Jasper Wilde", "Velvet Season", "Aria Monroe",
    "North Avenue", "Elliot Shaw",
]  # fmt: skip


@dataclass
class World:
    seed: int
    supervisor: Person
    people: dict[str, Person]  # role key -> person (not the supervisor)
    strangers: dict[str, Person]
    data: dict[str, Any] = field(default_factory=dict)  # records scenarios refer to

    def person(self, key: str) -> Person:
        return self.people.get(key) or self.strangers[key]

    def by_relationship(self, relationship: str) -> list[Person]:
        return [p for p in self.people.values() if relationship in p.relationships]


def _password(rng: random.Random) -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(rng.choice(alphabet) for _ in range(10))


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        number = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(9))
        if number not in used:
            used.add(number)
            return number


def _birthday(rng: random.Random, month_day: str | None, ages: tuple[int, int]) -> str:
    year = WORLD_NOW.year - rng.randint(*ages)
    if month_day is None:  # anywhere from October to May (outside every birthday window)
        month = rng.choice([10, 11, 12, 1, 2, 3, 4, 5])
        day = rng.randint(1, 28)
        month_day = f"{month:02d}-{day:02d}"
    return f"{year}-{month_day}"


def make_people(seed: int) -> tuple[Person, dict[str, Person], dict[str, Person]]:
    rng = random.Random(seed * 7919 + 17)
    female = FEMALE_FIRST[:]
    male = MALE_FIRST[:]
    last = LAST_NAMES[:]
    rng.shuffle(female)
    rng.shuffle(male)
    rng.shuffle(last)
    phones: set[str] = set()

    def new_person(key: str, sex: str, last_name: str, relationships: list[str],
                   month_day: str | None, ages: tuple[int, int], apps: list[str]) -> Person:
        if sex == "any":
            sex = rng.choice(["female", "male"])
        first = (female if sex == "female" else male).pop()
        styles = [f"{first}.{last_name}", f"{first}{last_name}", f"{first[0]}{last_name}",
                  f"{first}_{last_name[:4]}"]
        email = rng.choice(styles).lower() + "@gmail.com"
        return Person(
            key=key, first_name=first, last_name=last_name, email=email,
            phone_number=_phone(rng, phones), sex=sex,
            birthday=_birthday(rng, month_day, ages), relationships=list(relationships),
            passwords={app: _password(rng) for app in apps}, apps=list(apps),
        )

    family_name = last.pop()
    supervisor = new_person("supervisor", rng.choice(["female", "male"]), family_name, [],
                            None, (28, 34), SUPERVISOR_APPS)
    people: dict[str, Person] = {}
    for key, (sex, relationships, month_day, ages) in ROLES.items():
        last_name = family_name if key in ("mother", "father", "sister") else last.pop()
        people[key] = new_person(key, sex, last_name, relationships, month_day, ages, PERSON_APPS)
    strangers = {
        key: new_person(key, "any", last.pop(), [], None, (25, 50), ["venmo", "gmail", "phone"])
        for key in STRANGER_ROLES
    }
    return supervisor, people, strangers


def _dt(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2024) -> DateTime:
    return DateTime(year, month, day, hour, minute, 0)


def _money(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


class WorldBuilder:
    def __init__(self, ctx: Ctx, seed: int) -> None:
        self.ctx = ctx
        self.seed = seed
        self.rng = random.Random(seed * 104729 + 3)
        supervisor, people, strangers = make_people(seed)
        self.world = World(seed=seed, supervisor=supervisor, people=people, strangers=strangers)

    # ---------------------------------------------------------------- accounts
    def build(self) -> World:
        self.accounts()
        self.admin_world()
        self.phone()
        self.gmail()
        self.spotify()
        self.venmo()
        self.splitwise()
        self.simple_note()
        self.todoist()
        self.file_system()
        self.api_docs()
        return self.world

    def accounts(self) -> None:
        m = self.ctx.m
        w = self.world
        for notifier_name in ["Venmo", "Todoist", "Spotify", "Amazon", "Splitwise", "Gmail"]:
            CompanyNotifier(notifier_name).create_accounts(skip_if_exists=True)
        everyone = [w.supervisor, *w.people.values(), *w.strangers.values()]
        created = _dt(1, 1, 9, 0, year=2021)
        for person in everyone:
            for app in person.apps:
                fields = dict(first_name=person.first_name, last_name=person.last_name,
                              password=person.passwords[app], created_at=created)
                if app == "phone":
                    fields["phone_number"] = person.phone_number
                else:
                    fields["email"] = person.email
                if app not in ("phone", "gmail"):
                    fields["verified"] = True
                m[app].User.create_save(**fields)
        # user ids the evaluations refer to
        w.data["user_ids"] = {app: self.ctx.user(app, w.supervisor).id for app in w.supervisor.apps}
        w.data["phone_user_ids"] = {k: self.ctx.user("phone", p).id for k, p in w.people.items()}
        w.data["splitwise_user_ids"] = {
            k: self.ctx.user("splitwise", p).id for k, p in [("supervisor", w.supervisor), *w.people.items()]
        }

    def admin_world(self) -> None:
        m = self.ctx.m
        w = self.world
        rng = self.rng
        main_users = {}
        for person in [w.supervisor, *w.people.values()]:
            main_users[person.key] = m.admin.MainUser.create_save(
                first_name=person.first_name, last_name=person.last_name, email=person.email,
                phone_number=person.phone_number, birthday=person.birthday, sex=person.sex,
            )
            for app in person.apps:
                m.admin.AccountPassword.create_save(
                    main_user_id=main_users[person.key].id, account_name=app,
                    password=person.passwords[app],
                )
        # family, roommates, friends, company
        m.admin.Family.create_save(
            husband_id=main_users["father"].id, wife_id=main_users["mother"].id,
            child_ids=[main_users["supervisor"].id, main_users["sister"].id],
        )
        residence = m.admin.Residence.create_save(
            resident_ids=[main_users[k].id for k in ("supervisor", "roommate1", "roommate2", "roommate3")],
            residence_type="roommates",
        )
        street = f"{rng.randint(100, 2999)} Oak Street Suite 4B"
        home = m.admin.GlobalAddress.create_save(
            residence_id=residence.id, street_address=street, city="Portland", state="Oregon",
            country="United States", zip_code=97205,
        )
        for key in ("supervisor", "roommate1", "roommate2", "roommate3"):
            m.admin.UserAddress.create_save(
                global_address_id=home.id, main_user_id=main_users[key].id, name="Home"
            )
        for key in ("friend1", "friend2", "friend3", "friend4"):
            for a, b in (("supervisor", key), (key, "supervisor")):
                m.admin.Friendship.create_save(
                    main_user_id=main_users[a].id, friend_id=main_users[b].id
                )
        company = m.admin.Company.create_save(
            name="Brightline Analytics", manager_id=main_users["coworker1"].id,
            weekly_standup_time="09:30",
        )
        for key in ("supervisor", "coworker1", "coworker2", "coworker3", "coworker4"):
            m.admin.CompanyEmployee.create_save(
                company_id=company.id, main_user_id=main_users[key].id,
                is_manager=key == "coworker1",
            )
        # payment cards: two for the supervisor, one for everyone else
        cards = []
        for person in [w.supervisor, *w.people.values()]:
            names = ["Visa", "MasterCard"] if person.key == "supervisor" else [rng.choice(["Visa", "Discover", "Chase"])]
            for card_name in names:
                card = m.admin.PaymentCard.create_save(
                    main_user_id=main_users[person.key].id, owner_name=person.name,
                    card_name=card_name, card_number=rng.randint(4 * 10**15, 5 * 10**15 - 1),
                    expiry_year=rng.randint(2026, 2029), expiry_month=rng.randint(1, 12),
                    cvv_number=rng.randint(100, 999), balance=float(rng.randint(3000, 9000)),
                )
                if person.key == "supervisor":
                    cards.append(card)
        self.world.data["supervisor_cards"] = [
            {k: getattr(card, k) for k in ("card_name", "owner_name", "card_number",
                                           "expiry_year", "expiry_month", "cvv_number")}
            for card in cards
        ]
        # the supervisor app: profile, passwords, address, cards
        s = w.supervisor
        sup = m.supervisor.Supervisor.create_save(
            first_name=s.first_name, last_name=s.last_name, email=s.email,
            phone_number=s.phone_number, birthday=s.birthday, sex=s.sex,
        )
        for app in s.apps:
            m.supervisor.AccountPassword.create_save(
                supervisor_id=sup.id, account_name=app, password=s.passwords[app]
            )
        m.supervisor.Address.create_save(
            supervisor_id=sup.id, name="Home", street_address=street, city="Portland",
            state="Oregon", country="United States", zip_code=97205,
        )
        for card in self.world.data["supervisor_cards"]:
            m.supervisor.PaymentCard.create_save(supervisor_id=sup.id, **card)
        self.world.data["supervisor_id"] = sup.id

    # ---------------------------------------------------------------- phone
    def phone(self) -> None:
        c = self.ctx
        w = self.world
        s = w.supervisor
        rng = self.rng
        contacts = {}
        for person in w.people.values():
            contact = c.call(
                "phone", "add_contact", as_=s, at=_dt(1, 5, 9, 0, year=2023),
                first_name=person.first_name, last_name=person.last_name,
                phone_number=person.phone_number, email=person.email,
                relationships=person.relationships, birthday=person.birthday,
            )
            contacts[person.key] = contact["contact_id"]
        # two service contacts with no birthday on file
        for first, last, rel in (("Marco", "Ruiz", "plumber"), ("Dr. Helen", "Park", "dentist")):
            number = _phone(rng, {p.phone_number for p in w.people.values()})
            c.call("phone", "add_contact", as_=s, at=_dt(2, 10, 9, 0, year=2023),
                   first_name=first, last_name=last, phone_number=number,
                   email=f"{first.split()[-1].lower()}.{last.lower()}@{rel}mail.com",
                   relationships=[rel])
        w.data["phone_contact_ids"] = contacts
        # alarms
        alarms = [
            ("07:00", ["monday", "tuesday", "wednesday", "thursday", "friday"], "Wake up", True),
            ("18:30", ["monday", "wednesday", "friday"], "Gym", True),
            ("09:00", ["saturday", "sunday"], "Weekend wake up", False),
            ("22:45", [], "Bedtime reminder", True),
        ]
        for time, days, label, enabled in alarms:
            c.call("phone", "create_alarm", as_=s, at=_dt(3, 1, 8, 0),
                   time=time, repeat_days=days, label=label, enabled=enabled)
        # everyday chatter
        p = w.people
        chatter = [
            (p["roommate1"], s, "Can you grab more dish soap on your way home?", _dt(6, 10, 17, 5)),
            (s, p["roommate1"], "Sure, anything else?", _dt(6, 10, 17, 9)),
            (p["roommate1"], s, "Paper towels too, thanks!", _dt(6, 10, 17, 11)),
            (p["sister"], s, "When you get the flight details, send me the confirmation code so I can check us in.", _dt(6, 12, 20, 3)),
            (s, p["sister"], "Will do!", _dt(6, 12, 20, 15)),
            (p["friend2"], s, "Are we still on for Saturday?", _dt(6, 11, 12, 30)),
            (s, p["friend2"], "Yes! See you at 7.", _dt(6, 11, 12, 41)),
            (p["coworker1"], s, "Can you send me the slides before standup tomorrow?", _dt(6, 13, 18, 2)),
            (p["roommate3"], s, "Landlord is coming by Tuesday to fix the heater.", _dt(6, 8, 9, 20)),
            (p["mother"], s, "Call me when you get a chance. Love you!", _dt(6, 9, 19, 45)),
            (p["friend1"], s, "That concert was amazing last night", _dt(5, 26, 11, 0)),
        ]
        for sender, receiver, message, at in chatter:
            c.call("phone", "send_text_message", as_=sender, at=at,
                   phone_number=receiver.phone_number, message=message)

    # ---------------------------------------------------------------- gmail
    def gmail(self) -> None:
        c = self.ctx
        w = self.world
        s = w.supervisor
        rng = self.rng
        m = c.m

        def code(prefix: str, digits: int = 5) -> str:
            if prefix:
                return prefix + "-" + "".join(str(rng.randint(0, 9)) for _ in range(digits))
            alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
            return "".join(rng.choice(alphabet) for _ in range(6))

        vendors = {
            "skylark": dict(first="Skylark Air", last="Reservations", email="reservations@skylarkair.com",
                            field="confirmation code", value=code("")),
            "harborview": dict(first="Harborview Hotel", last="Front Desk", email="frontdesk@harborviewhotel.com",
                               field="reservation number", value=code("HV")),
            "riverside": dict(first="Riverside Theater", last="Box Office", email="boxoffice@riversidetheater.org",
                              field="order number", value=code("RT", 6)),
        }
        vendor_people = {}
        for key, vendor in vendors.items():
            password = _password(rng)
            m.gmail.User.create_save(first_name=vendor["first"], last_name=vendor["last"],
                                     email=vendor["email"], password=password)
            vendor_people[key] = Person(key=key, first_name=vendor["first"], last_name=vendor["last"],
                                        email=vendor["email"], phone_number="", sex="female",
                                        birthday="", passwords={"gmail": password}, apps=["gmail"])
        city = rng.choice(["Denver", "Austin", "Chicago", "Boston"])
        emails = [
            ("skylark", "Deals of the week from Skylark Air",
             "Fly more for less! Fares from $79 this week only. No code needed, just book by Sunday.",
             _dt(6, 3, 8, 0)),
            ("skylark", f"Your Skylark Air flight to {city} is confirmed",
             f"Hi {s.first_name},\n\nThanks for flying with Skylark Air. Your trip to {city} on "
             f"June 28 is booked for 2 passengers.\n\nConfirmation code: {vendors['skylark']['value']}\n\n"
             "You can check in online 24 hours before departure.\n\nSkylark Air",
             _dt(6, 12, 19, 40)),
            ("harborview", "Reservation confirmed - Harborview Hotel",
             f"Dear {s.name},\n\nWe look forward to welcoming you on July 12 for 3 nights "
             f"(1 room, 2 queen beds).\n\nReservation number: {vendors['harborview']['value']}\n\n"
             "Check-in starts at 3 PM.\n\nHarborview Hotel",
             _dt(6, 7, 14, 12)),
            ("riverside", "Your tickets for Hamlet",
             f"Hello {s.first_name},\n\nYour order for 3 tickets to Hamlet (June 22, 7:30 PM, "
             f"Row F) is complete.\n\nOrder number: {vendors['riverside']['value']}\n\n"
             "Show this number at the box office to pick up your tickets.\n\nRiverside Theater",
             _dt(6, 5, 10, 25)),
            ("riverside", "Coming soon to Riverside Theater",
             "Our summer season announcement is here: three new plays and a jazz night.",
             _dt(5, 30, 9, 0)),
        ]
        for key, subject, body, at in emails:
            c.call("gmail", "send_email", as_=vendor_people[key], at=at,
                   email_addresses=[s.email], subject=subject, body=body)
        p = w.people
        personal = [
            (p["coworker1"], [s], "Q2 planning notes", "Hi, attaching my notes from the planning session soon. Please review the roadmap section.", _dt(6, 4, 11, 0)),
            (p["coworker2"], [s, p["coworker3"]], "Lunch order Friday", "I'll place the team lunch order on Friday, reply with what you want.", _dt(6, 12, 10, 0)),
            (p["friend3"], [s], "Photos from the hike", "Finally uploaded the photos from our hike, the waterfall ones came out great.", _dt(6, 2, 21, 5)),
            (p["mother"], [s, p["sister"]], "Family reunion plans", "Let's settle the date for the reunion. August works best for us.", _dt(5, 28, 16, 45)),
            (s, [p["roommate2"]], "Internet bill", "Hey, the internet bill went up by $10 starting this month.", _dt(6, 1, 9, 30)),
        ]
        for sender, recipients, subject, body, at in personal:
            c.call("gmail", "send_email", as_=sender, at=at,
                   email_addresses=[r.email for r in recipients], subject=subject, body=body)
        w.data["vendors"] = {k: {kk: vv for kk, vv in v.items()} for k, v in vendors.items()}

    # ---------------------------------------------------------------- spotify
    def spotify(self) -> None:
        c = self.ctx
        m = c.m
        w = self.world
        rng = self.rng
        s = w.supervisor
        artists = []
        for index, name in enumerate(ARTIST_NAMES):
            artists.append(m.spotify.Artist.create_save(
                name=name, genre=GENRES[index % len(GENRES)], created_at=_dt(1, 1, year=2019)))
        titles: list[str] = []
        seen = set()
        while len(titles) < 72:
            title = f"{rng.choice(TITLE_WORDS_A)} {rng.choice(TITLE_WORDS_B)}"
            if title not in seen:
                seen.add(title)
                titles.append(title)
        albums = []
        for index in range(12):
            artist = artists[index]
            album_title = f"{rng.choice(TITLE_WORDS_B)} of {rng.choice(TITLE_WORDS_A)} Days"
            while m.spotify.Album.find_one(title=album_title) is not None:
                album_title = f"{rng.choice(TITLE_WORDS_A)} {rng.choice(TITLE_WORDS_B)} Sessions"
            albums.append(m.spotify.Album.create_save(
                title=album_title, artist_ids=[artist.id], genre=artist.genre,
                release_date=_dt(rng.randint(1, 12), rng.randint(1, 28), year=rng.randint(2015, 2023)),
            ))
        songs = []
        for index, title in enumerate(titles):
            album = albums[index % len(albums)]
            songs.append(m.spotify.Song.create_save(
                title=title, artist_ids=list(album.artist_ids), album_id=album.id,
                duration=rng.randint(140, 320), release_date=album.release_date,
                genre=album.genre, play_count=rng.randint(100, 90000),
            ))
        artist_names = {artist.id: artist.name for artist in artists}
        song_info = {
            song.id: {"title": song.title, "artist": artist_names[song.artist_ids[0]]}
            for song in songs
        }
        w.data["songs"] = song_info
        # playlists of the supervisor (and a few of other people's, some with the same titles)
        order = list(range(len(songs)))
        rng.shuffle(order)
        playlist_specs = [("Morning Run", rng.randint(7, 10)), ("Rainy Sunday", rng.randint(11, 14)),
                          ("Dinner Party", rng.randint(4, 6)), ("Focus Flow", 12), ("Throwbacks", 9)]
        playlists = {}
        cursor = 0
        for title, size in playlist_specs:
            playlist = c.call("spotify", "create_playlist", as_=s, at=_dt(2, 1 + cursor % 20),
                              title=title, is_public=title != "Throwbacks")
            ids = [songs[i].id for i in (order * 2)[cursor:cursor + size]]
            cursor += size - 3  # overlapping playlists share a few songs
            for song_id in ids:
                c.call("spotify", "add_song_to_playlist", as_=s, at=_dt(3, 2),
                       playlist_id=playlist["playlist_id"], song_id=song_id)
            playlists[title] = {"id": playlist["playlist_id"], "song_ids": ids}
        w.data["playlists"] = playlists
        others = [("friend2", "Rainy Sunday", 5), ("roommate1", "Apartment Jams", 7),
                  ("friend1", "Morning Run", 4)]
        for key, title, size in others:
            person = w.people[key]
            playlist = c.call("spotify", "create_playlist", as_=person, at=_dt(4, 3),
                              title=title, is_public=True)
            for song_id in rng.sample([sg.id for sg in songs], size):
                c.call("spotify", "add_song_to_playlist", as_=person, at=_dt(4, 4),
                       playlist_id=playlist["playlist_id"], song_id=song_id)
        for song in rng.sample(songs, 15):
            c.call("spotify", "add_song_to_library", as_=s, at=_dt(1, 20), song_id=song.id)
        for song in rng.sample(songs, 8):
            c.call("spotify", "like_song", as_=s, at=_dt(2, 14), song_id=song.id)
        # song lists kept in notes (used by the "note to playlist" scenario): disjoint from each other
        pool = [sg.id for sg in songs]
        rng.shuffle(pool)
        w.data["song_lists"] = [pool[0:5], pool[5:11], pool[11:15]]

    # ---------------------------------------------------------------- venmo
    def venmo(self) -> None:
        c = self.ctx
        w = self.world
        rng = self.rng
        s = w.supervisor
        for person in [s, *w.people.values(), *w.strangers.values()]:
            user = c.user("venmo", person)
            user.venmo_balance = 2500.0 if person.key == "supervisor" else float(rng.randint(300, 900))
            user.save()
        for person in w.people.values():
            c.call("venmo", "add_friend", as_=s, at=_dt(1, 3), user_email=person.email)
        card = w.data["supervisor_cards"][0]
        c.call("venmo", "add_payment_card", as_=s, at=_dt(1, 2), **card)
        # a history of payments; three (person, month) pairs get a known total sent by the supervisor
        p = w.people
        history: list[tuple[Person, Person, float, str, DateTime]] = []
        descriptions = ["Dinner", "Groceries", "Movie tickets", "Coffee", "Uber", "Concert",
                        "Pizza night", "Birthday gift", "Gas", "Brunch", "Drinks", "Museum"]
        targets = [("friend1", 3), ("roommate2", 4), ("sister", 5)]
        sent_totals = {}
        for key, month in targets:
            person = p[key]
            total = 0.0
            for _ in range(rng.randint(2, 4)):
                amount = _money(rng, 9, 85)
                total += amount
                history.append((s, person, amount, rng.choice(descriptions),
                                _dt(month, rng.randint(2, 27), rng.randint(9, 21))))
            # distractors: same person in the neighbouring months, and money they sent the supervisor
            history.append((s, person, _money(rng, 9, 85), rng.choice(descriptions), _dt(month - 1, 28, 20)))
            history.append((s, person, _money(rng, 9, 85), rng.choice(descriptions), _dt(month + 1, 1, 10)))
            history.append((person, s, _money(rng, 9, 85), rng.choice(descriptions), _dt(month, 15, 13)))
            sent_totals[key] = {"month": month, "total": round(total, 2)}
        for _ in range(14):
            other = p[rng.choice(list(p))]
            month = rng.randint(1, 6)
            if any(other.key == key and month == mm for key, mm in targets):
                continue
            if rng.random() < 0.5:
                history.append((s, other, _money(rng, 5, 60), rng.choice(descriptions),
                                _dt(month, rng.randint(1, 12 if month == 6 else 28), rng.randint(8, 22))))
            else:
                history.append((other, s, _money(rng, 5, 60), rng.choice(descriptions),
                                _dt(month, rng.randint(1, 12 if month == 6 else 28), rng.randint(8, 22))))
        for sender, receiver, amount, description, at in sorted(history, key=lambda h: h[4]):
            c.call("venmo", "create_transaction", as_=sender, at=at, receiver_email=receiver.email,
                   amount=amount, description=description)
        w.data["venmo_sent_totals"] = sent_totals
        # payment requests to the supervisor: pending ones from contacts and strangers,
        # plus already settled ones that must stay as they are
        requests = [
            ("roommate1", "Internet bill June", 32.5), ("roommate1", "Cleaning supplies", 14.2),
            ("roommate3", "Water bill", 21.75), ("coworker2", "Team lunch", 18.4),
            ("coworker4", "Farewell card for Sam", 10.0), ("friend3", "Concert tickets", 64.0),
            ("friend4", "Cabin deposit", 120.0), ("stranger1", "Marketplace couch", 150.0),
            ("stranger2", "Refund please", 45.0), ("roommate2", "Pizza", 12.0),
            ("coworker3", "Parking", 8.0),
        ]
        pending = {}
        amounts = {}
        for index, (key, description, amount) in enumerate(requests):
            person = w.person(key)
            response = c.call("venmo", "create_payment_request", as_=person,
                              at=_dt(6, 1 + index, 10, 15), user_email=s.email,
                              amount=amount, description=description)
            pending[key + ":" + description] = response["payment_request_id"]
            amounts[response["payment_request_id"]] = amount
        w.data["venmo_request_amounts"] = amounts
        # settle two of them in the past (one approved, one denied)
        c.call("venmo", "approve_payment_request", as_=s, at=_dt(6, 12, 9, 0),
               payment_request_id=pending.pop("roommate2:Pizza"))
        c.call("venmo", "deny_payment_request", as_=s, at=_dt(6, 12, 9, 5),
               payment_request_id=pending.pop("coworker3:Parking"))
        # a request the supervisor sent (not to be touched either)
        c.call("venmo", "create_payment_request", as_=s, at=_dt(6, 9, 18, 0),
               user_email=p["friend1"].email, amount=27.0, description="Your half of the cab")
        w.data["venmo_pending_requests"] = pending

    # ---------------------------------------------------------------- splitwise
    def splitwise(self) -> None:
        c = self.ctx
        w = self.world
        rng = self.rng
        s = w.supervisor
        p = w.people
        groups = {
            "Apartment 4B": ["roommate1", "roommate2", "roommate3"],
            "Ski Weekend": ["friend1", "friend3", "sister"],
            "Team Offsite": ["coworker2", "coworker3", "coworker4"],
            "Big Sur Camping": ["friend2", "friend4", "roommate3"],
            "Board Game Nights": ["friend1", "coworker4", "roommate1"],
            "Concert Crew": ["friend3", "roommate2", "coworker3"],
            "Lake Tahoe Trip": ["friend1", "friend2", "friend4"],
            "Office Lunch Fund": ["coworker1", "coworker3", "coworker4"],
            "Family Reunion": ["mother", "father", "sister"],
        }
        # expense pattern per group: who pays how much, in shares per member (4 members each)
        # "owe": the supervisor owes two members and is owed by the third;
        # "owed": two members owe the supervisor, the supervisor owes the third.
        patterns = {
            "Apartment 4B": "owe", "Ski Weekend": "owe", "Team Offsite": "owe",
            "Big Sur Camping": "owed", "Board Game Nights": "owed", "Concert Crew": "owed",
            "Lake Tahoe Trip": "owe", "Office Lunch Fund": "owe", "Family Reunion": "owe",
        }
        expense_names = ["Groceries", "Gas", "Dinner", "Tickets", "Supplies", "Utilities",
                         "Snacks", "Taxi", "Rental", "Firewood", "Parking", "Breakfast"]
        info = {}
        for index, (name, member_keys) in enumerate(groups.items()):
            members = [p[k] for k in member_keys]
            group = c.call("splitwise", "create_group", as_=s, at=_dt(1 + index % 4, 2 + index),
                           name=name, member_emails=[m_.email for m_ in members],
                           description=f"Shared costs: {name}")
            group_id = group["group_id"]
            everyone = [s, *members]
            order = members[:]
            rng.shuffle(order)
            if patterns[name] == "owe":
                # big spenders: order[0], order[1]; supervisor pays a little; order[2] pays nothing
                plan = [(order[0], 4, 45, 80), (order[0], 4, 30, 60), (order[1], 4, 25, 45),
                        (s, 4, 8, 20)]
            else:
                # the supervisor's shares (22-33) exceed order[0]'s (5-12) but not order[2]'s (45-60)
                plan = [(s, 4, 12, 18), (s, 4, 10, 15), (order[0], 4, 5, 12), (order[2], 4, 45, 60)]
            expenses = []
            for j, (payer, n, low, high) in enumerate(plan):
                share = _money(rng, low, high)
                amount = round(share * n, 2)
                c.call("splitwise", "record_expense", as_=s, at=_dt(5, 3 + 3 * j + index % 3, 19),
                       description=rng.choice(expense_names), paid_amount=amount,
                       payer_email=payer.email, debtor_emails=[e.email for e in everyone],
                       debt_amounts=[share] * 4, group_id=group_id)
                expenses.append((payer.key, amount))
            balance = c.call("splitwise", "show_group_balance", as_=s, group_id=group_id,
                             email=s.email)[0]
            owes = {b["email"]: round(b["amount"], 2) for b in balance["source_owes_to_targets"]["breakdown"]}
            owed = {b["email"]: round(b["amount"], 2) for b in balance["targets_owe_to_source"]["breakdown"]}
            info[name] = {"id": group_id, "members": member_keys, "you_owe": owes,
                          "owe_you": owed, "expenses": expenses}
            if patterns[name] == "owe":
                assert len(owes) == 2 and len(owed) == 1, (name, owes, owed)
            else:
                assert len(owed) == 2 and len(owes) == 1, (name, owes, owed)
        w.data["splitwise_groups"] = info

    # ---------------------------------------------------------------- simple_note
    def simple_note(self) -> None:
        c = self.ctx
        w = self.world
        rng = self.rng
        s = w.supervisor
        words = ["maple", "harbor", "cedar", "otter", "violet", "summit", "lantern", "pebble"]
        wifi = f"{rng.choice(words)}-{rng.choice(words)}-{rng.randint(1000, 9999)}"
        locker = f"{rng.randint(10, 39)}-{rng.randint(10, 39)}-{rng.randint(10, 39)}"
        bike = f"{rng.randint(1000, 9999)}"
        lookups = {
            "Home Network": ("Wi-Fi password", wifi,
                             f"Network name: OakStreet4B\nWi-Fi password: {wifi}\nRouter admin PIN: {rng.randint(100000, 999999)}\nISP support: 1-800-555-0199"),
            "Gym Membership": ("locker combination", locker,
                               f"Gym: Peak Fitness, Pearl District\nMember ID: PF-{rng.randint(100000, 999999)}\nLocker number: {rng.randint(100, 300)}\nLocker combination: {locker}\nRenewal: every January"),
            "Bike Stuff": ("bike lock code", bike,
                           f"Bike: blue Trek FX 2\nSerial number: WTU{rng.randint(10000000, 99999999)}\nBike lock code: {bike}\nLast tune-up: April 2024"),
        }
        notes = {}
        at = _dt(1, 8, 20)
        for title, (_, _, content) in lookups.items():
            notes[title] = c.call("simple_note", "create_note", as_=s, at=at, title=title,
                                  content=content, tags=["personal"])["note_id"]
        songs = w.data["songs"]
        song_notes = [("Wedding Playlist Ideas", ["music", "wedding"]), ("Road Trip Songs", ["music", "travel"]),
                      ("Study Music", ["music"])]
        for (title, tags), ids in zip(song_notes, w.data["song_lists"], strict=True):
            lines = [f"- {songs[i]['title']} by {songs[i]['artist']}" for i in ids]
            content = "Songs to add:\n" + "\n".join(lines)
            notes[title] = c.call("simple_note", "create_note", as_=s, at=_dt(4, 11, 21),
                                  title=title, content=content, tags=tags)["note_id"]
        checklists = {
            "Moving Checklist": ["Book the moving truck", "Forward mail to the new address",
                                 "Cancel the old internet plan", "Pack the kitchen", "Return the spare keys"],
            "Party Prep": ["Order the cake", "Send the invitations", "Buy balloons", "Plan the playlist"],
            "Garden To-Do": ["Buy tomato seedlings", "Fix the drip irrigation", "Spread mulch",
                             "Trim the hedges"],
        }
        for title, items in checklists.items():
            content = "\n".join(f"[ ] {item}" for item in items)
            notes[title] = c.call("simple_note", "create_note", as_=s, at=_dt(5, 20, 8),
                                  title=title, content=content, tags=["todo"])["note_id"]
        misc = [
            ("Books to Read", "The Overstory\nPiranesi\nKlara and the Sun\nThe Dispossessed", ["books"]),
            ("Banana Bread Recipe", "3 ripe bananas\n1/3 cup melted butter\n3/4 cup sugar\n1 egg\n1 tsp baking soda\n1.5 cups flour\nBake 60 min at 350F", ["recipes"]),
            ("Weekly Standup Notes", "Shipped the churn dashboard\nBlocked on data access for Q3 forecast", ["work"]),
            ("Gift Ideas", "Mom: pottery class\nDad: hiking boots\nSister: concert tickets", ["personal"]),
        ]
        for title, content, tags in misc:
            notes[title] = c.call("simple_note", "create_note", as_=s, at=_dt(3, 3, 12),
                                  title=title, content=content, tags=tags)["note_id"]
        w.data["notes"] = notes
        w.data["note_lookups"] = {title: {"field": f, "value": v} for title, (f, v, _) in lookups.items()}
        w.data["checklists"] = checklists

    # ---------------------------------------------------------------- todoist
    def todoist(self) -> None:
        c = self.ctx
        w = self.world
        s = w.supervisor
        projects = {
            "Home": ["Fix the leaking kitchen faucet", "Replace the hallway light bulb", "Deep clean the fridge"],
            "Work": ["Submit Q2 expense report", "Prepare slides for the roadmap review", "Review Omar's pull request"],
            "Errands": ["Renew car registration", "Pick up dry cleaning", "Return library books", "Renew passport"],
            "Personal": ["Book a dentist appointment", "Call grandma"],
            "Gifts": ["Wrap the anniversary present"],
            "Family & Friends": ["Plan the reunion potluck"],
            "Move to Oak Street": ["Measure the living room", "Get renter's insurance quote"],
            "Birthday Party": ["Reserve the park pavilion"],
            "Garden": ["Compost the leaves"],
        }
        info = {}
        for index, (name, tasks) in enumerate(projects.items()):
            project = c.call("todoist", "create_project", as_=s, at=_dt(2, 1 + index, 9),
                             name=name)
            task_ids = {}
            for j, title in enumerate(tasks):
                created = c.call("todoist", "create_task", as_=s, at=_dt(5, 1 + index + j, 9),
                                 project_id=project["project_id"], title=title,
                                 due_date=f"2024-06-{20 + j:02d}", priority="medium")
                task_ids[title] = created["task_id"]
            info[name] = {"id": project["project_id"], "tasks": task_ids}
        # one task already completed (a distractor with a similar title)
        c.call("todoist", "update_task", as_=s, at=_dt(5, 30, 9),
               task_id=info["Errands"]["tasks"]["Renew passport"], is_completed=True)
        w.data["todoist_projects"] = info

    # ---------------------------------------------------------------- file_system
    def file_system(self) -> None:
        c = self.ctx
        w = self.world
        rng = self.rng
        s = w.supervisor
        for directory in ["~/documents/housing", "~/documents/taxes", "~/documents/health",
                          "~/documents/work", "~/downloads", "~/photos/2024",
                          "~/documents/receipts/apartment", "~/documents/receipts/ski_weekend",
                          "~/documents/receipts/big_sur"]:
            c.call("file_system", "create_directory", as_=s, at=_dt(1, 2),
                   directory_path=directory, recursive=True)
        downloads = {
            "lease_renewal_2024.pdf": "Lease renewal agreement for 4B Oak Street, term July 2024 - June 2025.",
            "w2_form_2023.pdf": "Form W-2 Wage and Tax Statement 2023. Employer: Brightline Analytics.",
            "vaccination_record.pdf": "Immunization record: Tdap 2021, Influenza 2023, COVID-19 booster 2023.",
            "concert_tickets.pdf": "2 tickets, Hollow Echoes live, Crystal Ballroom.",
            "resume_draft.docx": "Resume draft v3.",
            "IMG_2041.jpg": "binary:5f1c0de9a2...",
            "internet_invoice_may.pdf": "Invoice: Fiber 500, May 2024, $65.00",
        }
        for name, content in downloads.items():
            c.call("file_system", "create_file", as_=s, at=_dt(6, rng.randint(1, 12), 18),
                   file_path=f"~/downloads/{name}", content=content)
        documents = {
            "~/documents/housing/lease_2023.pdf": "Lease agreement 2023-2024.",
            "~/documents/taxes/w2_form_2022.pdf": "Form W-2 2022.",
            "~/documents/health/insurance_card.png": "binary:aa81c2f0...",
            "~/documents/work/offer_letter.pdf": "Offer letter, Brightline Analytics.",
            "~/photos/2024/beach.jpg": "binary:77d0e1ab...",
        }
        for path, content in documents.items():
            c.call("file_system", "create_file", as_=s, at=_dt(2, 10, 18), file_path=path,
                   content=content)
        merchants = {
            "apartment": ["Safeway", "Home Depot", "Costco"],
            "ski_weekend": ["Mt. Hood Meadows", "Chevron", "Timberline Lodge", "Fred Meyer"],
            "big_sur": ["Whole Foods", "Pfeiffer State Park", "Shell"],
        }
        receipts = {}
        for folder, names in merchants.items():
            receipts[folder] = []
            for index, merchant in enumerate(names):
                total = round(rng.randint(1200, 24000) / 100, 2)
                date = f"2024-06-{2 + 2 * index:02d}"
                file_name = f"receipt_{index + 1}.txt"
                content = (f"Merchant: {merchant}\nDate: {date}\nPayment: card ending "
                           f"{rng.randint(1000, 9999)}\nTotal: ${total:.2f}\n")
                c.call("file_system", "create_file", as_=s, at=_dt(6, 2 + 2 * index, 20),
                       file_path=f"~/documents/receipts/{folder}/{file_name}", content=content)
                receipts[folder].append({"file": file_name, "merchant": merchant, "total": total})
        w.data["downloads"] = downloads
        w.data["receipts"] = receipts

    # ---------------------------------------------------------------- api_docs
    def api_docs(self) -> None:
        from appworld.api_docs import prepare_api_docs

        m = self.ctx.m
        for app in ALL_APPS:
            if app == "admin":
                continue
            for doc in prepare_api_docs(app, include_private_apis=False):
                m.api_docs.ApiDoc.create_save(
                    app_name_=doc["app_name"], api_name=doc["api_name"], path=doc["path"],
                    method=doc["method"], description=doc["description"],
                    parameters=doc["parameters"], response_schemas=doc["response_schemas"],
                )
