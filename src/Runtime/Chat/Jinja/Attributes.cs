namespace LongLM.Runtime.Chat.Jinja;

/// <summary>
/// `obj.name` and `obj[key]` with Jinja's rules: getattr tries the Python attribute first, then the item; getitem the
/// item first, then (for a string key) the attribute; a miss is Undefined. Attributes that mutate (list.append,
/// dict.update, ...) are refused, as in transformers' ImmutableSandboxedEnvironment.
/// </summary>
internal static class Attributes
{
    private static readonly HashSet<string> StrMethods =
    [
        "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower", "title", "capitalize",
        "replace", "join", "find", "rfind", "index", "rindex", "count", "isdigit", "isalpha", "isalnum", "isspace",
        "isupper", "islower", "isnumeric", "isdecimal", "splitlines", "swapcase", "casefold", "zfill", "center", "ljust",
        "rjust", "partition", "rpartition", "removeprefix", "removesuffix", "expandtabs", "istitle",
    ];

    private static readonly HashSet<string> DictMethods = ["items", "keys", "values", "get", "copy"];
    private static readonly HashSet<string> DictMutators = ["clear", "pop", "popitem", "setdefault", "update"];
    private static readonly HashSet<string> ListMethods = ["index", "count", "copy"];
    private static readonly HashSet<string> ListMutators = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"];

    private static Undefined Unsafe(string attribute, object? obj) =>
        new($"access to attribute '{attribute}' of '{PyOps.TypeName(obj)}' object is unsafe.");

    private static Undefined Missing(object? obj, string attribute) =>
        new(obj is null ? $"'None' has no attribute '{attribute}'" : $"'{PyOps.TypeName(obj)} object' has no attribute '{attribute}'");

    public static object? GetAttr(Renderer r, object? obj, string name)
    {
        if (obj is Undefined u) throw new JinjaError(PyOps.UndefinedMessage(u));
        // The sandbox refuses underscore attributes; a dict's "_key" item is still reachable (getattr falls back to it).
        if (name.StartsWith('_')) return obj is PyDict under && under.TryGet(name, out var item) ? item : Unsafe(name, obj);
        switch (obj)
        {
            case PyDict d:
                if (DictMethods.Contains(name)) return new BoundMethod(d, name);
                if (DictMutators.Contains(name)) return Unsafe(name, obj);
                return d.TryGet(name, out var v) ? v : Missing(obj, name);
            case string s:
                return StrMethods.Contains(name) ? new BoundMethod(s, name) : Missing(obj, name);
            case PyList l:
                if (ListMethods.Contains(name)) return new BoundMethod(l, name);
                if (ListMutators.Contains(name)) return Unsafe(name, obj);
                return Missing(obj, name);
            case Namespace ns:
                return ns.Attributes.TryGet(name, out var nv) ? nv : Missing(obj, name);
            case LoopInfo loop:
                return LoopAttribute(loop, name);
            default:
                return Missing(obj, name);
        }
    }

    public static object? GetItem(Renderer r, object? obj, object? key)
    {
        if (obj is Undefined u) throw new JinjaError(PyOps.UndefinedMessage(u));
        switch (obj)
        {
            case PyDict d:
                if (d.TryGet(key, out var v)) return v;
                break;
            case PyList l when key is long or bool:
            {
                long i = PyOps.ToIndex(key, "list");
                if (i < 0) i += l.Count;
                if (i >= 0 && i < l.Count) return l.Items[(int)i];
                return new Undefined($"'{PyOps.TypeName(obj)} object' has no element {PyFormat.Str(key)}");
            }
            case string s when key is long or bool:
            {
                var chars = PyOps.HasSurrogates(s) ? PyOps.CodePoints(s) : null;
                int length = chars?.Count ?? s.Length;
                long i = PyOps.ToIndex(key, "string");
                if (i < 0) i += length;
                if (i >= 0 && i < length) return chars is null ? s[(int)i].ToString() : chars[(int)i];
                return new Undefined($"'str object' has no element {PyFormat.Str(key)}");
            }
            case PyRange range when key is long or bool:
            {
                long i = PyOps.ToIndex(key, "range");
                if (i < 0) i += range.Length;
                if (i >= 0 && i < range.Length) return range[i];
                break;
            }
            case Namespace ns:
                if (ns.Attributes.TryGet(key, out var nv)) return nv;
                break;
            case LoopInfo when key is string:
                break;
        }
        if (key is string name) return GetAttr(r, obj, name);
        return new Undefined($"'{PyOps.TypeName(obj)} object' has no element {PyFormat.Repr(key)}");
    }

    private static object? LoopAttribute(LoopInfo loop, string name)
    {
        int n = loop.Items.Count, i = loop.Index0;
        return name switch
        {
            "index" => (long)(i + 1),
            "index0" => (long)i,
            "revindex" => (long)(n - i),
            "revindex0" => (long)(n - i - 1),
            "first" => i == 0,
            "last" => i == n - 1,
            "length" => (long)n,
            "depth" => (long)(loop.Depth0 + 1),
            "depth0" => (long)loop.Depth0,
            "previtem" => i > 0 ? loop.Items[i - 1] : new Undefined("there is no previous item"),
            "nextitem" => i < n - 1 ? loop.Items[i + 1] : new Undefined("there is no next item"),
            "cycle" => new BuiltinFunction("loop.cycle", (_, args) =>
            {
                if (args.Positional.Count == 0) throw new JinjaError("no items for cycling given");
                return args.Positional[loop.Index0 % args.Positional.Count];
            }),
            "changed" => new BuiltinFunction("loop.changed", (_, args) =>
            {
                var value = new PyList(args.Positional, isTuple: true);
                if (!loop.ChangedNeverCalled && PyOps.Equal(loop.LastChanged, value)) return false;
                loop.LastChanged = value;
                return true;
            }),
            _ => new Undefined($"'LoopContext object' has no attribute '{name}'"),
        };
    }
}

/// <summary>A method of a str, dict or list value, bound to it (`'a b'.split`, `message.items`).</summary>
internal sealed class BoundMethod(object receiver, string method) : Callable
{
    public override string Name => method;

    public override object? Call(Renderer renderer, CallArgs args) => receiver switch
    {
        string s => StringMethods.Call(renderer, s, method, args),
        PyDict d => CollectionMethods.CallDict(d, method, args),
        PyList l => CollectionMethods.CallList(l, method, args),
        _ => throw new JinjaError($"cannot call {method}"),
    };
}

internal static class CollectionMethods
{
    public static object? CallDict(PyDict d, string method, CallArgs args)
    {
        switch (method)
        {
            case "items":
                return new PyList(d.Entries.Select(e => (object?)new PyList([e.Key, e.Value], isTuple: true)).ToList());
            case "keys":
                return new PyList(d.Entries.Select(e => (object?)e.Key).ToList());
            case "values":
                return new PyList(d.Entries.Select(e => e.Value).ToList());
            case "get":
            {
                if (args.Positional.Count == 0) throw new JinjaError("get expected at least 1 argument, got 0");
                return d.TryGet(args.Positional[0], out var v) ? v : args.Get(1, "default");
            }
            case "copy":
            {
                var copy = new PyDict();
                foreach (var e in d.Entries) copy.Set(e.Key, e.Value);
                return copy;
            }
            default:
                throw new JinjaError($"'dict' object has no attribute '{method}'");
        }
    }

    public static object? CallList(PyList l, string method, CallArgs args)
    {
        switch (method)
        {
            case "index":
            {
                var x = args.Get(0, "value");
                for (int i = 0; i < l.Count; i++) if (PyOps.Equal(l.Items[i], x)) return (long)i;
                throw new JinjaError($"{PyFormat.Repr(x)} is not in list");
            }
            case "count":
            {
                var x = args.Get(0, "value");
                return (long)l.Items.Count(item => PyOps.Equal(item, x));
            }
            case "copy":
                return new PyList([.. l.Items], l.IsTuple);
            default:
                throw new JinjaError($"'list' object has no attribute '{method}'");
        }
    }
}

/// <summary>Python slicing (`x[a:b:c]`, negative bounds and steps) of lists, tuples and strings.</summary>
internal static class Slicing
{
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined u) throw new JinjaError(PyOps.UndefinedMessage(u));
        List<object?>? items = null;
        List<string>? chars = null;
        string? plain = null;
        int length;
        switch (target)
        {
            case PyList l:
                items = l.Items;
                length = l.Count;
                break;
            case string s when PyOps.HasSurrogates(s):
                chars = PyOps.CodePoints(s);
                length = chars.Count;
                break;
            case string s:
                plain = s;
                length = s.Length;
                break;
            default:
                throw new JinjaError($"'{PyOps.TypeName(target)}' object is not subscriptable");
        }
        long st = step is null ? 1 : PyOps.ToIndex(step, "slice");
        if (st == 0) throw new JinjaError("slice step cannot be zero");
        long lo, hi;
        if (st > 0)
        {
            lo = Clamp(start, 0, length, 0, length);
            hi = Clamp(stop, length, length, 0, length);
        }
        else
        {
            lo = Clamp(start, length - 1, length, -1, length - 1);
            hi = Clamp(stop, -1, length, -1, length - 1);
        }
        var indices = new List<int>();
        if (st > 0) for (long i = lo; i < hi; i += st) indices.Add((int)i);
        else for (long i = lo; i > hi; i += st) indices.Add((int)i);
        if (items is not null) return new PyList(indices.Select(i => items[i]).ToList(), ((PyList)target!).IsTuple);
        if (chars is not null) return string.Concat(indices.Select(i => chars[i]));
        if (st == 1) return plain!.Substring((int)lo, (int)Math.Max(0, hi - lo));
        return new string(indices.Select(i => plain![i]).ToArray());
    }

    /// <summary>PySlice_AdjustIndices for one bound.</summary>
    private static long Clamp(object? bound, long fallback, int length, long min, long max)
    {
        if (bound is null) return fallback;
        long v = PyOps.ToIndex(bound, "slice");
        if (v < 0) v += length;
        return Math.Min(Math.Max(v, min), max);
    }
}
