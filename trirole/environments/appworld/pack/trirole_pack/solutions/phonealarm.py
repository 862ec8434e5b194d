"""Ground truth of the "phonealarm" scenario: create a repeating phone alarm."""


def solve(apis, public_data, phone_access_token):
    apis.phone.create_alarm(
        time=public_data["time"],
        label=public_data["label"],
        repeat_days=public_data["repeat_days"],
        enabled=True,
        access_token=phone_access_token,
    )
    answer = None
    return answer
