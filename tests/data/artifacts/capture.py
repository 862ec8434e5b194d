"""Capture the AppWorld part of the artifact corpus from the REAL AppWorld engine.

Run once, with AppWorld's own venv, against trirole's offline pack:

    $TRIROLE_HOME/appworld-env/bin/python tests/data/artifacts/capture.py \
        --root $TRIROLE_HOME/appworld/pack-seed0 --out tests/data/artifacts/appworld.json

Each cell runs through ``world.execute`` (the path an agent's code takes) and its output
is stored verbatim with the code. The labels (the secrets the output holds) do not come
from trirole's extractor: after each cell a labelling cell, run in the same world, prints
the values from the engine's own Python objects (``r["access_token"]``, the passwords the
supervisor API returns); the reset code is proven by ``reset_password`` accepting it.
The world is thrown away (its experiment folder is removed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import warnings

warnings.filterwarnings("ignore")

TASK_ID = "ff3f72b_1"  # spotify and simple_note, with gmail and the supervisor APIs available
EXPERIMENT = "trirole_artifact_corpus"
NONE = 'print("[]")'

SETUP = """import json, re
profile = apis.supervisor.show_profile()
pw = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}
"""

# (id, code whose output is captured, labelling code printing a JSON list of the secrets)
CELLS = [
    ("account_passwords", "print(apis.supervisor.show_account_passwords())",
     'print(json.dumps([p["password"] for p in apis.supervisor.show_account_passwords()]))'),
    ("profile", "print(apis.supervisor.show_profile())", NONE),
    ("payment_cards", "print(apis.supervisor.show_payment_cards())", NONE),
    ("login_response", "r = apis.spotify.login(username=profile['email'], password=pw['spotify'])\nprint(r)",
     'print(json.dumps([r["access_token"]]))'),
    ("login_token_bare", "token = apis.gmail.login(username=profile['email'], password=pw['gmail'])['access_token']\n"
     "print(token)", "print(json.dumps([token]))"),
    ("login_token_fstring", "note_token = apis.simple_note.login(username=profile['email'], "
     "password=pw['simple_note'])['access_token']\nprint(f'simple_note login ok, token {note_token}')",
     "print(json.dumps([note_token]))"),
    ("password_bare", "print(pw['spotify'])", 'print(json.dumps([pw["spotify"]]))'),
    ("passwords_loop", "for app, password in pw.items():\n    print(app, password)", "print(json.dumps(list(pw.values())))"),
    ("song_library_page0", "print(apis.spotify.show_song_library(access_token=r['access_token'], page_index=0, "
     "page_limit=20))", NONE),
    ("song_library_page1", "print(apis.spotify.show_song_library(access_token=r['access_token'], page_index=1, "
     "page_limit=20))", NONE),
    ("playlist_library", "print(apis.spotify.show_playlist_library(access_token=r['access_token'], page_limit=10))",
     NONE),
    ("search_songs", "print(apis.spotify.search_songs(query='love', page_limit=10))", NONE),
    ("notes", "print(apis.simple_note.search_notes(access_token=note_token, page_limit=10))", NONE),
    ("account", "print(apis.spotify.show_account(access_token=r['access_token']))", NONE),
    ("error_wrong_password", "print(apis.spotify.login(username=profile['email'], password='wrong'))", NONE),
    ("error_bad_token", "print(apis.spotify.show_song_library(access_token='bad', page_index=0))", NONE),
    ("error_missing_song", "print(apis.spotify.show_song(song_id=987654))", NONE),
    ("error_key", "print(r['refresh_token'])", NONE),
    ("tokens_dict", "tokens = {app: getattr(apis, app).login(username=profile['email'], password=pw[app])['access_token']\n"
     "          for app in ['venmo', 'splitwise', 'todoist']}\nprint(tokens)", "print(json.dumps(list(tokens.values())))"),
    ("phone_login_label", "phone_token = apis.phone.login(username=profile['phone_number'], password=pw['phone'])"
     "['access_token']\nprint('token:', phone_token)", "print(json.dumps([phone_token]))"),
    ("header_fstring", "print(f\"Authorization: Bearer {tokens['venmo']}\")", "print(json.dumps([tokens['venmo']]))"),
    ("venmo_transactions", "print(apis.venmo.show_transactions(access_token=tokens['venmo'], page_limit=10))", NONE),
    ("venmo_balance", "print(apis.venmo.show_venmo_balance(access_token=tokens['venmo']))", NONE),
    ("venmo_cards", "print(apis.venmo.show_payment_cards(access_token=tokens['venmo']))", NONE),
    ("venmo_verification_error", "print(apis.venmo.send_verification_code(email=profile['email']))", NONE),
    ("splitwise_groups", "print(apis.splitwise.show_groups(access_token=tokens['splitwise']))", NONE),
    ("todoist_projects", "print(apis.todoist.show_projects(access_token=tokens['todoist']))", NONE),
    ("phone_messages", "print(apis.phone.search_text_messages(access_token=phone_token, page_limit=10))", NONE),
    ("phone_contacts", "print(apis.phone.search_contacts(access_token=phone_token, page_limit=10))", NONE),
    ("file_system_dir", "fs_token = apis.file_system.login(username=profile['email'], password=pw['file_system'])"
     "['access_token']\nprint(apis.file_system.show_directory(access_token=fs_token, directory_path='~/'))", NONE),
    ("note_content", "print(apis.simple_note.show_note(access_token=note_token, note_id=9))", NONE),
    ("api_docs", "print(apis.api_docs.show_api_doc(app_name='spotify', api_name='login'))", NONE),
    ("reset_code_sent", "print(apis.spotify.send_password_reset_code(email=profile['email']))", NONE),
    ("inbox", "print(apis.gmail.show_inbox_threads(access_token=token, page_limit=3))", NONE),
    ("reset_email", "thread = [t for t in apis.gmail.show_inbox_threads(access_token=token, page_limit=20)\n"
     "          if 'Password Reset' in t['subject']][0]\n"
     "print(apis.gmail.show_thread(access_token=token, email_thread_id=thread['email_thread_id']))",
     # The label is the number in the email that spotify's reset_password accepts.
     "body = json.dumps(apis.gmail.show_thread(access_token=token, email_thread_id=thread['email_thread_id']))\n"
     "accepted = [c for c in dict.fromkeys(re.findall(r'[A-Za-z0-9]{4,}', body)) if isinstance(_try_reset(c), dict)]\n"
     "print(json.dumps(accepted))"),
]

HELPERS = """def _try_reset(code):
    try:
        return apis.spotify.reset_password(email=profile['email'], password_reset_code=code, new_password=pw['spotify'])
    except Exception as exception:
        return 'failed: ' + str(exception)[:40]
"""


def capture(root: str) -> list[dict]:
    os.environ["APPWORLD_ROOT"] = root
    from appworld import update_root

    update_root(root)
    from appworld.environment import AppWorld

    samples = []
    try:
        with AppWorld(task_id=TASK_ID, experiment_name=EXPERIMENT) as world:
            world.execute(SETUP + HELPERS)
            for name, code, label in CELLS:
                output = world.execute(code)
                labels = world.execute(label).strip()
                secrets = json.loads(labels)
                samples.append({"id": f"appworld/{name}", "origin": f"AppWorld engine, pack task {TASK_ID}",
                                "code": code, "output": output, "secrets": secrets})
                print(f"{name}: {len(output)} chars, {len(secrets)} secrets")
    finally:
        shutil.rmtree(os.path.join(root, "experiments", "outputs", EXPERIMENT), ignore_errors=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the offline pack (or official AppWorld data)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    samples = capture(os.path.abspath(args.root))
    with open(args.out, "w") as file:
        json.dump(samples, file, indent=1, ensure_ascii=False)
        file.write("\n")


if __name__ == "__main__":
    main()
