using System.Text.Json;
using System.Text.Json.Nodes;

namespace LongLM.Runtime.Chat.Jinja;

// The value model. A template value is one of: null (Python None), bool, long, double, string, PyList, PyDict,
// Undefined, or one of the objects defined here (callables, namespace, loop). Nothing else ever enters a render:
// input JSON is converted by FromJson, so no .NET object is reachable from a template.

/// <summary>Jinja's Undefined: prints as empty, is falsy, iterates as empty; any attribute or call on it is an error.</summary>
internal sealed class Undefined(string hint)
{
    /// <summary>What Jinja's UndefinedError would say ("'x' is undefined", "'dict object' has no attribute 'y'").</summary>
    public string Hint { get; } = hint;
}

/// <summary>A Python list, or a tuple when <see cref="IsTuple"/> (tuples print with parentheses).</summary>
internal sealed class PyList(List<object?> items, bool isTuple = false)
{
    public List<object?> Items { get; } = items;
    public bool IsTuple { get; } = isTuple;
    public int Count => Items.Count;
}

/// <summary>A Python dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).</summary>
internal sealed class PyDict
{
    private readonly List<KeyValuePair<object, object?>> _entries = [];
    private readonly Dictionary<object, int> _index = new(PyKeyComparer.Instance);

    public int Count => _entries.Count;
    public IReadOnlyList<KeyValuePair<object, object?>> Entries => _entries;

    public void Set(object key, object? value)
    {
        if (_index.TryGetValue(key, out int i)) _entries[i] = new(_entries[i].Key, value);
        else
        {
            _index[key] = _entries.Count;
            _entries.Add(new(key, value));
        }
    }

    public bool TryGet(object? key, out object? value)
    {
        if (key is not null && PyKeyComparer.IsHashable(key) && _index.TryGetValue(key, out int i))
        {
            value = _entries[i].Value;
            return true;
        }
        value = null;
        return false;
    }

    public bool ContainsKey(object? key) => TryGet(key, out _);
}

/// <summary>Python hashing and equality for dict keys (strings, numbers, bools, None is kept out).</summary>
internal sealed class PyKeyComparer : IEqualityComparer<object>
{
    public static readonly PyKeyComparer Instance = new();

    public static bool IsHashable(object key) => key is string or long or double or bool;

    public new bool Equals(object? x, object? y) => PyOps.Equal(x, y);

    public int GetHashCode(object obj) => obj switch
    {
        string s => StringComparer.Ordinal.GetHashCode(s),
        bool b => (b ? 1L : 0L).GetHashCode(),
        long l => l.GetHashCode(),
        double d when d == Math.Floor(d) && Math.Abs(d) < 9.2e18 => ((long)d).GetHashCode(),
        double d => d.GetHashCode(),
        _ => 0,
    };
}

/// <summary>A lazy range(start, stop, step): `for i in range(10**9)` must not allocate.</summary>
internal sealed class PyRange(long start, long stop, long step)
{
    public long Start { get; } = start;
    public long Stop { get; } = stop;
    public long Step { get; } = step;

    public long Length => Step > 0
        ? (Stop > Start ? (Stop - Start + Step - 1) / Step : 0)
        : (Start > Stop ? (Start - Stop - Step - 1) / -Step : 0);

    public long this[long i] => Start + i * Step;
}

/// <summary>Arguments of a call: positional, then keyword in order.</summary>
internal sealed class CallArgs(List<object?> positional, List<KeyValuePair<string, object?>> keyword)
{
    public static readonly CallArgs Empty = new([], []);
    public List<object?> Positional { get; } = positional;
    public List<KeyValuePair<string, object?>> Keyword { get; } = keyword;

    /// <summary>Python-style binding of one parameter: by position, else by name, else the default.</summary>
    public object? Get(int position, string name, object? fallback = null)
    {
        if (position >= 0 && position < Positional.Count) return Positional[position];
        foreach (var kv in Keyword) if (kv.Key == name) return kv.Value;
        return fallback;
    }

    public bool Has(int position, string name) =>
        (position >= 0 && position < Positional.Count) || Keyword.Any(kv => kv.Key == name);
}

/// <summary>Something a template can call: a global function, a bound method, a macro, caller, loop.cycle.</summary>
internal abstract class Callable
{
    public abstract string Name { get; }
    public abstract object? Call(Renderer renderer, CallArgs args);
}

internal sealed class BuiltinFunction(string name, Func<Renderer, CallArgs, object?> body) : Callable
{
    public override string Name { get; } = name;
    public override object? Call(Renderer renderer, CallArgs args) => body(renderer, args);
}

/// <summary>The result of namespace(): the one mutable object, written by `{% set ns.attr = value %}`.</summary>
internal sealed class Namespace
{
    public PyDict Attributes { get; } = new();
}

/// <summary>The `loop` variable of a for loop.</summary>
internal sealed class LoopInfo(List<object?> items, int depth0)
{
    public List<object?> Items { get; } = items;
    public int Index0 { get; set; }
    public int Depth0 { get; } = depth0;
    public object? LastChanged { get; set; } = s_unset;
    private static readonly object s_unset = new();
    public bool ChangedNeverCalled => ReferenceEquals(LastChanged, s_unset);
}

internal static class JsonInput
{
    /// <summary>
    /// A number as Python sees it: parsed JSON keeps its text's kind (5 is an int, 5.0 a float); a value built in .NET
    /// keeps its type's kind (JsonValue.Create(2.0) is a float even though it serialises as "2").
    /// </summary>
    private static object Number(JsonValue value)
    {
        if (!value.TryGetValue(out JsonElement _))
        {
            if (value.TryGetValue(out double d)) return d;
            if (value.TryGetValue(out float f)) return (double)f;
            if (value.TryGetValue(out decimal m)) return (double)m;
        }
        string raw = value.ToJsonString();
        if (raw.AsSpan().IndexOfAny(".eE") < 0 && long.TryParse(raw, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long l)) return l;
        return double.Parse(raw, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>JSON as Python's json.loads gives it: integers stay integers, other numbers are floats.</summary>
    public static object? FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
            {
                var dict = new PyDict();
                foreach (var kv in obj) dict.Set(kv.Key, FromJson(kv.Value));
                return dict;
            }
            case JsonArray array:
                return new PyList(array.Select(FromJson).ToList());
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        return value.TryGetValue(out string? text) ? text : System.Text.Json.JsonSerializer.Deserialize<string>(value.ToJsonString());
                    case JsonValueKind.True: return true;
                    case JsonValueKind.False: return false;
                    case JsonValueKind.Number:
                        return Number(value);
                    default: return null;
                }
            default:
                throw new JinjaError("unsupported JSON value");
        }
    }
}
