# Setup code of an AppWorld episode: runs INSIDE the python sandbox, in the agent's globals,
# before any agent code (standard library only; see trirole.environments.appworld.environment).
# The environment appends one line, `_appworld_setup(CONFIG)`, and sends the whole text as
# the sandbox's setup code. `_appworld_call` is the host function (run by trirole, which
# forwards the call to the AppWorld server holding the world); `__trirole_record__` is the
# sandbox's own.
#
# It builds what AppWorld's own shell gives agent code: `apis.<app>.<api>(**arguments)`
# (each a recorded call; a failure raises `Exception` with AppWorld's message), `requester`
# (`requester.request(app_name, api_name, **arguments)`), AppWorld's preamble (its stdlib
# imports and the names of `ApiCollection` and `Requester`, a `print` that shows a single
# list or dict as JSON, no `input`; not pendulum: the sandbox has the standard library
# only) and the task's frozen clock (`datetime.datetime.now()`, `datetime.date.today()`).
# Everything else of the sandbox's own (`context`, `complete_task`, ...) is removed from
# the agent's globals.


def _appworld_setup(config):
    import builtins
    import datetime as _datetime
    import json as _json

    space = globals()
    call = space.pop("_appworld_call")
    record = space.pop("__trirole_record__")
    tool_error = space.pop("ToolError")
    for name in ("context", "complete_task", "__trirole_files__"):
        space.pop(name, None)

    def failure(text):
        """The exception type and message of a failed call (`AppWorldApiError: {"type", "message"}`
        from trirole; anything else is trirole's own failure to reach the world)."""
        prefix = "AppWorldApiError: "
        if text.startswith(prefix):
            try:
                error = _json.loads(text[len(prefix):])
                kind = getattr(builtins, error["type"], Exception)
                kind = kind if isinstance(kind, type) and issubclass(kind, Exception) else Exception
                return kind, error["message"]
            except (ValueError, KeyError, TypeError):
                pass
        return Exception, text

    def api_function(app, api):
        def request(*args, **arguments):
            if args:
                raise TypeError(f"apis.{app}.{api}() takes keyword arguments only (got {len(args)} positional)")
            try:
                _json.dumps(arguments, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"the arguments of apis.{app}.{api}() must be JSON values (str, int, float, bool, "
                                f"None, lists and dicts of them): {exc}") from None
            try:
                return call(app, api, arguments)
            except tool_error as exc:  # the API's failure, raised as AppWorld's shell raises it
                kind, message = failure(str(exc))
                raise kind(message) from None

        request.__name__ = request.__qualname__ = api
        return record(request, name=f"apis.{app}.{api}")

    class Listing:
        """What `apis` and each of its apps share: named entries reached as attributes or
        items, listed by `keys()`; a missing one raises AppWorld's own message."""

        def __init__(self, entries):
            for name, value in entries.items():
                object.__setattr__(self, name, value)

        def _missing(self, name):
            raise NotImplementedError

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            raise Exception(self._missing(name))

        def __getitem__(self, name):
            return getattr(self, name)

        def __contains__(self, name):
            return name in self.keys()

        def keys(self):
            return [key for key in vars(self) if not key.startswith("_")]

        def __dir__(self):
            return self.keys()

    class App(Listing):
        """One app's APIs: `apis.<app>.<api>(**arguments)`."""

        def __init__(self, name, names):
            object.__setattr__(self, "_name", name)
            super().__init__({api: api_function(name, api) for api in names})

        def _missing(self, api):
            return f"No API named '{api}' found in the {self._name} app."

        def __repr__(self):
            return f"<AppWorld app {self._name}: {len(self.keys())} APIs>"

    class Apis(Listing):
        """AppWorld's `apis`: one attribute per app."""

        def __init__(self, listing):
            super().__init__({app: App(app, names) for app, names in listing.items()})

        def _missing(self, app):
            return f"No app named '{app}' found."

        def __repr__(self):
            return f"<AppWorld apis: {', '.join(self.keys())}>"

    apis = Apis(config["apis"])

    class Requester:
        """AppWorld's `requester`, for its `request(app_name, api_name, **arguments)`."""

        def request(self, _app_name, _api_name, **arguments):
            return getattr(getattr(apis, _app_name), _api_name)(**arguments)

    # The task's clock, as AppWorld's server freezes it (its shell's `datetime` sees it).
    frozen = _datetime.datetime.fromisoformat(config["datetime"]).replace(tzinfo=None)

    class FrozenDateTime(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            value = cls.fromisoformat(frozen.isoformat())
            return value.replace(tzinfo=tz) if tz is not None and value.tzinfo is None else value

        @classmethod
        def today(cls):
            return cls.now()

        @classmethod
        def utcnow(cls):
            return cls.now()

    class FrozenDate(_datetime.date):
        @classmethod
        def today(cls):
            return cls(frozen.year, frozen.month, frozen.day)

    FrozenDateTime.__name__ = FrozenDateTime.__qualname__ = "datetime"
    FrozenDate.__name__ = FrozenDate.__qualname__ = "date"
    _datetime.datetime, _datetime.date = FrozenDateTime, FrozenDate

    def show(*args, **kwargs):
        if not kwargs and len(args) == 1 and isinstance(args[0], (list, tuple, dict)):
            try:
                text = _json.dumps(args[0])
            except (TypeError, ValueError):
                return builtins.print(*args)
            return builtins.print(_json.dumps(args[0], indent=1 if len(text) >= 100 else None))
        return builtins.print(*args, **kwargs)

    def no_input(*args, **kwargs):
        raise Exception("input(..) is not allowed. All decisions must be made autonomously.")

    show.__name__, no_input.__name__ = "print", "input"
    import calendar, itertools, math, random, re  # noqa: E401 (AppWorld's preamble)
    from collections import Counter, defaultdict
    from collections.abc import Iterator
    from copy import deepcopy
    from functools import reduce

    space.update(apis=apis, requester=Requester(), ApiCollection=Apis, Requester=Requester, print=show, input=no_input, builtins=builtins,
                 datetime=_datetime, json=_json, calendar=calendar, itertools=itertools, math=math, random=random,
                 re=re, Counter=Counter, defaultdict=defaultdict, Iterator=Iterator, deepcopy=deepcopy,
                 reduce=reduce)
    space.pop("_appworld_setup", None)
