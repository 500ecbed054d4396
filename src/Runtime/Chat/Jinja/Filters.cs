using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

/// <summary>Jinja's built-in filters that chat templates use, with Jinja 3.1's semantics; tojson is transformers'.</summary>
internal static class Filters
{
    public static object? Apply(Renderer r, FilterCall filter, object? value, Scope scope)
    {
        var args = r.EvalArgs(filter.Args, filter.Kwargs, scope);
        try
        {
            return Call(r, filter.Name, value, args);
        }
        catch (InvalidOperationException e) when (e.InnerException is JinjaError inner)
        {
            // A sort's comparer threw (unorderable items); LINQ wraps the error.
            throw inner;
        }
    }

    private static string Text(object? v) => PyFormat.Str(v);

    public static object? Call(Renderer r, string name, object? value, CallArgs a)
    {
        switch (name)
        {
            case "trim":
                return StringMethods.Strip(Text(value), a.Get(0, "chars"), true, true);
            case "length":
            case "count":
                return PyOps.Length(value);
            case "join":
            {
                string sep = Text(a.Get(0, "d", ""));
                var items = r.Iterate(value);
                var attribute = a.Get(1, "attribute");
                var sb = new StringBuilder();
                for (int i = 0; i < items.Count; i++)
                {
                    if (i > 0) sb.Append(sep);
                    var item = attribute is null ? items[i] : AttributePath(r, items[i], attribute);
                    sb.Append(Text(item));
                    r.CheckLength(sb.Length);
                }
                return sb.ToString();
            }
            case "default":
            case "d":
            {
                var fallback = a.Get(0, "default_value", "");
                bool boolean = PyOps.Truthy(a.Get(1, "boolean", false));
                if (value is Undefined || (boolean && !PyOps.Truthy(value))) return fallback;
                return value;
            }
            case "items":
                if (value is Undefined) return new PyList([]);
                if (value is PyDict d) return CollectionMethods.CallDict(d, "items", CallArgs.Empty);
                throw new JinjaError($"can only get item pairs from a mapping, not {PyOps.TypeName(value)}");
            case "selectattr":
            case "rejectattr":
                return SelectOrReject(r, value, a, name == "selectattr", byAttribute: true);
            case "select":
            case "reject":
                return SelectOrReject(r, value, a, name == "select", byAttribute: false);
            case "map":
                return Map(r, value, a);
            case "first":
            {
                var items = r.Iterate(value);
                return items.Count > 0 ? items[0] : new Undefined("no first item, sequence was empty");
            }
            case "last":
            {
                var items = r.Iterate(value);
                return items.Count > 0 ? items[^1] : new Undefined("no last item, sequence was empty");
            }
            case "list":
                return new PyList([.. r.Iterate(value)]);
            case "string":
                return Text(value);
            case "safe":
                return value;
            case "tojson":
                return ToJson(r, value, a);
            case "lower":
                return Text(value).ToLowerInvariant();
            case "upper":
                return Text(value).ToUpperInvariant();
            case "capitalize":
                return StringMethods.Capitalize(Text(value));
            case "title":
                return JinjaTitle(Text(value));
            case "replace":
            {
                var count = a.Get(2, "count");
                return StringMethods.Replace(r, Text(value), Text(a.Get(0, "old")), Text(a.Get(1, "new")), count is null ? -1 : PyOps.ToIndex(count, "count"));
            }
            case "reverse":
                if (value is string s) return string.Concat(Enumerable.Reverse(PyOps.CodePoints(s)));
                return new PyList(Enumerable.Reverse(r.Iterate(value)).ToList());
            case "sort":
                return Sort(r, value, a);
            case "unique":
            {
                var seen = new List<object?>();
                foreach (var item in r.Iterate(value))
                {
                    var key = a.Get(1, "attribute") is { } attr ? AttributePath(r, item, attr) : item;
                    if (!PyOps.Truthy(a.Get(0, "case_sensitive", false)) && key is string ks) key = ks.ToLowerInvariant();
                    if (!seen.Any(x => PyOps.Equal(x is string xs && !PyOps.Truthy(a.Get(0, "case_sensitive", false)) ? xs.ToLowerInvariant() : x, key))) seen.Add(item);
                }
                return new PyList(seen);
            }
            case "round":
                return Round(value, a);
            case "abs":
                return value switch
                {
                    long l => l == long.MinValue ? throw new JinjaError("integer overflow") : (object)Math.Abs(l),
                    double dv => (object)Math.Abs(dv),
                    bool b => (object)(b ? 1L : 0L),
                    _ => throw new JinjaError($"bad operand type for abs(): '{PyOps.TypeName(value)}'"),
                };
            case "int":
                return ToInt(value, a);
            case "float":
                return ToFloat(value, a);
            case "wordcount":
                return (long)StringMethods.Split(Text(value), null, -1, false).Count;
            case "dictsort":
                return DictSort(r, value, a);
            case "indent":
                return Indent(Text(value), a);
            case "sum":
            {
                object? total = a.Get(1, "start", 0L);
                var attribute = a.Get(0, "attribute");
                foreach (var item in r.Iterate(value)) total = PyOps.Add(total, attribute is null ? item : AttributePath(r, item, attribute), r);
                return total;
            }
            case "min":
            case "max":
            {
                var items = r.Iterate(value);
                if (items.Count == 0) return new Undefined($"no {name} item, sequence was empty");
                var best = items[0];
                foreach (var item in items.Skip(1))
                {
                    int c = PyOps.Compare(item, best, "<");
                    if (name == "min" ? c < 0 : c > 0) best = item;
                }
                return best;
            }
            case "batch":
            {
                long size = PyOps.ToIndex(a.Get(0, "linecount"), "batch");
                if (size <= 0) throw new JinjaError("batch size must be positive");
                var fill = a.Has(1, "fill_with") ? a.Get(1, "fill_with") : null;
                bool doFill = a.Has(1, "fill_with");
                var result = new List<object?>();
                var current = new List<object?>();
                foreach (var item in r.Iterate(value))
                {
                    current.Add(item);
                    if (current.Count == size) { result.Add(new PyList(current)); current = []; }
                }
                if (current.Count > 0)
                {
                    if (doFill) while (current.Count < size) current.Add(fill);
                    result.Add(new PyList(current));
                }
                return new PyList(result);
            }
            case "attr":
                return Attributes.GetAttr(r, value, Text(a.Get(0, "name")));
            case "center":
                return StringMethods.Call(r, Text(value), "center", new CallArgs([a.Get(0, "width", 80L)], []));
            default:
                throw new JinjaError($"no filter named '{name}'");
        }
    }

    /// <summary>transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).</summary>
    private static string ToJson(Renderer r, object? value, CallArgs a)
    {
        bool ensureAscii = PyOps.Truthy(a.Get(0, "ensure_ascii", false));
        var indentArg = a.Get(1, "indent");
        string? indent = indentArg switch
        {
            null => null,
            string s => s,
            long n => new string(' ', (int)Math.Clamp(n, 0, 1000)),
            bool b => b ? " " : "",
            _ => throw new JinjaError($"tojson: indent must be an integer or a string, not {PyOps.TypeName(indentArg)}"),
        };
        string itemSep = indent is null ? ", " : ",", keySep = ": ";
        if (a.Get(2, "separators") is { } separators)
        {
            var parts = r.Iterate(separators);
            if (parts.Count != 2 || parts[0] is not string i || parts[1] is not string k) throw new JinjaError("tojson: separators must be a pair of strings");
            (itemSep, keySep) = (i, k);
        }
        bool sortKeys = PyOps.Truthy(a.Get(3, "sort_keys", false));
        if (value is Undefined) throw new JinjaError("Object of type Undefined is not JSON serializable");
        return PyJson.Dumps(value, ensureAscii, indent, itemSep, keySep, sortKeys, r);
    }

    /// <summary>Jinja's title filter (not str.title): words split at whitespace and -({[&lt;, first letter up, rest down.</summary>
    private static string JinjaTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool wordStart = true;
        foreach (char c in s)
        {
            bool separator = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            if (separator) { sb.Append(c); wordStart = true; }
            else if (wordStart) { sb.Append(char.ToUpperInvariant(c)); wordStart = false; }
            else sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>Jinja's attribute path for selectattr/map/sort/...: "a.b.0" is getitem per part.</summary>
    private static object? AttributePath(Renderer r, object? item, object? attribute)
    {
        if (attribute is long or bool) return Attributes.GetItem(r, item, attribute);
        foreach (var part in Text(attribute).Split('.'))
        {
            object key = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long index) ? index : part;
            item = Attributes.GetItem(r, item, key);
            if (item is Undefined) return item;
        }
        return item;
    }

    private static PyList SelectOrReject(Renderer r, object? value, CallArgs a, bool select, bool byAttribute)
    {
        int testAt = byAttribute ? 1 : 0;
        var attribute = byAttribute ? a.Get(0, "attribute") : null;
        string? test = a.Positional.Count > testAt ? Text(a.Positional[testAt]) : null;
        var testArgs = a.Positional.Skip(testAt + 1).ToList();
        var kept = new List<object?>();
        foreach (var item in r.Iterate(value))
        {
            r.Step();
            var subject = byAttribute ? AttributePath(r, item, attribute) : item;
            bool ok = test is null ? PyOps.Truthy(subject) : Tests.Apply(r, test, subject, testArgs);
            if (ok == select) kept.Add(item);
        }
        return new PyList(kept);
    }

    private static PyList Map(Renderer r, object? value, CallArgs a)
    {
        var items = r.Iterate(value);
        var result = new List<object?>(items.Count);
        if (a.Positional.Count == 0 && a.Keyword.Any(k => k.Key == "attribute"))
        {
            var attribute = a.Get(-1, "attribute");
            bool hasDefault = a.Keyword.Any(k => k.Key == "default");
            var fallback = a.Get(-1, "default");
            foreach (var item in items)
            {
                var v = AttributePath(r, item, attribute);
                result.Add(v is Undefined && hasDefault ? fallback : v);
            }
            return new PyList(result);
        }
        if (a.Positional.Count == 0) throw new JinjaError("map requires a filter name or attribute=");
        string filter = Text(a.Positional[0]);
        var rest = new CallArgs(a.Positional.Skip(1).ToList(), a.Keyword);
        foreach (var item in items)
        {
            r.Step();
            result.Add(Call(r, filter, item, rest));
        }
        return new PyList(result);
    }

    private static PyList Sort(Renderer r, object? value, CallArgs a)
    {
        bool reverse = PyOps.Truthy(a.Get(0, "reverse", false));
        bool caseSensitive = PyOps.Truthy(a.Get(1, "case_sensitive", false));
        var attribute = a.Get(2, "attribute");
        var items = r.Iterate(value).ToList();
        object? Key(object? item)
        {
            var k = attribute is null ? item : AttributePath(r, item, attribute);
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        }
        // Python's sort is stable; OrderBy is too.
        var keyed = items.Select(i => (Item: i, Key: Key(i))).ToList();
        var comparer = Comparer<object?>.Create((x, y) => PyOps.Compare(x, y, "<"));
        var sorted = reverse ? keyed.OrderByDescending(p => p.Key, comparer) : keyed.OrderBy(p => p.Key, comparer);
        return new PyList(sorted.Select(p => p.Item).ToList());
    }

    private static PyList DictSort(Renderer r, object? value, CallArgs a)
    {
        if (value is not PyDict d) throw new JinjaError("dictsort needs a mapping");
        bool caseSensitive = PyOps.Truthy(a.Get(0, "case_sensitive", false));
        string by = Text(a.Get(1, "by", "key"));
        bool reverse = PyOps.Truthy(a.Get(2, "reverse", false));
        int pos = by switch { "key" => 0, "value" => 1, _ => throw new JinjaError("You can only sort by either \"key\" or \"value\"") };
        var pairs = d.Entries.Select(e => new PyList([e.Key, e.Value], isTuple: true)).ToList();
        object? Key(PyList p) => !caseSensitive && p.Items[pos] is string s ? s.ToLowerInvariant() : p.Items[pos];
        var comparer = Comparer<object?>.Create((x, y) => PyOps.Compare(x, y, "<"));
        var sorted = reverse ? pairs.OrderByDescending(Key, comparer) : pairs.OrderBy(Key, comparer);
        return new PyList(sorted.Select(p => (object?)p).ToList());
    }

    private static object? Round(object? value, CallArgs a)
    {
        long precision = PyOps.ToIndex(a.Get(0, "precision", 0L), "precision");
        string method = Text(a.Get(1, "method", "common"));
        if (value is long or bool && method == "common" && precision >= 0) return value is bool b ? (b ? 1L : 0L) : value;
        double v = PyOps.ToDouble(value);
        double factor = Math.Pow(10, precision);
        double result = method switch
        {
            "common" => Math.Round(v, (int)Math.Clamp(precision, 0, 15), MidpointRounding.ToEven),
            "ceil" => Math.Ceiling(v * factor) / factor,
            "floor" => Math.Floor(v * factor) / factor,
            _ => throw new JinjaError("method must be 'common', 'ceil' or 'floor'"),
        };
        return result;
    }

    private static object? ToInt(object? value, CallArgs a)
    {
        var fallback = a.Get(0, "default", 0L);
        long numberBase = PyOps.ToIndex(a.Get(1, "base", 10L), "base");
        switch (value)
        {
            case long l: return l;
            case bool b: return b ? 1L : 0L;
            case double d: return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
            {
                string t = s.Trim().Replace("_", "", StringComparison.Ordinal);
                try
                {
                    if (numberBase == 10)
                    {
                        if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)) return (long)Math.Truncate(d);
                        return fallback;
                    }
                    return Convert.ToInt64(t, (int)numberBase);
                }
                catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
                {
                    return fallback;
                }
            }
            default: return fallback;
        }
    }

    private static object? ToFloat(object? value, CallArgs a)
    {
        var fallback = a.Get(0, "default", 0.0);
        return value switch
        {
            long l => (double)l,
            bool b => b ? 1.0 : 0.0,
            double d => d,
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
            _ => fallback,
        };
    }

    /// <summary>Jinja 3.1's indent(s, width=4, first=False, blank=False), with its splitlines quirk.</summary>
    private static string Indent(string s, CallArgs a)
    {
        var width = a.Get(0, "width", 4L);
        string indention = width is string w ? w : new string(' ', (int)Math.Clamp(PyOps.ToIndex(width, "width"), 0, 10000));
        bool first = PyOps.Truthy(a.Get(1, "first", false));
        bool blank = PyOps.Truthy(a.Get(2, "blank", false));
        s += "\n";
        string rv;
        var lines = StringMethods.SplitLines(s, keepEnds: false);
        if (blank) rv = string.Join("\n" + indention, lines);
        else
        {
            rv = lines[0];
            if (lines.Count > 1) rv += "\n" + string.Join("\n", lines.Skip(1).Select(line => line.Length > 0 ? indention + line : line));
        }
        if (first) rv = indention + rv;
        return rv;
    }
}
