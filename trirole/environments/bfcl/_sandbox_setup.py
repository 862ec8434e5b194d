# Setup code of a BFCL episode: runs INSIDE the python sandbox, in the agent's globals,
# before any agent code (standard library only; see trirole.environments.bfcl.environment).
# The environment appends one line, `_bfcl_setup(CONFIG)`, and sends the whole text as the
# sandbox's setup code; `__trirole_record__` and `__trirole_files__` are the sandbox's own.
#
# Single-turn ("single"): each listed function becomes a stub that checks a call against
#   the function's JSON schema (unknown parameter, missing required parameter) and raises
#   a TypeError saying what is wrong; an accepted call is recorded (it is the answer) and
#   has no other effect. A value of the wrong type is recorded with a note (BFCL's
#   checker may accept it: see `_schema_stub`). Dotted names (`math.factorial`) are reached
#   through namespace objects.
# Multi-turn ("multi"): BFCL's own classes, imported from their sources bound read-only,
#   are instantiated and loaded from the entry's initial_config as BFCL does it; their
#   public methods become recorded functions; functions held back for a later turn
#   are defined by `__bfcl_reveal__(turn)` when that turn starts.
# Both: `complete_task()` is recorded too; the environment reads it as "this turn is done".


def _bfcl_setup(config):
    import copy
    import importlib
    import inspect
    import sys

    space = globals()
    record = __trirole_record__  # noqa: F821 (the sandbox's own)

    class Functions:
        """A namespace of functions with dotted names (``math.factorial``)."""

        def __init__(self, path):
            self._path = path

        def __getattr__(self, name):
            raise AttributeError(f"{self._path}.{name} is not one of the functions listed for this task")

        def __repr__(self):
            return f"<functions {self._path}.*>"

    def place(name, fn):
        parts = name.split(".")
        holder, path = space, []
        for part in parts[:-1]:
            path.append(part)
            found = holder.get(part) if isinstance(holder, dict) else getattr(holder, part, None)
            if not isinstance(found, Functions):
                found = Functions(".".join(path))
                if isinstance(holder, dict):
                    holder[part] = found
                else:
                    setattr(holder, part, found)
            holder = found
        if isinstance(holder, dict):
            holder[parts[-1]] = fn
        else:
            setattr(holder, parts[-1], fn)

    def end_turn(answer=None):
        """Finish your answer to the current request."""
        return None

    space["complete_task"] = record(end_turn, name="complete_task")

    if config["mode"] == "single":
        for doc in config["functions"]:
            place(doc["name"], record(_schema_stub(doc), name=doc["name"]))
        return

    root = None
    for inside, opened in __trirole_files__.items():  # noqa: F821 (the sandbox's own)
        if inside.endswith("/func_source_code"):
            root = opened.rsplit("/", 4)[0]  # the folder holding bfcl_eval/
    if root is None:
        raise RuntimeError("BFCL's class sources are not bound into the sandbox")
    sys.path.insert(0, root)
    sys.dont_write_bytecode = True
    methods = {}
    for class_name in config["classes"]:
        module = importlib.import_module(config["prefix"] + "." + config["modules"][class_name])
        instance = getattr(module, class_name)()
        if class_name not in config["stateless"]:
            instance._load_scenario(copy.deepcopy(config["initial_config"].get(class_name, {})),
                                    long_context=config["long_context"])
        for name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
            if not name.startswith("_"):
                methods[name] = method

    def define(names):
        for name in names:
            if name in methods:
                space[name] = record(methods[name], name=name)

    held = config["held"]
    # Every public method, as BFCL's execution maps them (the reference lists the
    # documented ones), except those held back for a later turn.
    define(name for name in methods if not any(name in names for names in held.values()))

    def reveal(turn):
        define(held.get(str(turn), []))

    space["__bfcl_reveal__"] = reveal


def _schema_stub(doc):
    import inspect

    name = doc["name"]
    parameters = doc.get("parameters") or {}
    properties = parameters.get("properties") or {}
    required = [p for p in parameters.get("required") or [] if p in properties]
    types = {"string": (str,), "integer": (int,), "float": (int, float), "number": (int, float),
             "boolean": (bool,), "array": (list, tuple), "tuple": (list, tuple), "dict": (dict,), "object": (dict,)}

    def wrong_type(value, schema):
        expected = (schema or {}).get("type")
        allowed = types.get(expected)
        if allowed is None:  # "any", or a type name this check does not know: accepted
            return None
        if isinstance(value, bool) and bool not in allowed:
            return expected
        if not isinstance(value, allowed):
            return expected
        if expected in ("array", "tuple") and isinstance((schema or {}).get("items"), dict):
            for item in value:
                if wrong_type(item, schema["items"]):
                    return f"{expected} of {schema['items'].get('type')}"
        return None

    def stub(*args, **kwargs):
        names = list(properties)
        if len(args) > len(names):
            raise TypeError(f"{name}() takes at most {len(names)} arguments ({len(args)} given)")
        arguments = dict(zip(names, args))
        for key, value in kwargs.items():
            if key in arguments:
                raise TypeError(f"{name}() got two values for parameter {key!r}")
            arguments[key] = value
        unknown = [key for key in arguments if key not in properties]
        if unknown:
            raise TypeError(f"{name}() has no parameter {', '.join(map(repr, unknown))}; "
                            f"its parameters are: {', '.join(names) or 'none'}")
        missing = [key for key in required if key not in arguments]
        if missing:
            raise TypeError(f"{name}() is missing the required parameter(s) {', '.join(map(repr, missing))}")
        # A value of another type than the schema's is recorded all the same, with a note:
        # BFCL's checker accepts a value of the ground truth's type even where that type
        # contradicts the schema (some entries are so), and what BFCL accepts must pass here.
        notes = [f"parameter {key!r} should be of type {expected} by the schema, got {type(value).__name__}"
                 for key, value in arguments.items() for expected in [wrong_type(value, properties[key])] if expected]
        print(f"recorded: {name}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")"
              + (f" (note: {'; '.join(notes)})" if notes else ""))
        return None

    try:  # the parameters by name, so that positional arguments are recorded by name
        stub.__signature__ = inspect.Signature([
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None) for p in properties])
    except ValueError:  # a parameter name Python cannot spell (a keyword): keyword arguments only
        pass
    stub.__name__ = stub.__qualname__ = name.rsplit(".", 1)[-1]
    stub.__doc__ = doc.get("description") or None
    return stub
