"""What the agent (and the isolated corrector) are told about AppWorld up front.

The app list and descriptions are AppWorld 0.1.3's own (``appworld.apps.APP_TO_DESCRIPTION``,
without the internal ``admin`` app); the API-docs calls and the completion rule follow
AppWorld's ReAct baseline prompt.
"""

from __future__ import annotations

APP_DESCRIPTIONS: dict[str, str] = {
    "api_docs": "An app to search and explore API documentation.",
    "supervisor": "An app to access supervisor's personal information, account credentials, "
                  "addresses, payment cards, and manage the assigned task.",
    "amazon": "An online shopping app to buy products and manage orders, returns, etc.",
    "phone": "An app to find and manage contact information for friends, family members, etc., "
             "send and receive messages, and manage alarms.",
    "file_system": "A file system app to create and manage files and folders.",
    "spotify": "A music streaming app to stream songs and manage song, album and playlist libraries.",
    "venmo": "A social payment app to send, receive and request money to and from others.",
    "gmail": "An email app to draft, send, receive, and manage emails.",
    "splitwise": "A bill splitting app to track and split expenses with people.",
    "simple_note": "A note-taking app to create and manage notes",
    "todoist": "A task management app to manage todo lists and collaborate on them with others.",
}

COMPLETION_HINT = "apis.supervisor.complete_task(answer=...) (no answer argument when the task asks for no information)"

_REFERENCE = "\n".join([
    "You act for your supervisor (me) through the APIs of these apps, "
    "called from Python as `apis.<app_name>.<api_name>(...)`:",
    "{apps}",
    "",
    "Look the APIs up from code, printing what you need to see:",
    "- print(apis.api_docs.show_app_descriptions())",
    "- print(apis.api_docs.show_api_descriptions(app_name='spotify'))",
    "- print(apis.api_docs.show_api_doc(app_name='spotify', api_name='login'))",
    "Read an API's doc before calling it. Your code runs in a persistent Python REPL: variables survive "
    "between steps; use print() to see results. Account passwords are in "
    "apis.supervisor.show_account_passwords(). Many APIs return results in pages: loop over page_index "
    "until a page comes back empty.",
    "",
    "When the task is done, call apis.supervisor.complete_task(). If the task asks for information, pass it "
    "as the answer, concise (a number, a name, yes/no): apis.supervisor.complete_task(answer=<answer>). "
    "Tasks that ask for no information take no argument: apis.supervisor.complete_task().",
])


def reference_text(apps: dict[str, str] | None = None) -> str:
    apps = APP_DESCRIPTIONS if apps is None else apps
    return _REFERENCE.format(apps="\n".join(f"- {name}: {text}" for name, text in apps.items()))


SHARED_APPS = ("api_docs", "supervisor")


def app_references() -> dict[str, str]:
    """Per-app reference for specialists that each see only their app: the app itself plus
    the two every app needs (api_docs to look APIs up, supervisor for passwords and
    completing the task)."""
    return {
        app: reference_text({name: APP_DESCRIPTIONS[name] for name in (*SHARED_APPS, app)})
        for app in APP_DESCRIPTIONS if app not in SHARED_APPS
    }
